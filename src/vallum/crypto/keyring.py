"""Envelope encryption: AES-256-GCM data keys wrapped by the master key.

Each data key is a row in ``data_keys`` holding only its wrapped form. Encrypting
a field gives ``b"\\x01" + key id (16 bytes) + nonce (12) + ciphertext+tag``; the
caller's associated data binds the ciphertext to where it is stored. Rotating the
master key re-wraps every data key and re-encrypts no data. Shredding a data key
erases its wrapped form, so every copy of its data becomes unrecoverable once no
backup of the database still holds the wrapped key under a live master key:
rotate the master key after shredding to close that window (docs/encryption.md).
"""

from __future__ import annotations

import os
import secrets
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine, insert, select, update

from vallum.clock import now_text
from vallum.crypto.providers import KEY_BYTES, NONCE_BYTES, KeyProvider
from vallum.errors import IntegrityError, KeyDestroyedError, NotFoundError, UsageError
from vallum.store.models import DataKey, SealedValue

FIELD_VERSION = b"\x01"
#: Keys the installation cannot live without; ``shred`` refuses them.
PROTECTED_PURPOSES = frozenset({"sealed:ledger.signing_key"})
_HEADER = 1 + 16 + NONCE_BYTES


class Recorder(Protocol):
    """Where the keyring records what it did (the ledger, wired by the Context)."""

    def __call__(
        self, action: str, subject: str, *, outcome: str = "success", data: dict[str, object]
    ) -> int: ...


@dataclass(frozen=True, slots=True)
class DataKeyInfo:
    """What may be shown about a data key: never the key itself."""

    id: str
    purpose: str
    master_key_id: str | None
    created_at: str
    destroyed_at: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "id": self.id,
            "purpose": self.purpose,
            "master_key_id": self.master_key_id,
            "created_at": self.created_at,
            "destroyed_at": self.destroyed_at,
        }


@dataclass(frozen=True, slots=True)
class RotationResult:
    new_master_key_id: str
    rewrapped: int
    retired: tuple[str, ...]


def _aad_for_key(key_id: str) -> bytes:
    return b"vallum-data-key:" + key_id.encode("ascii")


class Keyring:
    """Data keys, field encryption and the small sealed-value vault."""

    def __init__(self, engine: Engine, provider: KeyProvider) -> None:
        self._engine = engine
        self._provider = provider
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # -- data keys -------------------------------------------------------
    def new_key_material(self) -> tuple[str, bytes]:
        """A fresh (id, key) pair, not yet stored; see ``store_data_key``."""
        return uuid.uuid4().hex, secrets.token_bytes(KEY_BYTES)

    def store_data_key(self, key_id: str, key: bytes, purpose: str) -> None:
        with self._engine.begin() as conn:
            self.insert_data_key(conn, key_id, key, purpose)

    def insert_data_key(self, conn: Connection, key_id: str, key: bytes, purpose: str) -> None:
        """Wrap and insert a data key inside the caller's transaction."""
        master_id, wrapped = self._provider.wrap(key, _aad_for_key(key_id))
        conn.execute(
            insert(DataKey).values(
                id=key_id,
                purpose=purpose,
                wrapped=wrapped,
                master_key_id=master_id,
                created_at=now_text(),
                destroyed_at=None,
            )
        )
        with self._lock:
            self._cache[key_id] = key

    def new_data_key(self, purpose: str) -> str:
        """Create and store a data key; returns its id."""
        key_id, key = self.new_key_material()
        self.store_data_key(key_id, key, purpose)
        return key_id

    def data_key(self, key_id: str) -> bytes:
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        with self._engine.connect() as conn:
            row = conn.execute(select(DataKey).where(DataKey.id == key_id)).first()
        if row is None:
            raise NotFoundError(f"data key {key_id} does not exist")
        if row.wrapped is None or row.master_key_id is None:
            raise KeyDestroyedError(
                f"data key {key_id} was destroyed at {row.destroyed_at}; its data is gone"
            )
        key = self._provider.unwrap(row.master_key_id, row.wrapped, _aad_for_key(key_id))
        with self._lock:
            self._cache[key_id] = key
        return key

    def shred(self, key_id: str, record: Recorder | None = None, reason: str = "") -> None:
        """Destroy a data key: every ciphertext under it becomes unrecoverable."""
        with self._engine.begin() as conn:
            row = conn.execute(select(DataKey).where(DataKey.id == key_id)).first()
            if row is None:
                raise NotFoundError(f"data key {key_id} does not exist")
            if row.purpose in PROTECTED_PURPOSES:
                raise UsageError(
                    f"data key {key_id} protects {row.purpose.split(':', 1)[1]}; "
                    "destroying it would make this installation unusable"
                )
            # Shredding twice keeps the first destruction time.
            conn.execute(
                update(DataKey)
                .where(DataKey.id == key_id, DataKey.wrapped.is_not(None))
                .values(wrapped=None, master_key_id=None, destroyed_at=now_text())
            )
        with self._lock:
            self._cache.pop(key_id, None)
        if record is not None:
            record(
                "keys.shredded",
                f"data_key:{key_id}",
                data={"purpose": row.purpose, "reason": reason[:200]},
            )

    def rotate_master(self, record: Recorder | None = None) -> RotationResult:
        """New master key; re-wrap every live data key under it; retire the old ones."""
        new_id = self._provider.rotate()
        count = 0
        with self._engine.begin() as conn:
            rows = conn.execute(
                select(DataKey.id, DataKey.wrapped, DataKey.master_key_id).where(
                    DataKey.wrapped.is_not(None), DataKey.master_key_id != new_id
                )
            ).all()
            for key_id, wrapped, master_id in rows:
                if wrapped is None or master_id is None:
                    continue
                key = self._provider.unwrap(master_id, wrapped, _aad_for_key(key_id))
                mid, rewrapped = self._provider.wrap(key, _aad_for_key(key_id))
                conn.execute(
                    update(DataKey)
                    .where(DataKey.id == key_id)
                    .values(wrapped=rewrapped, master_key_id=mid)
                )
                count += 1
        # Only after the database committed: a crash before here leaves both keys
        # in the file, and running rotate again finishes the job. Retire every
        # master key no live data key uses any more, not only those this run
        # re-wrapped from, so keys left behind by an interrupted rotation go too.
        with self._engine.connect() as conn:
            in_use = set(
                conn.execute(
                    select(DataKey.master_key_id).where(DataKey.wrapped.is_not(None)).distinct()
                ).scalars()
            )
        old_ids = {k for k in self._provider.key_ids() if k != new_id and k not in in_use}
        self._provider.retire(old_ids)
        result = RotationResult(new_id, count, tuple(sorted(old_ids)))
        if record is not None:
            record(
                "keys.rotated",
                f"master_key:{new_id}",
                data={"rewrapped": count, "retired": list(result.retired)},
            )
        return result

    # -- fields ----------------------------------------------------------
    def encrypt(self, plaintext: bytes, key_id: str, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        ct = AESGCM(self.data_key(key_id)).encrypt(nonce, plaintext, aad)
        return FIELD_VERSION + uuid.UUID(hex=key_id).bytes + nonce + ct

    @staticmethod
    def key_id_of(ciphertext: bytes) -> str:
        if len(ciphertext) < _HEADER + 16 or ciphertext[:1] != FIELD_VERSION:
            raise IntegrityError("encrypted value is malformed")
        return uuid.UUID(bytes=ciphertext[1:17]).hex

    def decrypt(self, ciphertext: bytes, aad: bytes) -> bytes:
        key_id = self.key_id_of(ciphertext)
        nonce = ciphertext[17:_HEADER]
        try:
            key = self.data_key(key_id)
        except NotFoundError:
            # The id comes from the stored bytes: naming no key is corruption.
            raise IntegrityError(
                f"encrypted value names data key {key_id}, which does not exist"
            ) from None
        try:
            return AESGCM(key).decrypt(nonce, ciphertext[_HEADER:], aad)
        except InvalidTag as exc:
            raise IntegrityError("encrypted value failed authentication (tampered?)") from exc

    # -- sealed values (a small vault of named secrets) -------------------
    def seal(self, name: str, plaintext: bytes) -> None:
        """Store ``plaintext`` under ``name``, encrypted with its own data key."""
        key_id = self.new_data_key(f"sealed:{name}")
        ct = self.encrypt(plaintext, key_id, b"sealed:" + name.encode())
        with self._engine.begin() as conn:
            old = conn.execute(
                select(SealedValue.data_key_id).where(SealedValue.name == name)
            ).scalar()
            if old is None:
                conn.execute(
                    insert(SealedValue).values(
                        name=name, ciphertext=ct, data_key_id=key_id, updated_at=now_text()
                    )
                )
            else:
                conn.execute(
                    update(SealedValue)
                    .where(SealedValue.name == name)
                    .values(ciphertext=ct, data_key_id=key_id, updated_at=now_text())
                )
        if old is not None:
            self.shred(old)

    def unseal(self, name: str) -> bytes:
        with self._engine.connect() as conn:
            ct = conn.execute(
                select(SealedValue.ciphertext).where(SealedValue.name == name)
            ).scalar()
        if ct is None:
            raise NotFoundError(f"no sealed value named {name!r}")
        return self.decrypt(ct, b"sealed:" + name.encode())

    def describe(self, *, include_destroyed: bool = False) -> list[DataKeyInfo]:
        stmt = select(
            DataKey.id,
            DataKey.purpose,
            DataKey.master_key_id,
            DataKey.created_at,
            DataKey.destroyed_at,
        ).order_by(DataKey.created_at, DataKey.id)
        if not include_destroyed:
            stmt = stmt.where(DataKey.wrapped.is_not(None))
        with self._engine.connect() as conn:
            return [DataKeyInfo(*row) for row in conn.execute(stmt)]

    def live_key_ids(self) -> Iterable[str]:
        with self._engine.connect() as conn:
            return [
                r[0] for r in conn.execute(select(DataKey.id).where(DataKey.wrapped.is_not(None)))
            ]
