"""The state of scanning one file: its report, limits and the budget nested layers share."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vallum.scan.verdict import Report

#: How a format module hands a nested payload back to the dispatcher: (job, data,
#: location, depth) -> the nested payload's format name.
Dispatch = Callable[["Job", memoryview, str, int], str]


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one file's scan finite in memory and time."""

    max_depth: int = 4  # wrappers and archives inside each other
    max_inflated: int = 1 << 30  # bytes produced by decompression, per file
    max_ratio: int = 250  # output / input of one compressed layer ...
    ratio_floor: int = 32 << 20  # ... checked once the output passes this size
    max_members: int = 10_000  # members of one archive
    max_config_nodes: int = 1_000_000  # JSON / protobuf / template nodes walked


@dataclass
class Job:
    report: Report
    dispatch: Dispatch
    base_dir: Path | None = None  # the directory of the file on disk, for external data
    path: Path | None = None  # the file on disk, when scanning one
    path_size: int = -1
    limits: Limits = field(default_factory=Limits)
    inflated: int = 0

    def inner(self, data: memoryview, location: str, depth: int) -> str:
        """Scan a nested payload (a member, a decompressed stream) into the same report."""
        if depth > self.limits.max_depth:
            self.report.incomplete(
                "archive.too-deep", f"nested deeper than {self.limits.max_depth} layers", location
            )
            return "nested"
        return self.dispatch(self, data, location, depth)


class MemoryReader(io.RawIOBase):
    """A read-only, seekable file over a buffer, without copying it."""

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._data[self._pos : self._pos + len(buffer)]
        n = len(chunk)
        memoryview(buffer).cast("B")[:n] = chunk
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = len(self._data) - self._pos
        chunk = bytes(self._data[self._pos : self._pos + size])
        self._pos += len(chunk)
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._data)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos
