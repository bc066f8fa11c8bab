"""Reversible tokenization: typed, consistent surrogates kept in an encrypted vault.

``vault.tokenize(conversation, text, findings)`` replaces each finding with a
surrogate: ``[NAME_1]``, ``[DATE_2]``... (the default) or, with
``surrogates="fake"``, a realistic format-preserving fake (``Avery Lindqvist``,
``(555) 014-2231``). The same value gets the same surrogate for the whole
conversation. The mapping is encrypted with AES-256-GCM under a data key of its
own (one per conversation, from the kernel keyring) and stored in the
``detect_vault`` table, or in Redis when ``redis_url`` is configured. It expires
``ttl`` after its last use; ``shred`` destroys the data key (``keys.shredded``
in the ledger), after which nothing can restore the values.

``vault.detokenize(conversation, text)`` restores the values;
``vault.detokenizer(conversation)`` does the same over a stream, holding back a
partial surrogate that a chunk boundary cut in two.

The ledger gets ``detect.phi_tokenized`` with counts by type, never a value;
conversations are named in the ledger and the table by a SHA-256 of their id.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from sqlalchemy import delete, insert, select, update

from vallum.clock import format_time, now_text, parse_time, utcnow
from vallum.context import Context
from vallum.detect.redaction import non_overlapping
from vallum.detect.surrogates import fake_value
from vallum.detect.types import Finding
from vallum.errors import KeyDestroyedError, NotFoundError, UsageError
from vallum.store.models_detect import DetectVault

__all__ = ["DEFAULT_TTL", "Detokenizer", "Vault"]

DEFAULT_TTL = dt.timedelta(hours=24)
TOKEN = re.compile(r"\[([A-Z][A-Z0-9_]*?)_(\d+)\]")
_PARTIAL = re.compile(r"\[[A-Z0-9_]{0,40}$")
Surrogates = Literal["token", "fake"]


@dataclass
class _Mapping:
    key_id: str
    forward: dict[str, str] = field(default_factory=dict)  # "TYPE\x00value" -> surrogate
    reverse: dict[str, str] = field(default_factory=dict)  # surrogate -> value
    counters: dict[str, int] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        doc = {"f": self.forward, "r": self.reverse, "c": self.counters}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, key_id: str, raw: bytes) -> _Mapping:
        doc = json.loads(raw)
        return cls(key_id, dict(doc["f"]), dict(doc["r"]), dict(doc["c"]))


class _Store(Protocol):
    def get(self, conv: str) -> tuple[str, bytes, dt.datetime] | None: ...
    def put(self, conv: str, key_id: str, blob: bytes, expires: dt.datetime) -> None: ...
    def delete(self, conv: str) -> None: ...
    def expired(self, now: dt.datetime) -> list[tuple[str, str]]: ...


class _SqlStore:
    def __init__(self, ctx: Context) -> None:
        self.engine = ctx.engine

    def get(self, conv: str) -> tuple[str, bytes, dt.datetime] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(DetectVault).where(DetectVault.conversation == conv)).first()
        if row is None:
            return None
        return row.data_key_id, row.mapping, parse_time(row.expires_at)

    def put(self, conv: str, key_id: str, blob: bytes, expires: dt.datetime) -> None:
        now = now_text()
        values = {"data_key_id": key_id, "mapping": blob, "updated_at": now}
        with self.engine.begin() as conn:
            done = conn.execute(
                update(DetectVault)
                .where(DetectVault.conversation == conv)
                .values(**values, expires_at=format_time(expires))
            ).rowcount
            if not done:
                conn.execute(
                    insert(DetectVault).values(
                        conversation=conv,
                        created_at=now,
                        expires_at=format_time(expires),
                        **values,
                    )
                )

    def delete(self, conv: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(DetectVault).where(DetectVault.conversation == conv))

    def expired(self, now: dt.datetime) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(DetectVault.conversation, DetectVault.data_key_id).where(
                    DetectVault.expires_at < format_time(now)
                )
            ).all()
        return [(r[0], r[1]) for r in rows]


class _RedisStore:
    """Ciphertext in Redis (expiring with ``PEXPIREAT``); data keys stay in the keyring."""

    PREFIX = "vallum:detect:vault:"

    def __init__(self, url: str) -> None:
        from vallum.store.redis import client

        self.redis = client(url)

    def get(self, conv: str) -> tuple[str, bytes, dt.datetime] | None:
        raw: dict[bytes, bytes] = self.redis.hgetall(self.PREFIX + conv)  # type: ignore[assignment]
        if not raw:
            return None
        expires = parse_time(raw[b"expires_at"].decode())
        return raw[b"data_key_id"].decode(), raw[b"mapping"], expires

    def put(self, conv: str, key_id: str, blob: bytes, expires: dt.datetime) -> None:
        key = self.PREFIX + conv
        pipe = self.redis.pipeline()
        pipe.hset(
            key,
            mapping={"data_key_id": key_id, "mapping": blob, "expires_at": format_time(expires)},
        )
        pipe.pexpireat(key, int(expires.timestamp() * 1000))
        pipe.execute()

    def delete(self, conv: str) -> None:
        self.redis.delete(self.PREFIX + conv)

    def expired(self, now: dt.datetime) -> list[tuple[str, str]]:
        return []  # Redis drops expired mappings itself


class Vault:
    """Per-conversation surrogate mappings, encrypted under per-conversation data keys."""

    def __init__(
        self,
        ctx: Context,
        *,
        ttl: dt.timedelta = DEFAULT_TTL,
        surrogates: Surrogates = "token",
        redis_url: str | None = None,
        use_redis: bool | None = None,
    ) -> None:
        if ttl <= dt.timedelta(0):
            raise UsageError("the vault ttl must be positive")
        if surrogates not in ("token", "fake"):
            raise UsageError(f"surrogates must be 'token' or 'fake', not {surrogates!r}")
        self.ctx = ctx
        self.ttl = ttl
        self.surrogates: Surrogates = surrogates
        url = redis_url
        if url is None and use_redis is not False and ctx.settings.redis_url is not None:
            url = ctx.settings.redis_url.get_secret_value()
        self._store: _Store = _RedisStore(url) if url and use_redis is not False else _SqlStore(ctx)

    # -- mapping I/O -------------------------------------------------------------
    @staticmethod
    def conversation_ref(conversation: str) -> str:
        """What the table, Redis and the ledger know a conversation by."""
        if not conversation or len(conversation) > 512:
            raise UsageError("a conversation id must be 1 to 512 characters")
        return hashlib.sha256(conversation.encode()).hexdigest()

    @staticmethod
    def _aad(ref: str) -> bytes:
        return b"detect.vault:" + ref.encode()

    def _load(self, ref: str, *, create: bool) -> _Mapping | None:
        got = self._store.get(ref)
        if got is not None:
            key_id, blob, expires = got
            if expires <= utcnow():
                self._destroy(ref, key_id, "vault expired")
                got = None
            else:
                try:
                    raw = self.ctx.keyring.decrypt(blob, self._aad(ref))
                except KeyDestroyedError:
                    self._store.delete(ref)
                    got = None
                else:
                    return _Mapping.from_bytes(key_id, raw)
        if not create:
            return None
        return _Mapping(self.ctx.keyring.new_data_key(f"detect:vault:{ref[:16]}"))

    def _save(self, ref: str, mapping: _Mapping) -> None:
        blob = self.ctx.keyring.encrypt(mapping.to_bytes(), mapping.key_id, self._aad(ref))
        self._store.put(ref, mapping.key_id, blob, utcnow() + self.ttl)

    def _destroy(self, ref: str, key_id: str, reason: str) -> None:
        self._store.delete(ref)
        with contextlib.suppress(NotFoundError):
            self.ctx.keyring.shred(key_id, record=self.ctx.record, reason=reason)

    # -- surrogates --------------------------------------------------------------
    def _surrogate(self, mapping: _Mapping, typ: str, value: str) -> str:
        key = f"{typ}\x00{value}"
        got = mapping.forward.get(key)
        if got is not None:
            return got
        n = mapping.counters.get(typ, 0) + 1
        mapping.counters[typ] = n
        if self.surrogates == "fake":
            secret = self.ctx.keyring.data_key(mapping.key_id)
            attempt = 0
            while True:
                seed = hmac.new(secret, f"{key}\x00{attempt}".encode(), hashlib.sha256).digest()
                surrogate = fake_value(typ, value, seed)
                if surrogate not in mapping.reverse and surrogate != value:
                    break
                attempt += 1
                if attempt > 20:
                    surrogate = f"[{typ}_{n}]"
                    break
        else:
            surrogate = f"[{typ}_{n}]"
        mapping.forward[key] = surrogate
        mapping.reverse[surrogate] = value
        return surrogate

    # -- public ------------------------------------------------------------------
    def tokenize(self, conversation: str, text: str, findings: Sequence[Finding]) -> str:
        """``text`` with each finding replaced by its conversation-wide surrogate."""
        ref = self.conversation_ref(conversation)
        kept = non_overlapping(findings)
        mapping = self._load(ref, create=True)
        assert mapping is not None  # noqa: S101 - create=True always returns one
        out: list[str] = []
        pos = 0
        counts: dict[str, int] = {}
        for f in kept:
            if f.start < 0 or f.end > len(text):
                raise UsageError(f"finding {f.type} [{f.start}:{f.end}] is outside the text")
            out.append(text[pos : f.start])
            out.append(self._surrogate(mapping, f.type, text[f.start : f.end]))
            counts[f.type] = counts.get(f.type, 0) + 1
            pos = f.end
        out.append(text[pos:])
        self._save(ref, mapping)
        if counts:
            self.ctx.record(
                "detect.phi_tokenized",
                f"conversation:{ref[:16]}",
                data={"counts": dict(sorted(counts.items())), "total": sum(counts.values())},
            )
        return "".join(out)

    def _mapping_for_restore(self, conversation: str) -> _Mapping:
        ref = self.conversation_ref(conversation)
        mapping = self._load(ref, create=False)
        if mapping is None:
            raise NotFoundError(
                "no token vault for this conversation (never tokenized, expired or shredded)"
            )
        self._save(ref, mapping)  # use extends the expiry
        return mapping

    def detokenize(self, conversation: str, text: str) -> str:
        """``text`` with every known surrogate of ``conversation`` restored."""
        return _restore(text, self._mapping_for_restore(conversation).reverse)

    def detokenizer(self, conversation: str) -> Detokenizer:
        """A streaming restorer for this conversation's surrogates."""
        return Detokenizer(self._mapping_for_restore(conversation).reverse)

    def shred(self, conversation: str) -> None:
        """Destroy the conversation's data key and mapping (idempotent)."""
        ref = self.conversation_ref(conversation)
        got = self._store.get(ref)
        if got is not None:
            self._destroy(ref, got[0], "vault shredded on request")

    def purge_expired(self) -> int:
        """Shred every expired mapping; returns how many."""
        gone = self._store.expired(utcnow())
        for ref, key_id in gone:
            self._destroy(ref, key_id, "vault expired")
        return len(gone)


def _restore(text: str, reverse: dict[str, str]) -> str:
    if not reverse:
        return text
    if all(s.startswith("[") for s in reverse):
        return TOKEN.sub(lambda m: reverse.get(m.group(0), m.group(0)), text)
    pattern = re.compile("|".join(re.escape(s) for s in sorted(reverse, key=len, reverse=True)))
    return pattern.sub(lambda m: reverse[m.group(0)], text)


class Detokenizer:
    """Restore surrogates in a stream; ``feed`` returns what is safe to emit now."""

    def __init__(self, reverse: dict[str, str]) -> None:
        self._reverse = dict(reverse)
        self._buffer = ""
        self._fakes = [s for s in self._reverse if not s.startswith("[")]
        self._hold = max((len(s) for s in self._fakes), default=1) - 1

    def _cut(self) -> int:
        buf = self._buffer
        cut = len(buf)
        m = _PARTIAL.search(buf)
        if m is not None:
            cut = m.start()
        if self._fakes:
            cut = min(cut, max(0, len(buf) - self._hold))
            for s in self._fakes:  # never split a fake that spans the cut
                start = buf.find(s, max(0, cut - len(s) + 1))
                if start != -1 and start < cut < start + len(s):
                    cut = start
        return cut

    def feed(self, chunk: str) -> str:
        self._buffer += chunk
        cut = self._cut()
        ready, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return _restore(ready, self._reverse)

    def close(self) -> str:
        ready, self._buffer = self._buffer, ""
        return _restore(ready, self._reverse)
