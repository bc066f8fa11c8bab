"""Scan files and directories; record each result in the ledger."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mmap
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from vallum.scan.dispatch import scan_buffer
from vallum.scan.job import Limits
from vallum.scan.verdict import FileResult, Finding, Report, Severity, Verdict

if TYPE_CHECKING:
    from vallum.context import Context

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 4 << 30


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Each path, directories walked recursively in sorted order; symlinks not followed."""
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            yield from iter_files(sorted(path.iterdir()))
        elif path.is_file():
            yield path


def scan_path(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[FileResult]:
    return [scan_file(p, max_bytes=max_bytes) for p in iter_files([path])]


def scan_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> FileResult:
    """Scan one file through a read-only memory map: memory stays bounded for big files."""
    name = str(path)
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                return _unscannable(
                    name, "unknown", "file.too-large", f"{size} bytes > {max_bytes}"
                )
            if size == 0:
                return _unscannable(name, "unknown", "file.empty", "empty file")
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            return _scan(mapped, name, path)
        finally:
            with contextlib.suppress(BufferError):  # a view still alive: unmapped when collected
                mapped.close()
    except OSError as exc:
        return _unscannable(name, "unknown", "file.unreadable", exc.strerror or type(exc).__name__)


def scan_bytes(data: bytes | bytearray | memoryview | mmap.mmap, name: str) -> FileResult:
    """Scan an in-memory buffer (the fuzz target's entry point); never raises."""
    return _scan(data, name, None)


def _scan(
    data: bytes | bytearray | memoryview | mmap.mmap, name: str, path: Path | None
) -> FileResult:
    report = Report()
    view = memoryview(data)
    try:
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        fmt = scan_buffer(view, name, report, path=path, limits=Limits())
    except (RecursionError, MemoryError) as exc:
        return _unscannable(
            name, "unknown", "scanner.limit", f"scan exceeded a limit: {type(exc).__name__}"
        )
    except Exception as exc:  # a parser bug must not become a traceback
        log.debug("scanner error on %s", name, exc_info=True)
        return _unscannable(
            name, "unknown", "scanner.error", f"scanner failed: {type(exc).__name__}"
        )
    finally:
        view.release()
    return FileResult(name, fmt, report.verdict(), tuple(report.findings))


def _unscannable(path: str, fmt: str, rule: str, message: str) -> FileResult:
    finding = Finding(rule, Severity.MEDIUM, message, path)
    return FileResult(path, fmt, Verdict.UNSCANNABLE, (finding,))


def summary(results: Iterable[FileResult]) -> dict[str, int]:
    out = {"files": 0, "safe": 0, "unsafe": 0, "unscannable": 0}
    for r in results:
        out["files"] += 1
        out[str(r.verdict)] += 1
    return out


def record_scan(ctx: Context, results: Iterable[FileResult]) -> list[int]:
    """One ``models.scanned`` event per file: name, digest, verdict; never contents."""
    seqs = []
    for r in results:
        path = Path(r.path)
        try:
            with path.open("rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError:
            digest = None
        seqs.append(
            ctx.record(
                "models.scanned",
                path.name,
                outcome="success" if r.verdict is Verdict.SAFE else "failure",
                data={
                    "file": path.name,
                    "sha256": digest,
                    "format": r.format,
                    "verdict": str(r.verdict),
                    "findings": len(r.findings),
                },
            )
        )
    return seqs
