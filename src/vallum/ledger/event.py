"""Ledger events: what is recorded, and the exact bytes that are hashed.

An entry is the RFC 8785 canonical JSON of
``{action, actor, data, outcome, prev, seq, subject, time}``; its SHA-256 is the
event's ``hash`` and the next event's ``prev``, which makes the hash chain. The
Merkle leaf of the event is ``SHA-256(0x00 || entry)`` (RFC 9162).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vallum.errors import IntegrityError, UsageError
from vallum.ledger.canonical import CanonicalError, canonical_json, json_string

GENESIS = "0" * 64
ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_FIELD = {"actor": 255, "action": 128, "subject": 512}
MAX_DATA_BYTES = 64 * 1024


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Record:
    """What a caller asks the ledger to record (the ledger adds seq, time, hashes)."""

    actor: str
    action: str
    subject: str
    outcome: Outcome = Outcome.SUCCESS
    data: Mapping[str, Any] = field(default_factory=dict)

    def validated_data(self) -> str:
        """Check every field; return the canonical JSON of ``data``."""
        if not ACTION_RE.match(self.action):
            raise UsageError(f"ledger action {self.action!r} is not a dotted verb like 'a.b'")
        for name, limit in MAX_FIELD.items():
            value = getattr(self, name)
            if not isinstance(value, str) or not value or len(value) > limit:
                raise UsageError(f"ledger {name} must be a non-empty string of <= {limit} chars")
        try:
            Outcome(self.outcome)
            for name in ("actor", "subject"):
                getattr(self, name).encode("utf-8")
            text = canonical_json(dict(self.data))
        except (ValueError, CanonicalError, UnicodeEncodeError) as exc:
            raise UsageError(f"ledger event data is not canonical JSON: {exc}") from exc
        if len(text.encode("utf-8")) > MAX_DATA_BYTES:
            raise UsageError("ledger event data is larger than 64 KiB; store it as a blob")
        return text


def entry_text(
    seq: int, time: str, actor: str, action: str, subject: str, outcome: str, data: str, prev: str
) -> str:
    """The canonical entry; ``data`` is already canonical JSON text (keys sorted)."""
    return (
        f'{{"action":{json_string(action)},"actor":{json_string(actor)},"data":{data},'
        f'"outcome":{json_string(outcome)},"prev":"{prev}","seq":{seq},'
        f'"subject":{json_string(subject)},"time":"{time}"}}'
    )


def entry_hash(entry: str) -> str:
    return hashlib.sha256(entry.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    """A recorded ledger event, exactly as stored."""

    seq: int
    time: str
    actor: str
    action: str
    subject: str
    outcome: str
    data: str
    prev_hash: str
    hash: str

    def entry(self) -> str:
        return entry_text(
            self.seq,
            self.time,
            self.actor,
            self.action,
            self.subject,
            self.outcome,
            self.data,
            self.prev_hash,
        )

    def data_obj(self) -> dict[str, Any]:
        value = json.loads(self.data)
        return value if isinstance(value, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "outcome": self.outcome,
            "data": self.data_obj(),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Event:
        """Rebuild an exported event; raises IntegrityError on any malformation."""
        try:
            seq = raw["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                raise TypeError("seq")
            strs = {
                k: raw[k]
                for k in ("time", "actor", "action", "subject", "outcome", "prev_hash", "hash")
            }
            if not all(isinstance(v, str) for v in strs.values()):
                raise TypeError("field types")
            data = raw["data"]
            if not isinstance(data, dict):
                raise TypeError("data")
            return cls(seq=seq, data=canonical_json(data), **strs)
        except (KeyError, TypeError, CanonicalError) as exc:
            raise IntegrityError(f"malformed ledger event ({exc})") from None

    @classmethod
    def from_jsonl(cls, line: bytes | str) -> Event:
        try:
            raw = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"malformed ledger line ({type(exc).__name__})") from None
        if not isinstance(raw, dict):
            raise IntegrityError("malformed ledger line (not an object)")
        return cls.from_dict(raw)
