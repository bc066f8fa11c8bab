"""Vendors, routes and guard policies as frozen values (what the hot path reads).

These are built from the database by :mod:`vallum.gateway.config` and held in
memory by every worker; nothing here touches the database.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from vallum.detect.types import Action
from vallum.errors import UsageError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
REGION_RE = re.compile(r"^[a-z0-9-]{2,32}$")
#: Every guard a route configures; injection is input-only, leak output-only.
GUARDS = ("phi", "injection", "secrets", "leak")
OFF = "off"
DATA_CLASSES = frozenset({"public", "pii", "phi", "secrets"})


class VendorKind(enum.StrEnum):
    OPENAI = "openai"
    AZURE_OPENAI = "azure-openai"
    ANTHROPIC = "anthropic"
    DEMO = "demo"


class Status(enum.StrEnum):
    APPROVED = "approved"
    SUSPENDED = "suspended"


GuardMode = Action | None  # None: the guard does not run at all ("off")


def parse_mode(text: str) -> GuardMode:
    if text == OFF:
        return None
    try:
        return Action(text)
    except ValueError:
        raise UsageError(
            f"guard action {text!r} is not one of off, {', '.join(a.value for a in Action)}"
        ) from None


def mode_text(mode: GuardMode) -> str:
    return OFF if mode is None else mode.value


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """What a route does when each guard finds something."""

    phi: GuardMode = Action.TOKENIZE
    injection: GuardMode = Action.BLOCK
    secrets: GuardMode = Action.REDACT
    leak: GuardMode = Action.BLOCK

    def mode(self, guard: str) -> GuardMode:
        value: GuardMode = getattr(self, guard)
        return value

    def to_dict(self) -> dict[str, str]:
        return {g: mode_text(self.mode(g)) for g in GUARDS}

    @classmethod
    def from_dict(cls, raw: Mapping[str, str]) -> GuardPolicy:
        unknown = set(raw) - set(GUARDS)
        if unknown:
            raise UsageError(f"unknown guard(s) {sorted(unknown)}; guards are {', '.join(GUARDS)}")
        base = cls().to_dict()
        base.update(raw)
        return cls(**{g: parse_mode(base[g]) for g in GUARDS})

    @classmethod
    def all_off(cls) -> GuardPolicy:
        return cls(None, None, None, None)


@dataclass(frozen=True, slots=True)
class Vendor:
    name: str
    kind: VendorKind
    base_url: str
    baa: bool
    regions: tuple[str, ...]
    data_classes: frozenset[str]
    status: Status
    api_version: str | None = None
    credential: str | None = field(default=None, repr=False)
    """The secret in clear, in memory only (never logged, never in to_dict)."""
    credential_env: str | None = None
    has_credential: bool = False

    def may_receive(self, data_class: str) -> bool:
        """Raw data of this class may be forwarded (PHI needs a BAA as well)."""
        if data_class == "phi":
            return self.baa and "phi" in self.data_classes
        return data_class in self.data_classes

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "base_url": self.base_url,
            "baa": self.baa,
            "regions": list(self.regions),
            "data_classes": sorted(self.data_classes),
            "status": self.status.value,
            "api_version": self.api_version,
            "credential": (
                f"env:{self.credential_env}"
                if self.credential_env
                else ("stored (encrypted)" if self.has_credential else "none")
            ),
        }


@dataclass(frozen=True, slots=True)
class Target:
    vendor: str
    model: str
    weight: int

    def to_dict(self) -> dict[str, object]:
        return {"vendor": self.vendor, "model": self.model, "weight": self.weight}


@dataclass(frozen=True, slots=True)
class Route:
    alias: str
    targets: tuple[Target, ...]
    policy: GuardPolicy
    allowed_roles: frozenset[str] = frozenset()
    """Owners holding any of these roles may call the route (empty: any gateway.use key)."""
    allowed_keys: frozenset[str] = frozenset()
    """These key ids may call it too (empty and no roles: every gateway.use key)."""
    regions: frozenset[str] = frozenset()
    """Allowed data regions; empty means any. A target's vendor must serve one."""
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    canary: bool = True
    status: Status = Status.APPROVED

    def open_to_all(self) -> bool:
        return not self.allowed_roles and not self.allowed_keys

    def to_dict(self) -> dict[str, object]:
        return {
            "alias": self.alias,
            "targets": [t.to_dict() for t in self.targets],
            "policy": self.policy.to_dict(),
            "allowed_roles": sorted(self.allowed_roles),
            "allowed_keys": sorted(self.allowed_keys),
            "regions": sorted(self.regions),
            "requests_per_minute": self.requests_per_minute,
            "tokens_per_minute": self.tokens_per_minute,
            "canary": self.canary,
            "status": self.status.value,
        }


DEMO_VENDOR = Vendor(
    name="demo",
    kind=VendorKind.DEMO,
    base_url="builtin:demo",
    baa=False,
    regions=("local",),
    data_classes=frozenset({"public"}),
    status=Status.APPROVED,
)
DEMO_ROUTE = Route(alias="demo", targets=(Target("demo", "demo-echo", 100),), policy=GuardPolicy())
