"""The encrypted, content-addressed blob store."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import func, select

from tests.helpers import tamper
from tests.unit.crypto.support import (
    assert_absent,
    events_named,
    flip,
    fresh_keyring,
    key_row,
)
from vallum.context import Context
from vallum.errors import IntegrityError, KeyDestroyedError, NotFoundError, UsageError
from vallum.store.blobs import CHUNK, MAGIC, TAG, BlobStore, LocalFolderBackend
from vallum.store.models import Blob, DataKey

HEADER = len(MAGIC) + 16 + 8
MiB = 1 << 20


def _path(ctx: Context, address: str) -> Path:
    return ctx.settings.data_dir / "blobs" / address[:2] / address[2:4] / address


def _blob_files(ctx: Context) -> list[Path]:
    return sorted(p for p in (ctx.settings.data_dir / "blobs").rglob("*") if p.is_file())


def _fresh_store(ctx: Context) -> BlobStore:
    """A blob store as a freshly started process has it (no cached data keys)."""
    return BlobStore(
        ctx.engine, fresh_keyring(ctx), LocalFolderBackend(ctx.settings.data_dir / "blobs")
    )


def _integrity_error(ctx: Context, address: str) -> IntegrityError | None:
    try:
        _fresh_store(ctx).get_bytes(address)
    except IntegrityError as exc:
        return exc
    return None


def _chunks_on_disk(size: int) -> int:
    return max(1, -(-size // CHUNK))


def test_round_trip_sizes(ctx: Context) -> None:
    sizes = [0, 1, 4096, MiB - 1, MiB, MiB + 1, 3 * MiB + MiB // 2]
    for size in sizes:
        data = os.urandom(size)
        ref = ctx.blobs.put_bytes(data)
        where = f"size {size}"
        assert ref.address == hashlib.sha256(data).hexdigest(), where
        assert ref.size == size, where
        assert ref.created is True, where
        assert ctx.blobs.get_bytes(ref.address) == data, where
        assert _fresh_store(ctx).get_bytes(ref.address) == data, where
        pieces = list(ctx.blobs.iter_chunks(ref.address))
        assert all(len(p) == CHUNK for p in pieces[:-1]), where
        assert len(pieces) == _chunks_on_disk(size), where
        raw = _path(ctx, ref.address).read_bytes()
        assert raw.startswith(MAGIC), where
        assert len(raw) == HEADER + size + TAG * _chunks_on_disk(size), where
        if size >= 64:
            for offset in (0, size // 2, size - 64):
                assert data[offset : offset + 64] not in raw, where
        with ctx.engine.connect() as conn:
            row = conn.execute(select(Blob).where(Blob.address == ref.address)).one()
        assert row.size == size, where
        assert key_row(ctx.engine, row.data_key_id).purpose == f"blob:{ref.address}", where
    # No staging files left behind.
    assert len(_blob_files(ctx)) == len(sizes)


def test_same_content_is_stored_once(ctx: Context, tmp_path: Path) -> None:
    data = b"deduplicate me " * 1000
    first = ctx.blobs.put_bytes(data, ctx.record)
    second = ctx.blobs.put_bytes(data, ctx.record)
    source = tmp_path / "payload.bin"
    source.write_bytes(data)
    third = ctx.blobs.put_file(source, ctx.record)

    assert first.created is True
    assert second.created is False
    assert third.created is False
    assert first.address == second.address == third.address
    assert first.size == second.size == third.size == len(data)
    assert [p.name for p in _blob_files(ctx)] == [first.address]
    with ctx.engine.connect() as conn:
        blob_rows = conn.execute(select(func.count()).select_from(Blob)).scalar_one()
        key_rows = conn.execute(
            select(func.count()).where(DataKey.purpose == f"blob:{first.address}")
        ).scalar_one()
    assert blob_rows == 1
    assert key_rows == 1, "a duplicate put must not leave a data key behind"
    assert [e.subject for e in events_named(ctx, "blobs.stored")] == [f"blob:{first.address}"]
    assert ctx.blobs.get_bytes(first.address) == data


def test_put_file_refuses_unreadable_paths(ctx: Context, tmp_path: Path) -> None:
    for path in (tmp_path / "does-not-exist", tmp_path):
        with pytest.raises(UsageError, match="cannot read") as caught:
            ctx.blobs.put_file(path)
        assert type(caught.value) is UsageError
    assert _blob_files(ctx) == []


class _Trickle(io.RawIOBase):
    """A raw stream (like a pipe or socket) that returns at most 1000 bytes a read."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), 1000, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def test_short_reads_do_not_truncate_a_stream(ctx: Context) -> None:
    data = os.urandom(2 * MiB + 12345)
    ref = ctx.blobs.put_stream(_Trickle(data))  # type: ignore[arg-type]
    assert ref.size == len(data)
    assert ref.address == hashlib.sha256(data).hexdigest()
    assert ctx.blobs.get_bytes(ref.address) == data


class _MemoryBackend:
    """A backend like an object store: not a local folder, and its reads come back
    in small pieces, as an HTTP response body does."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def write_atomic(self, address: str, chunks: Iterator[bytes]) -> None:
        self.objects[address] = b"".join(chunks)

    def open(self, address: str) -> BinaryIO:
        if address not in self.objects:
            raise NotFoundError(f"blob {address} is missing")
        return _Trickle(self.objects[address])  # type: ignore[return-value]

    def exists(self, address: str) -> bool:
        return address in self.objects

    def delete(self, address: str) -> None:
        self.objects.pop(address, None)


def test_a_streaming_backend(ctx: Context) -> None:
    backend = _MemoryBackend()
    store = BlobStore(ctx.engine, ctx.keyring, backend)
    data = os.urandom(2 * MiB + MiB // 2)
    ref = store.put_bytes(data)
    assert list(backend.objects) == [ref.address], "the staging object was not removed"
    assert store.get_bytes(ref.address) == data
    assert store.put_bytes(data).created is False
    assert store.put_bytes(b"").size == 0
    store.shred(ref.address)
    assert ref.address not in backend.objects
    with pytest.raises(KeyDestroyedError):
        store.get_bytes(ref.address)


def test_tampering_is_detected(ctx: Context) -> None:
    data = os.urandom(2 * MiB + MiB // 2)  # chunks of 1 MiB, 1 MiB, 0.5 MiB
    address = ctx.blobs.put_bytes(data).address
    other_data = os.urandom(len(data))
    other = ctx.blobs.put_bytes(other_data).address
    path = _path(ctx, address)
    good = path.read_bytes()
    size = CHUNK + TAG
    c0, c1, c2 = (good[HEADER + i * size : HEADER + (i + 1) * size] for i in range(3))
    header = good[:HEADER]
    assert header + c0 + c1 + c2 == good

    cases = {
        "magic": flip(good, 0),
        "key id in header": flip(good, 5),
        "nonce prefix": flip(good, HEADER - 1),
        "first chunk": flip(good, HEADER + 10),
        "middle chunk tag": flip(good, HEADER + 2 * size - 1),
        "last chunk": flip(good, len(good) - 100),
        "chunks swapped": header + c1 + c0 + c2,
        "last chunk duplicated": header + c0 + c1 + c2 + c2,
        "garbage appended": good + b"\x00",
        "last byte dropped": good[:-1],
        "header only": header,
        "half a header": good[: HEADER // 2],
        "empty file": b"",
        "another blob's ciphertext": _path(ctx, other).read_bytes(),
    }
    for name, content in cases.items():
        path.write_bytes(content)
        assert _integrity_error(ctx, address) is not None, f"{name}: not detected"
    path.write_bytes(good)
    assert _fresh_store(ctx).get_bytes(address) == data


def test_dropped_chunks_fail_at_the_cut_not_only_at_the_end(ctx: Context) -> None:
    """Dropping whole trailing chunks leaves a file of valid chunks; the last-chunk
    flag makes the reader refuse before it hands out any plaintext past the cut."""
    for data in (os.urandom(3 * MiB), os.urandom(2 * MiB + 7)):
        address = ctx.blobs.put_bytes(data).address
        path = _path(ctx, address)
        good = path.read_bytes()
        for keep in (1, 2):
            path.write_bytes(good[: HEADER + keep * (CHUNK + TAG)])
            got: list[bytes] = []
            with pytest.raises(IntegrityError, match=f"chunk {keep - 1} was altered"):
                got.extend(_fresh_store(ctx).iter_chunks(address))
            assert got == [data[i * CHUNK : (i + 1) * CHUNK] for i in range(keep - 1)]
        path.write_bytes(good)
        assert ctx.blobs.get_bytes(address) == data


def test_swapped_file_and_row_fails_on_the_address(ctx: Context) -> None:
    """An attacker who swaps both the file and the row's key gets caught by the hash."""
    a = ctx.blobs.put_bytes(b"the real content")
    b = ctx.blobs.put_bytes(b"something else entirely")
    _path(ctx, a.address).write_bytes(_path(ctx, b.address).read_bytes())
    tamper(
        ctx.engine,
        "UPDATE blobs SET data_key_id = (SELECT data_key_id FROM blobs WHERE address = :b) "
        "WHERE address = :a",
        a=a.address,
        b=b.address,
    )
    with pytest.raises(IntegrityError, match="does not hash to its address"):
        _fresh_store(ctx).get_bytes(a.address)


def test_missing_blobs(ctx: Context) -> None:
    ref = ctx.blobs.put_bytes(b"will vanish")
    _path(ctx, ref.address).unlink()
    with pytest.raises(NotFoundError, match="missing from the blob store"):
        ctx.blobs.get_bytes(ref.address)
    with pytest.raises(NotFoundError, match="no blob"):
        ctx.blobs.get_bytes("0" * 64)
    with pytest.raises(NotFoundError):
        ctx.blobs.shred("0" * 64)
    # Putting the content again restores it.
    again = ctx.blobs.put_bytes(b"will vanish")
    assert again.created is True
    assert ctx.blobs.get_bytes(ref.address) == b"will vanish"


def test_shred_makes_a_blob_unrecoverable(ctx: Context) -> None:
    """After shredding, reading says KeyDestroyedError (HTTP 410), not NotFoundError:
    the row and the destroyed key remain as the record that the blob existed and was
    destroyed, and even a ciphertext restored from a backup stays unreadable."""
    data = b"patient record to erase " * 100
    ref = ctx.blobs.put_bytes(data, ctx.record)
    key_id = ctx.blobs.data_key_of(ref.address)
    dek = ctx.keyring.data_key(key_id)
    backup = _path(ctx, ref.address).read_bytes()

    ctx.blobs.shred(ref.address, ctx.record, reason="erasure request #7")

    assert not _path(ctx, ref.address).exists()
    for store in (ctx.blobs, _fresh_store(ctx)):
        with pytest.raises(KeyDestroyedError):
            store.get_bytes(ref.address)
    row = key_row(ctx.engine, key_id)
    assert row.wrapped is None
    assert row.master_key_id is None
    assert row.destroyed_at is not None

    _path(ctx, ref.address).write_bytes(backup)
    with pytest.raises(KeyDestroyedError):
        _fresh_store(ctx).get_bytes(ref.address)
    _path(ctx, ref.address).unlink()

    events = [e for e in events_named(ctx, "keys.shredded") if e.subject == f"data_key:{key_id}"]
    assert len(events) == 1
    assert events[0].data_obj() == {
        "purpose": f"blob:{ref.address}",
        "reason": "erasure request #7",
    }
    assert_absent(json.dumps(events[0].to_dict()).encode(), dek, "the keys.shredded event")

    # The same content can be stored again, under a new key.
    again = ctx.blobs.put_bytes(data)
    assert again.created is True
    assert ctx.blobs.data_key_of(ref.address) != key_id
    assert ctx.blobs.get_bytes(ref.address) == data


def test_put_after_an_interrupted_shred_stores_afresh(ctx: Context) -> None:
    """Shred destroys the key, then deletes the file; if the process dies between
    the two, putting the same content must not "deduplicate" onto the dead blob."""
    data = b"content whose key was shredded"
    ref = ctx.blobs.put_bytes(data)
    ctx.keyring.shred(ctx.blobs.data_key_of(ref.address))  # ...then the crash
    assert _path(ctx, ref.address).exists()

    again = ctx.blobs.put_bytes(data)
    assert again.created is True
    assert ctx.blobs.get_bytes(ref.address) == data
    assert _fresh_store(ctx).get_bytes(ref.address) == data
