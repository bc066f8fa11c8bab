"""Per-tensor fingerprints: the SHA-256 of each tensor's raw bytes.

A tensor is found by reading the container the way its loader would, never by
file name, and never by loading anything:

- safetensors: every entry of the JSON header (``data_offsets`` into the body);
- PyTorch zip checkpoints: every storage ``<archive>/data/<N>``;
- NumPy ``.npy`` and the ``.npy`` members of ``.npz`` archives (object arrays,
  which are pickles, are not tensors and are skipped);
- ONNX: every graph initializer (see ``vallum.registry.onnx``).

The digest covers the raw little-endian element bytes only, not the name,
dtype or shape, so the same weights keep their fingerprint when a model is
re-packaged (a safetensors file converted to ``.npz``, a renamed tensor).
Tensors that say nothing about a model (fewer than ``MIN_BYTES`` bytes, or one
value repeated, such as zero biases and unit norms) are counted as ``trivial``
and left out, so unrelated models do not look related through them.

Malformed files yield no tensors and a note; they never raise.
"""

from __future__ import annotations

import ast
import hashlib
import json
import mmap
import struct
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

CHUNK = 1 << 20
MIN_BYTES = 16
MAX_HEADER = 100_000_000
_NPY_MAGIC = b"\x93NUMPY"
_UNITS = (1, 2, 4, 8)


@dataclass(frozen=True, slots=True)
class TensorPrint:
    """One tensor's fingerprint: where it is and the SHA-256 of its bytes."""

    file: str
    name: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class Fingerprints:
    """The distinctive tensors of a model, how many trivial ones were left out, and notes."""

    tensors: tuple[TensorPrint, ...] = ()
    trivial: int = 0
    notes: tuple[str, ...] = ()

    @property
    def digests(self) -> frozenset[str]:
        return frozenset(t.digest for t in self.tensors)


class TensorDigest:
    """SHA-256 over chunks fed in order, noticing whether the bytes repeat one short unit."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.size = 0
        self._tile: bytes | None = None
        self._unit = 0
        self.constant = True

    def update(self, data: bytes | memoryview) -> None:
        for start in range(0, len(data), CHUNK):
            self._update(data[start : start + CHUNK])

    def _update(self, data: bytes | memoryview) -> None:
        if not data:
            return
        self._sha.update(data)
        if self.constant:
            if self._tile is None:
                self._unit = next((k for k in _UNITS if _periodic(data, k)), 0)
                if self._unit == 0:
                    self.constant = False
                else:
                    unit = bytes(data[: self._unit])
                    self._tile = unit * (CHUNK // self._unit + 2)
            else:
                off = self.size % self._unit
                self.constant = data == self._tile[off : off + len(data)]
        self.size += len(data)

    @property
    def trivial(self) -> bool:
        return self.size < MIN_BYTES or self.constant

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def _periodic(data: bytes | memoryview, k: int) -> bool:
    if len(data) <= k:
        return True
    return data[k:] == data[:-k]


@dataclass
class _Collector:
    tensors: list[TensorPrint] = field(default_factory=list)
    trivial: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, file: str, name: str, digest: TensorDigest) -> None:
        if digest.trivial:
            self.trivial += 1
        else:
            self.tensors.append(TensorPrint(file, name, digest.hexdigest(), digest.size))

    def add_bytes(self, file: str, name: str, data: bytes | memoryview) -> None:
        d = TensorDigest()
        d.update(data)
        self.add(file, name, d)

    def add_stream(self, file: str, name: str, src: IO[bytes]) -> None:
        d = TensorDigest()
        for chunk in iter(lambda: src.read(CHUNK), b""):
            d.update(chunk)
        self.add(file, name, d)


def fingerprint(root: Path, files: Iterable[str]) -> Fingerprints:
    """Tensor fingerprints of the model files ``files`` (relative posix paths under ``root``)."""
    out = _Collector()
    for rel in files:
        path = root / rel
        try:
            _fingerprint_file(root, path, rel, out)
        except (OSError, ValueError, zipfile.BadZipFile, struct.error, EOFError) as exc:
            out.notes.append(f"{rel}: tensors not read ({type(exc).__name__})")
    return Fingerprints(tuple(out.tensors), out.trivial, tuple(out.notes))


def _fingerprint_file(root: Path, path: Path, rel: str, out: _Collector) -> None:
    with path.open("rb") as fh:
        head = fh.read(16)
    if head.startswith(b"PK\x03\x04"):
        _zip(path, rel, out)
    elif head.startswith(_NPY_MAGIC):
        with path.open("rb") as fh:
            _npy(fh, rel, rel, out)
    elif len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") >= 2:
        _safetensors(path, rel, out)
    elif head[:1] == b"\x08":
        from vallum.registry.onnx import initializers

        with _mapped(path) as buf:
            for name, data in initializers(buf, root, path):
                out.add_bytes(rel, name, data)


class _mapped:
    """A read-only memoryview of a whole file (empty files give an empty view)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._map: mmap.mmap | None = None
        self._view: memoryview | None = None

    def __enter__(self) -> memoryview:
        with self._path.open("rb") as fh:
            if self._path.stat().st_size == 0:
                self._view = memoryview(b"")
                return self._view
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self._view = memoryview(self._map)
        return self._view

    def __exit__(self, *_exc: object) -> None:
        if self._view is not None:
            self._view.release()
        if self._map is not None:
            self._map.close()


def _safetensors(path: Path, rel: str, out: _Collector) -> None:
    with _mapped(path) as buf:
        size = int.from_bytes(buf[:8], "little")
        if size > min(MAX_HEADER, len(buf) - 8):
            raise ValueError("safetensors header runs past the file")
        header = json.loads(bytes(buf[8 : 8 + size]))
        if not isinstance(header, dict):
            raise ValueError("safetensors header is not an object")
        body = 8 + size
        entries = []
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = _offsets(info)
            if not body + begin <= body + end <= len(buf):
                raise ValueError("safetensors offsets run past the file")
            entries.append((begin, name, end))
        for begin, name, end in sorted(entries):
            out.add_bytes(rel, str(name), buf[body + begin : body + end])


def _offsets(info: object) -> tuple[int, int]:
    if not isinstance(info, dict):
        raise ValueError("safetensors entry is not an object")
    offsets = info.get("data_offsets")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and o >= 0 for o in offsets)
    ):
        raise ValueError("safetensors entry has bad data_offsets")
    return offsets[0], offsets[1]


def _zip(path: Path, rel: str, out: _Collector) -> None:
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            parts = info.filename.split("/")
            with zf.open(info) as member:
                if len(parts) >= 2 and parts[-2] == "data" and parts[-1].isdigit():
                    out.add_stream(rel, f"data/{parts[-1]}", member)
                elif member.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
                    name = info.filename.removesuffix(".npy")
                    _npy(member, rel, name, out, skip_magic=True)


def _npy(src: IO[bytes], rel: str, name: str, out: _Collector, *, skip_magic: bool = False) -> None:
    """The data of one NPY stream (object arrays are pickles, not tensors: skipped)."""
    if not skip_magic and src.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
        raise ValueError("not an NPY stream")
    major = src.read(2)[:1]
    if major == b"\x01":
        (length,) = struct.unpack("<H", src.read(2))
    elif major in (b"\x02", b"\x03"):
        (length,) = struct.unpack("<I", src.read(4))
    else:
        raise ValueError("unknown NPY version")
    if length > 1 << 20:
        raise ValueError("NPY header too large")
    raw = src.read(length)
    header = ast.literal_eval(raw.decode("latin-1").strip())
    if not isinstance(header, dict) or "descr" not in header:
        raise ValueError("NPY header has no descr")
    if "O" in repr(header["descr"]):
        return
    out.add_stream(rel, name, src)


def iter_digests(prints: Iterable[TensorPrint]) -> Iterator[str]:
    seen: set[str] = set()
    for p in prints:
        if p.digest not in seen:
            seen.add(p.digest)
            yield p.digest
