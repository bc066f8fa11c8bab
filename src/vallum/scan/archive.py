"""Containers: zip (PyTorch, NPZ, any other zip), NPY headers.

Zips are read the way PyTorch reads them (central directory, local header names,
CRC not enforced); every member is scanned by content: pickles go to the VM, other
formats back to the dispatcher.
"""

from __future__ import annotations

import ast
import math
import re
import stat
import struct
import zipfile
import zlib
from typing import TYPE_CHECKING, Any, cast

from vallum.scan.classify import STRONG, Kind, classify, zip_eocd
from vallum.scan.job import MemoryReader
from vallum.scan.pickle_vm import scan_pickle_stream
from vallum.scan.verdict import Report, Severity

if TYPE_CHECKING:
    from vallum.scan.job import Job

_LOCAL_HEADER = struct.Struct("<4s5H3I2H")
_MAX_NPY_HEADER = 1 << 20
_MAX_MEMBER = 4 << 30


def pickle_input(data: memoryview) -> bytes:
    """What the pickle VM reads: the mapped file itself when there is one, else a copy."""
    obj = data.obj
    if isinstance(obj, bytes) and len(obj) == len(data):
        return obj
    if type(obj).__name__ == "mmap" and len(cast("bytes", obj)) == len(data):
        return cast("bytes", obj)  # an mmap slices and reads like bytes, without a copy
    return bytes(data)


def scan_npy(data: memoryview, location: str, report: Report) -> None:
    """An .npy array: only an object dtype carries a pickle (after the header)."""
    if len(data) < 10 or bytes(data[:6]) != b"\x93NUMPY":
        report.incomplete("npy.malformed", "not an NPY file", location)
        return
    major = data[6]
    if major == 1:
        (size,), start = struct.unpack_from("<H", data, 8), 10
    elif major in (2, 3):
        (size,), start = struct.unpack_from("<I", data, 8), 12
    else:
        report.incomplete("npy.malformed", f"unknown NPY version {major}", location)
        return
    if size > _MAX_NPY_HEADER or start + size > len(data):
        report.incomplete("npy.malformed", "NPY header length out of range", location)
        return
    raw = bytes(data[start : start + size])
    try:
        header = ast.literal_eval(raw.decode("latin-1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        report.incomplete("npy.malformed", "NPY header is not a literal dict", location)
        return
    if not isinstance(header, dict) or "descr" not in header:
        report.incomplete("npy.malformed", "NPY header has no descr", location)
        return
    if "O" in repr(header["descr"]):
        report.add(
            "npy.object-dtype",
            Severity.LOW,
            "object array: its data is a pickle (scanned)",
            location,
        )
        scan_pickle_stream(bytes(data[start + size :]), f"{location}:data", report)
        return
    expected = _npy_bytes(header)
    body = len(data) - start - size
    if expected is None:
        return
    if body < expected:
        report.incomplete(
            "npy.truncated", f"{body} data bytes, the header says {expected}", location
        )
    elif body > expected:
        rest = data[start + size + expected :]
        kind = classify(rest)
        if kind in STRONG or kind is Kind.PICKLE:
            report.add(
                "polyglot.trailing-format",
                Severity.HIGH,
                f"a {kind} payload follows the array data",
                f"{location}@{start + size + expected}",
            )
        else:
            report.add(
                "npy.trailing-data", Severity.LOW, f"{len(rest)} bytes after the array", location
            )


_NPY_DESCR = re.compile(r"[<>|=]?([a-zA-Z])(\d*)")
_NPY_UNIT = {"U": 4}


def _npy_bytes(header: dict[str, Any]) -> int | None:
    """The array's data size from a simple descr (``'<f4'``, ``'|b1'``, ``'<U8'``) and shape."""
    descr, shape = header.get("descr"), header.get("shape")
    if not isinstance(descr, str) or not isinstance(shape, tuple):
        return None
    match = _NPY_DESCR.fullmatch(descr)
    if match is None or not all(isinstance(d, int) and d >= 0 for d in shape):
        return None
    code, digits = match.groups()
    if code in "?bB":
        item = int(digits or 1)
    elif digits:
        item = int(digits) * _NPY_UNIT.get(code, 1)
    else:
        return None
    return math.prod(shape) * item


def zip_kind(names: list[str]) -> str:
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "pytorch-zip"
    if names and all(n.endswith(".npy") for n in names):
        return "numpy-npz"
    if "config.json" in names and (
        "metadata.json" in names or any(n.endswith(".h5") for n in names)
    ):
        return "keras"
    if any(n.endswith("saved_model.pb") for n in names):
        return "tf-savedmodel"
    return "zip"


def open_zip(data: memoryview, location: str, report: Report) -> zipfile.ZipFile | None:
    try:
        return zipfile.ZipFile(MemoryReader(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        report.incomplete("zip.malformed", f"unreadable central directory: {exc}", location)
        return None


def read_member(
    data: memoryview,
    info: zipfile.ZipInfo,
    location: str,
    report: Report,
    job: Job | None = None,
) -> bytes | memoryview | None:
    """A member's bytes as PyTorch reads them: via its local header, CRC not enforced."""
    where = f"{location}:{info.filename}"
    off = info.header_offset
    if off < 0 or off + _LOCAL_HEADER.size > len(data):
        report.add("zip.bad-offset", Severity.HIGH, "local header outside the file", where)
        return None
    sig, _ver, _flag, method, _t, _d, _crc, _csize, _usize, nlen, xlen = _LOCAL_HEADER.unpack_from(
        data, off
    )
    if sig != b"PK\x03\x04":
        report.add("zip.bad-offset", Severity.HIGH, "no local header at the recorded offset", where)
        return None
    local_name = bytes(data[off + 30 : off + 30 + nlen]).decode("utf-8", "replace")
    if local_name != info.filename:
        report.add(
            "zip.name-mismatch",
            Severity.HIGH,
            f"local header names {local_name!r}, central directory {info.filename!r}",
            where,
        )
    start = off + 30 + nlen + xlen
    raw = data[start : start + info.compress_size]
    limit = _MAX_MEMBER
    if job is not None and method != zipfile.ZIP_STORED:
        lim = job.limits
        limit = min(
            limit, lim.max_inflated - job.inflated, max(lim.ratio_floor, len(raw) * lim.max_ratio)
        )
    if info.file_size > _MAX_MEMBER:
        report.incomplete("zip.member-too-large", "member larger than the limit", where)
        return None
    body: bytes | memoryview
    if method == zipfile.ZIP_STORED:
        body = raw
    elif method == zipfile.ZIP_DEFLATED:
        try:
            d = zlib.decompressobj(-15)
            body = d.decompress(raw, limit + 1)
        except zlib.error as exc:
            report.incomplete("zip.malformed", f"cannot inflate: {exc}", where)
            return None
        if len(body) > limit:
            report.incomplete("compressed.bomb", "member inflates past the limit", where)
            return None
        if job is not None:
            job.inflated += len(body)
    else:
        report.incomplete("zip.unsupported-compression", f"compression method {method}", where)
        return None
    if zlib.crc32(body) != info.CRC:
        report.add(
            "zip.crc-mismatch",
            Severity.HIGH,
            "CRC-32 does not match the data (loaders that ignore CRC read different bytes "
            "than tools that check it)",
            where,
        )
    return body


def _zip_trailer(job: Job, data: memoryview, location: str, depth: int) -> None:
    """Bytes after the end-of-central-directory record (and its comment)."""
    eocd = zip_eocd(data)
    if eocd is None or eocd + 22 > len(data):
        return
    end = eocd + 22 + int.from_bytes(data[eocd + 20 : eocd + 22], "little")
    rest = data[end:]
    if not bytes(rest).strip(b"\x00"):
        return
    kind = classify(rest)
    if kind in STRONG or kind is Kind.PICKLE:
        job.report.add(
            "polyglot.trailing-format",
            Severity.HIGH,
            f"a {kind} payload follows the zip's end record",
            f"{location}@{end}",
        )
        job.inner(rest, f"{location}@{end}", depth + 1)
    else:
        job.report.add(
            "zip.trailing-data", Severity.LOW, f"{len(rest)} bytes after the zip", location
        )


def scan_zip(job: Job, data: memoryview, location: str, depth: int) -> str:
    """Scan every member by content (pickles, NPY, nested formats); returns the zip's kind."""
    from vallum.scan.keras import scan_keras_zip  # keras reads members through this module

    report = job.report
    zf = open_zip(data, location, report)
    if zf is None:
        return "zip"
    infos = zf.infolist()
    names = [i.filename for i in infos]
    kind = zip_kind(names)
    if len(infos) > job.limits.max_members:
        report.incomplete("zip.too-many-members", f"{len(infos)} members", location)
        return kind
    if len(set(names)) != len(names):
        report.add("zip.duplicate-name", Severity.HIGH, "two members share a name", location)
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts:
            report.add(
                "zip.path-traversal",
                Severity.HIGH,
                "member path leaves the archive",
                f"{location}:{name}",
            )
    for info in infos:
        if stat.S_ISLNK(info.external_attr >> 16):
            report.add(
                "zip.link",
                Severity.HIGH,
                "symbolic link member (extraction can write outside the directory)",
                f"{location}:{info.filename}",
            )
    _zip_trailer(job, data, location, depth)
    if kind == "keras":
        return scan_keras_zip(job, data, zf, location, depth)
    for info in infos:
        if info.is_dir():
            continue
        body = read_member(data, info, location, report, job)
        if body is None:
            continue
        where = f"{location}:{info.filename}"
        view = memoryview(body)
        member_kind = classify(view)
        if member_kind is Kind.PICKLE or info.filename.endswith(".pkl"):
            required = info.filename.endswith(".pkl") or bytes(view[:1]) == b"\x80"
            scan_pickle_stream(bytes(view), where, report, required=required)
        elif member_kind is Kind.NPY:
            scan_npy(view, where, report)
        elif kind == "pytorch-zip" and "/code/" in f"/{info.filename}":
            report.incomplete(
                "torch.torchscript-code",
                "TorchScript code runs when the model loads: not judged",
                where,
            )
        elif kind == "numpy-npz":
            report.incomplete("npz.member-not-npy", "member is not an NPY array", where)
        elif kind != "pytorch-zip" or member_kind in STRONG:
            # a PyTorch zip's other members are raw tensor bytes; anything else is scanned
            job.inner(view, where, depth + 1)
    return kind
