"""Who is acting: the principal every ledger event names as its actor."""

from __future__ import annotations

import enum
import getpass
import re
from dataclasses import dataclass

from vallum.errors import UsageError

_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")


class PrincipalKind(enum.StrEnum):
    USER = "user"
    SERVICE = "service"
    APIKEY = "apikey"
    SYSTEM = "system"
    CLI = "cli"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    name: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise UsageError(f"principal name {self.name!r} has characters outside [A-Za-z0-9_.@-]")

    @property
    def actor(self) -> str:
        """How the principal appears in ledger events: ``kind:name``."""
        return f"{self.kind}:{self.name}"

    @classmethod
    def system(cls) -> Principal:
        return cls(PrincipalKind.SYSTEM, "vallum")

    @classmethod
    def local_operator(cls) -> Principal:
        """The OS user running the CLI on this machine (who holds the key file)."""
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
        name = re.sub(r"[^A-Za-z0-9_.@-]", "_", name)[:128] or "unknown"
        return cls(PrincipalKind.CLI, name)
