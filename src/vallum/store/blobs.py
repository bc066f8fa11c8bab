"""Content-addressed, encrypted blob store.

The address of a blob is the SHA-256 of its plaintext; what lies on disk is
ciphertext only: a header (``VLB1``, the data key id, an 8-byte nonce prefix)
then 1 MiB chunks, each AES-256-GCM sealed with a nonce of prefix || counter and
associated data saying whether it is the last chunk, so chunks cannot be
reordered, dropped or the file truncated unnoticed. Reading checks the address
against the plaintext's hash, so a blob cannot be swapped for another.

Each blob has its own data key: shredding that key makes the blob unrecoverable.
The backend is a ``BlobBackend``; the local folder is the default, an
S3-compatible backend plugs in behind the same protocol.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from vallum.clock import now_text
from vallum.crypto.keyring import Keyring, Recorder
from vallum.errors import IntegrityError, NotFoundError, UsageError
from vallum.store.engine import SQLITE_BEGIN
from vallum.store.files import atomic_write
from vallum.store.models import Blob, DataKey

MAGIC = b"VLB1"
CHUNK = 1 << 20
TAG = 16
_HEADER = len(MAGIC) + 16 + 8


class BlobBackend(Protocol):
    """Where ciphertext lives. Writes are atomic: a blob is whole or absent."""

    def write_atomic(self, address: str, chunks: Iterator[bytes]) -> None: ...

    def open(self, address: str) -> BinaryIO: ...

    def exists(self, address: str) -> bool: ...

    def delete(self, address: str) -> None: ...


class LocalFolderBackend:
    """Ciphertext under ``root/ab/cd/<address>``, written via temp file + fsync + rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, address: str) -> Path:
        return self.root / address[:2] / address[2:4] / address

    def write_atomic(self, address: str, chunks: Iterator[bytes]) -> None:
        final = self._path(address)
        final.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(final, chunks)

    def open(self, address: str) -> BinaryIO:
        try:
            return self._path(address).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {address} is missing from the blob store") from None

    def exists(self, address: str) -> bool:
        return self._path(address).is_file()

    def delete(self, address: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(address).unlink()


@dataclass(frozen=True, slots=True)
class BlobRef:
    address: str
    size: int
    created: bool


def _read_full(src: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, short only at end of stream.

    A raw stream (pipe, socket, unbuffered file, network body) may return fewer
    bytes than asked before its end; chunk boundaries must not depend on that.
    """
    buf = src.read(size)
    if len(buf) == size or not buf:
        return buf
    parts = [buf]
    have = len(buf)
    while have < size:
        more = src.read(size - have)
        if not more:
            break
        parts.append(more)
        have += len(more)
    return b"".join(parts)


def _nonce(prefix: bytes, counter: int) -> bytes:
    return prefix + struct.pack(">I", counter)


def _aad(counter: int, last: bool) -> bytes:
    return b"vallum-blob" + struct.pack(">IB", counter, 1 if last else 0)


class BlobStore:
    """Put and get blobs by content address; encryption is not optional."""

    def __init__(self, engine: Engine, keyring: Keyring, backend: BlobBackend) -> None:
        self._engine = engine
        self._keyring = keyring
        self._backend = backend

    def put_bytes(self, data: bytes, record: Recorder | None = None) -> BlobRef:
        import io

        return self.put_stream(io.BytesIO(data), record)

    def put_file(self, path: Path, record: Recorder | None = None) -> BlobRef:
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
        with fh:
            return self.put_stream(fh, record)

    def put_stream(self, src: BinaryIO, record: Recorder | None = None) -> BlobRef:
        key_id, key = self._keyring.new_key_material()
        aead = AESGCM(key)
        prefix = os.urandom(8)
        sha = hashlib.sha256()
        size = 0
        staging = f"staging-{uuid.uuid4().hex}"

        def chunks() -> Iterator[bytes]:
            nonlocal size
            yield MAGIC + uuid.UUID(hex=key_id).bytes + prefix
            counter = 0
            cur = _read_full(src, CHUNK)
            while True:
                nxt = _read_full(src, CHUNK) if len(cur) == CHUNK else b""
                last = not nxt
                sha.update(cur)
                size += len(cur)
                yield aead.encrypt(_nonce(prefix, counter), cur, _aad(counter, last))
                if last:
                    return
                counter += 1
                cur = nxt

        self._backend.write_atomic(staging, chunks())
        address = sha.hexdigest()
        try:
            created = self._claim(address, staging, key_id, key, size)
        except BaseException:
            self._backend.delete(staging)
            raise
        if not created:
            return BlobRef(address, size, created=False)
        if record is not None:
            record("blobs.stored", f"blob:{address}", data={"size": size})
        return BlobRef(address, size, created=True)

    def _claim(self, address: str, staging: str, key_id: str, key: bytes, size: int) -> bool:
        """Record the blob and move its ciphertext into place, or find it already there.

        Runs under the database write lock (BEGIN IMMEDIATE on SQLite, a row lock
        or a unique-key conflict on PostgreSQL), so two writers of the same content
        cannot leave a file sealed with one key under a row naming the other.
        Returns False when an identical, readable blob already existed.
        """
        for attempt in range(3):
            try:
                with self._engine.connect() as raw:
                    conn = raw.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
                    with conn.begin():
                        stmt = (
                            select(Blob.address, DataKey.wrapped.is_not(None).label("live"))
                            .join(DataKey, DataKey.id == Blob.data_key_id)
                            .where(Blob.address == address)
                        )
                        if self._engine.dialect.name == "postgresql":
                            stmt = stmt.with_for_update(of=Blob)
                        existing = conn.execute(stmt).first()
                        # Deduplicate only onto a readable blob: one whose key was
                        # shredded (its file may outlive the key after a crash) is
                        # stored afresh.
                        if existing is not None and existing.live and self._backend.exists(address):
                            self._backend.delete(staging)
                            return False
                        self._keyring.insert_data_key(conn, key_id, key, f"blob:{address}")
                        if existing is None:
                            conn.execute(
                                insert(Blob).values(
                                    address=address,
                                    size=size,
                                    data_key_id=key_id,
                                    created_at=now_text(),
                                )
                            )
                        else:
                            conn.execute(
                                update(Blob)
                                .where(Blob.address == address)
                                .values(data_key_id=key_id, size=size)
                            )
                        # Still inside the transaction: if the commit fails, the row
                        # keeps naming the old key and the next put stores afresh.
                        self._rename(staging, address)
                return True
            except SAIntegrityError:
                if attempt == 2:
                    raise
                continue  # another writer inserted the same address first: look again
        raise AssertionError("unreachable")  # pragma: no cover

    def _rename(self, staging: str, address: str) -> None:
        if isinstance(self._backend, LocalFolderBackend):
            src = self._backend._path(staging)
            dst = self._backend._path(address)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            return
        with self._backend.open(staging) as fh:
            self._backend.write_atomic(address, iter(lambda: fh.read(CHUNK), b""))
        self._backend.delete(staging)

    def iter_chunks(self, address: str) -> Iterator[bytes]:
        """Plaintext chunks; the address is checked against the hash at the end.

        A caller writing to a file must discard the output if this raises.
        """
        with self._engine.connect() as conn:
            row = conn.execute(select(Blob).where(Blob.address == address)).first()
        if row is None:
            raise NotFoundError(f"no blob {address}")
        key = self._keyring.data_key(row.data_key_id)
        aead = AESGCM(key)
        sha = hashlib.sha256()
        with self._backend.open(address) as fh:
            header = _read_full(fh, _HEADER)
            if len(header) != _HEADER or header[:4] != MAGIC:
                raise IntegrityError(f"blob {address} has a bad header")
            if uuid.UUID(bytes=header[4:20]).hex != row.data_key_id:
                raise IntegrityError(f"blob {address} is sealed with the wrong key")
            prefix = header[20:28]
            counter = 0
            cur = _read_full(fh, CHUNK + TAG)
            while True:
                nxt = _read_full(fh, CHUNK + TAG) if len(cur) == CHUNK + TAG else b""
                last = not nxt
                try:
                    plain = aead.decrypt(_nonce(prefix, counter), cur, _aad(counter, last))
                except InvalidTag as exc:
                    raise IntegrityError(f"blob {address} chunk {counter} was altered") from exc
                sha.update(plain)
                yield plain
                if last:
                    break
                counter += 1
                cur = nxt
        if sha.hexdigest() != address:
            raise IntegrityError(f"blob {address} does not hash to its address")

    def get_bytes(self, address: str) -> bytes:
        return b"".join(self.iter_chunks(address))

    def data_key_of(self, address: str) -> str:
        with self._engine.connect() as conn:
            key_id = conn.execute(select(Blob.data_key_id).where(Blob.address == address)).scalar()
        if key_id is None:
            raise NotFoundError(f"no blob {address}")
        return str(key_id)

    def shred(self, address: str, record: Recorder | None = None, reason: str = "") -> None:
        """Crypto-shred a blob: destroy its key, then delete its ciphertext."""
        self._keyring.shred(self.data_key_of(address), record, reason=reason or f"blob:{address}")
        self._backend.delete(address)
