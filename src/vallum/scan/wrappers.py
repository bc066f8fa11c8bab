"""Compressed wrappers (gzip, bz2, xz, lzma, zlib, joblib's) and tar: unwrapped, then scanned.

Decompression is bounded by the job's budget and by an output/input ratio, so a
decompression bomb ends as ``unscannable``; tar members are read as tarfile
reads them and every regular member is scanned by content, while links,
special files and paths that leave the extraction directory are findings.
"""

from __future__ import annotations

import bz2
import lzma
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from typing import Protocol

from vallum.scan.classify import STRONG, Kind, classify
from vallum.scan.job import Job, MemoryReader
from vallum.scan.verdict import Severity

_JOBLIB_ZFILE_HEADER = 2 + 19  # b"ZF" + the hex length padded to len(hex(2**64))
_CHUNK = 1 << 20


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Bomb(Exception):
    """Decompression passed the size or ratio limit."""


class _Truncated(Exception):
    """The compressed stream ended before its end marker."""


def _factory(kind: Kind) -> Callable[[], _Decompressor] | None:
    if kind is Kind.BZ2:
        return bz2.BZ2Decompressor
    if kind is Kind.XZ:
        return lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    if kind is Kind.LZMA:
        return lambda: lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
    return None


def _limit(job: Job, compressed: int) -> tuple[int, int]:
    """(hard limit for this layer's output, the ratio-derived part of it)."""
    lim = job.limits
    by_ratio = max(lim.ratio_floor, compressed * lim.max_ratio)
    return min(by_ratio, lim.max_inflated - job.inflated), by_ratio


def _inflate_zlib(data: memoryview, wbits: int, limit: int) -> tuple[bytearray, bytes]:
    out = bytearray()
    pending: bytes | memoryview = data
    d = zlib.decompressobj(wbits)
    while True:
        out += d.decompress(pending, limit + 1 - len(out))
        if len(out) > limit:
            raise _Bomb
        if d.eof:
            rest = d.unused_data
            if wbits == 16 + 15 and rest[:3] == b"\x1f\x8b\x08":  # another gzip member
                pending, d = rest, zlib.decompressobj(wbits)
                continue
            return out, rest
        pending = d.unconsumed_tail
        if not pending:
            raise _Truncated


def _inflate_stream(
    data: memoryview, make: Callable[[], _Decompressor], limit: int, multi: bytes
) -> tuple[bytearray, bytes]:
    out = bytearray()
    pending = bytes(data)
    while True:
        d = make()
        out += d.decompress(pending, limit + 1 - len(out))
        while not d.eof:
            if len(out) > limit:
                raise _Bomb
            if d.needs_input:
                raise _Truncated
            out += d.decompress(b"", limit + 1 - len(out))
        if len(out) > limit:
            raise _Bomb
        rest = d.unused_data
        if multi and rest.startswith(multi):
            pending = rest
            continue
        return out, rest


def scan_compressed(job: Job, kind: Kind, data: memoryview, location: str, depth: int) -> str:
    """Inflate one compressed layer within the budget, then scan what it holds."""
    report = job.report
    if kind in (Kind.LZ4, Kind.SEVENZIP):
        report.incomplete(
            f"{kind}.unsupported",
            f"{kind} archives are recognised but not unpacked: cannot be judged",
            location,
        )
        return str(kind)
    limit, by_ratio = _limit(job, len(data))
    make = _factory(kind)
    try:
        if kind is Kind.GZIP:
            out, rest = _inflate_zlib(data, 16 + 15, limit)
        elif kind is Kind.ZLIB:
            out, rest = _inflate_zlib(data, 15, limit)
        elif kind is Kind.JOBLIB_ZFILE:
            out, rest = _inflate_zlib(data[_JOBLIB_ZFILE_HEADER:], 15, limit)
        elif make is not None:
            multi = b"BZh" if kind is Kind.BZ2 else (b"\xfd7zXZ\x00" if kind is Kind.XZ else b"")
            out, rest = _inflate_stream(data, make, limit, multi)
        else:
            report.incomplete("compressed.unsupported", f"cannot unpack {kind}", location)
            return str(kind)
    except _Bomb:
        why = "ratio" if limit == by_ratio else "total decompressed size"
        report.incomplete(
            "compressed.bomb",
            f"decompressed output exceeds the {why} limit ({limit} bytes): not unpacked further",
            location,
        )
        return str(kind)
    except _Truncated:
        report.incomplete("compressed.truncated", f"{kind} stream ends early", location)
        return str(kind)
    except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as exc:
        report.incomplete("compressed.malformed", f"{kind} stream does not decode: {exc}", location)
        return str(kind)
    job.inflated += len(out)
    if rest.strip(b"\x00"):
        _trailing(job, memoryview(rest), f"{location}@trailer", depth)
    inner = job.inner(memoryview(out), f"{location}!{kind}", depth + 1)
    return f"{kind}+{inner}"


def _trailing(job: Job, rest: memoryview, location: str, depth: int) -> None:
    kind = classify(rest)
    if kind in STRONG:
        job.report.add(
            "polyglot.trailing-format",
            Severity.HIGH,
            f"a {kind} payload follows the compressed stream",
            location,
        )
        job.inner(rest, location, depth + 1)
    else:
        job.report.add(
            "compressed.trailing-data",
            Severity.LOW,
            f"{len(rest)} bytes after the compressed stream",
            location,
        )


def _member_problem(member: tarfile.TarInfo) -> tuple[str, str] | None:
    name = member.name
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "tar.absolute-path", "absolute member path"
    if ".." in parts:
        return "tar.path-traversal", "member path contains '..'"
    if member.issym() or member.islnk():
        target = member.linkname
        return "tar.link", f"{'symbolic' if member.issym() else 'hard'} link to {target!r}"
    if member.isdev():
        return "tar.special-file", "device or FIFO member"
    if posixpath.normpath(name).startswith(".."):
        return "tar.path-traversal", "member path leaves the archive root"
    return None


def scan_tar(job: Job, data: memoryview, location: str, depth: int) -> str:
    """Every member of a tar read as ``tarfile`` reads it; anomalies are findings."""
    report = job.report
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=MemoryReader(data), mode="r:") as tf:
            for count, member in enumerate(tf):
                where = f"{location}:{member.name}"
                if count >= job.limits.max_members:
                    report.incomplete("tar.too-many-members", "member limit reached", location)
                    break
                problem = _member_problem(member)
                if problem is not None:
                    report.add(problem[0], Severity.HIGH, problem[1], where)
                    continue
                if member.name in seen:
                    report.add(
                        "tar.duplicate-name", Severity.HIGH, "two members share a name", where
                    )
                seen.add(member.name)
                if member.isdir():
                    continue
                if not member.isreg() or member.issparse():
                    report.incomplete("tar.unsupported-member", "not a plain file", where)
                    continue
                start, end = member.offset_data, member.offset_data + member.size
                if end > len(data):
                    report.incomplete("tar.truncated", "member data past the end", where)
                    continue
                job.inner(data[start:end], where, depth + 1)
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as exc:
        report.incomplete("tar.malformed", f"tar does not decode: {exc}", location)
    if not seen and report.complete:
        report.incomplete("tar.empty", "no members", location)
    return "tar"
