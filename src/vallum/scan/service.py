"""Scan files and directories; record each result in the ledger."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from vallum.scan.archive import scan_npy, scan_zip
from vallum.scan.classify import Kind, classify
from vallum.scan.pickle_vm import scan_pickle_stream
from vallum.scan.verdict import FileResult, Finding, Report, Severity, Verdict

if TYPE_CHECKING:
    from vallum.context import Context

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 4 << 30
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_NOT_YET = {
    Kind.SAFETENSORS: "safetensors",
    Kind.GGUF: "gguf",
    Kind.HDF5: "hdf5",
    Kind.GZIP: "gzip",
    Kind.BZ2: "bz2",
    Kind.XZ: "xz",
    Kind.TAR: "tar",
}


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
    name = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return _unscannable(name, "unknown", "file.too-large", f"{size} bytes > {max_bytes}")
        data = path.read_bytes()
        return scan_bytes(data, name)
    except OSError as exc:
        return _unscannable(name, "unknown", "file.unreadable", exc.strerror or type(exc).__name__)
    except Exception as exc:  # a parser bug must not become a traceback
        log.debug("scanner error on %s", name, exc_info=True)
        return _unscannable(
            name, "unknown", "scanner.error", f"scanner failed: {type(exc).__name__}"
        )


def scan_bytes(data: bytes, name: str) -> FileResult:
    kind = classify(data[:512])
    report = Report()
    fmt = str(kind)
    if kind is Kind.PICKLE:
        fmt = "pytorch-legacy" if _is_torch_legacy(data) else "pickle"
        scan_pickle_stream(data, name, report)
    elif kind is Kind.ZIP:
        fmt = scan_zip(data, name, report)
        if fmt in ("keras", "tf-savedmodel", "zip"):
            report.incomplete("format.not-yet-supported", f"{fmt} is not scanned yet", name)
    elif kind is Kind.NPY:
        scan_npy(data, name, report)
    elif kind in _NOT_YET:
        report.incomplete("format.not-yet-supported", f"{_NOT_YET[kind]} is not scanned yet", name)
    else:
        report.incomplete("format.unknown", "not a model format the scanner recognises", name)
    return FileResult(name, fmt, report.verdict(), tuple(report.findings))


def _is_torch_legacy(data: bytes) -> bool:
    """Legacy torch.save: the first pickle is the magic number (protocol 2 LONG1)."""
    magic = TORCH_LEGACY_MAGIC.to_bytes(10, "little")
    return data[:5] == b"\x80\x02\x8a\x0a" + magic[:1] and data[4:14] == magic


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
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
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
