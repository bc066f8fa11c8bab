"""Containers: zip (PyTorch, NPZ), NPY headers; each pickle inside goes to the VM."""

from __future__ import annotations

import ast
import io
import struct
import zipfile
import zlib

from vallum.scan.classify import Kind, classify
from vallum.scan.pickle_vm import scan_pickle_stream
from vallum.scan.verdict import Report, Severity

_LOCAL_HEADER = struct.Struct("<4s5H3I2H")
_MAX_NPY_HEADER = 1 << 20
_MAX_MEMBER = 4 << 30


def scan_npy(data: bytes, location: str, report: Report) -> None:
    """An .npy array: only an object dtype carries a pickle (after the header)."""
    if len(data) < 10 or not data.startswith(b"\x93NUMPY"):
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
    raw = data[start : start + size]
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
        scan_pickle_stream(data[start + size :], f"{location}:data", report)


def zip_kind(names: list[str]) -> str:
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "pytorch-zip"
    if names and all(n.endswith(".npy") for n in names):
        return "numpy-npz"
    if "config.json" in names and any(n.endswith(".h5") for n in names):
        return "keras"
    if any(n.endswith("saved_model.pb") for n in names):
        return "tf-savedmodel"
    return "zip"


def open_zip(data: bytes, location: str, report: Report) -> zipfile.ZipFile | None:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        report.incomplete("zip.malformed", f"unreadable central directory: {exc}", location)
        return None


def read_member(data: bytes, info: zipfile.ZipInfo, location: str, report: Report) -> bytes | None:
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
    local_name = data[off + 30 : off + 30 + nlen].decode("utf-8", "replace")
    if local_name != info.filename:
        report.add(
            "zip.name-mismatch",
            Severity.HIGH,
            f"local header names {local_name!r}, central directory {info.filename!r}",
            where,
        )
    start = off + 30 + nlen + xlen
    raw = data[start : start + info.compress_size]
    if info.file_size > _MAX_MEMBER:
        report.incomplete("zip.member-too-large", "member larger than the limit", where)
        return None
    if method == zipfile.ZIP_STORED:
        body = raw
    elif method == zipfile.ZIP_DEFLATED:
        try:
            d = zlib.decompressobj(-15)
            body = d.decompress(raw, _MAX_MEMBER)
        except zlib.error as exc:
            report.incomplete("zip.malformed", f"cannot inflate: {exc}", where)
            return None
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


def scan_zip(data: bytes, location: str, report: Report) -> str:
    """Scan every member that is a pickle or NPY, by content; returns the zip's kind."""
    zf = open_zip(data, location, report)
    if zf is None:
        return "zip"
    infos = zf.infolist()
    names = [i.filename for i in infos]
    kind = zip_kind(names)
    if kind in ("keras", "tf-savedmodel", "zip"):
        return kind
    if len(set(names)) != len(names):
        report.add("zip.duplicate-name", Severity.HIGH, "two members share a name", location)
    for info in infos:
        if info.is_dir():
            continue
        body = read_member(data, info, location, report)
        if body is None:
            continue
        where = f"{location}:{info.filename}"
        member_kind = classify(body[:512])
        if member_kind is Kind.PICKLE or info.filename.endswith(".pkl"):
            required = info.filename.endswith(".pkl") or body[:1] == b"\x80"
            scan_pickle_stream(body, where, report, required=required)
        elif member_kind is Kind.NPY:
            scan_npy(body, where, report)
        elif kind == "numpy-npz":
            report.incomplete("npz.member-not-npy", "member is not an NPY array", where)
    return kind
