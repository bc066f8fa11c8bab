"""A static simulation of the pickle VM: resolves every import, executes nothing.

The opcodes are decoded by a single-pass walker over the buffer (no
``pickletools``, no copies of bulk arguments: tensor bytes in ``BINBYTES8`` or
``BYTEARRAY8``, long strings, ``FRAME`` headers are skipped by offset). It keeps
the stack, the metastack and the full memo, so an import is resolved however its
names were built (``GLOBAL``, ``INST``, ``STACK_GLOBAL`` with strings from the memo
or any string opcode, dotted names, Python 2 names), and it knows what is called
(``REDUCE``, ``OBJ``, ``INST``, ``NEWOBJ``, ``NEWOBJ_EX``) and built (``BUILD``).
``pickle_values`` holds the dataflow and the judgement of each call.

Every pickle in a stream is scanned: after a STOP, the next bytes are read as
another pickle when they look like one. Bounds: at most ``MAX_ITEMS`` values on
the stack and memo together, ``MAX_NESTING`` levels of nested checkpoints, and a
time budget per stream; beyond them the stream is unscannable.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import math
import re
import struct
import time
from typing import Any

from vallum.scan.pickle_values import (
    CONTAINER,
    LONG_STR,
    MAX_NAME_CHARS,
    OPAQUE,
    PERSISTENT,
    Blob,
    Global,
    Judge,
    Obj,
    as_name,
)
from vallum.scan.verdict import Finding, Report, Severity

MAX_ITEMS = 5_000_000
MAX_NESTING = 3
TIME_BUDGET_S = 300.0
_CHUNK = 1 << 20
_BLANK_TAIL = 1 << 16

#: Scalar constants whose values never matter (width of the argument + 1):
#: BINFLOAT, NEWTRUE, NEWFALSE.
_SCALAR = bytes({0x47: 9, 0x88: 1, 0x89: 1}.get(op, 0) for op in range(256))

#: joblib writes each array's raw bytes into the stream right after the wrapper's BUILD.
JOBLIB_WRAPPERS = frozenset(
    {
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
    }
)
_DESCR = re.compile(r"[<>|=]?([biufcmMOSUV])(\d+)(?:\[\w+\])?")

_U2 = struct.Struct("<H").unpack_from
_I4 = struct.Struct("<i").unpack_from
_U4 = struct.Struct("<I").unpack_from
_U8 = struct.Struct("<Q").unpack_from


class MalformedPickle(Exception):
    """The stream is not a pickle the real VM could load to the end."""


class _Partial(MalformedPickle):
    def __init__(self, why: str, judge: Judge, end: int = -1) -> None:
        super().__init__(why)
        self.judge = judge
        self.end = end


_DECODE_ERRORS = (
    ValueError,
    IndexError,
    KeyError,
    OverflowError,
    UnicodeError,
    struct.error,
    MalformedPickle,
)


def _line(buf: bytes, pos: int) -> tuple[bytes, int]:
    nl = buf.find(b"\n", pos)
    if nl < 0:
        raise MalformedPickle("line argument runs past the end")
    return buf[pos:nl], nl + 1


def _text(raw: bytes) -> str:
    return raw.decode("utf-8")


def _quoted(raw: bytes) -> str:
    """Protocol 0 ``STRING``: a quoted Python 2 string literal."""
    if len(raw) < 2 or raw[:1] not in (b"'", b'"') or raw[-1:] != raw[:1]:
        raise MalformedPickle("STRING argument is not quoted")
    return codecs.escape_decode(raw[1:-1])[0].decode("latin-1")


def _py2_name(module: str, name: str, proto: int) -> tuple[str, str]:
    """The unpickler's ``fix_imports`` mapping for protocols below 3."""
    if proto >= 3:
        return module, name
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _run(buf: bytes, pos: int, j: Judge, deadline: float) -> int:
    """Simulate one pickle from ``pos``; the offset just past its STOP."""
    end = len(buf)
    stack: list[object] = []
    metastack: list[list[object]] = []
    memo: dict[int, object] = {}
    proto = 0
    call = j.call
    escape = j.escape
    getattr_seen = j.sensitive  # escapes only matter once getattr or the like is imported
    filled_at = -1  # where the last SETITEMS / DICT ended, and the items it added
    last_items: list[object] = []
    while True:
        if len(stack) + len(memo) + len(metastack) > MAX_ITEMS:
            raise MalformedPickle(f"more than {MAX_ITEMS} values: too complex to scan")
        if time.monotonic() > deadline:
            raise MalformedPickle("time budget exhausted")
        if pos >= end:
            raise MalformedPickle("pickle ended without STOP")
        limit = min(pos + _CHUNK, end)
        while pos < limit:
            op = buf[pos]
            pos += 1
            # most frequent opcodes of real checkpoints first
            if op == 0x68:  # BINGET
                stack.append(memo[buf[pos]])
                pos += 1
            elif op == 0x94:  # MEMOIZE
                memo[len(memo)] = stack[-1]
            elif op == 0x71:  # BINPUT
                memo[buf[pos]] = stack[-1]
                pos += 1
            elif op == 0x8C:  # SHORT_BINUNICODE: kept as bytes, decoded if used as a name
                n = buf[pos]
                pos += 1 + n
                stack.append(buf[pos - n : pos])
            elif op == 0x58 or op == 0x8D:  # BINUNICODE, BINUNICODE8
                if op == 0x58:
                    n, pos = _U4(buf, pos)[0], pos + 4
                else:
                    n, pos = _U8(buf, pos)[0], pos + 8
                pos += n
                if pos > end:
                    raise MalformedPickle("string runs past the end")
                stack.append(buf[pos - n : pos] if n <= MAX_NAME_CHARS else LONG_STR)
            elif op == 0x4B:  # BININT1
                stack.append(buf[pos])
                pos += 1
            elif _SCALAR[op]:  # BINFLOAT, bools: their values never matter
                stack.append(0)
                pos += _SCALAR[op] - 1
            elif op == 0x4A:  # BININT
                stack.append(_I4(buf, pos)[0])
                pos += 4
            elif op == 0x4D:  # BININT2
                stack.append(_U2(buf, pos)[0])
                pos += 2
            elif op == 0x4E:  # NONE
                stack.append(None)
            elif op == 0x28:  # MARK
                metastack.append(stack)
                stack = []
            elif op == 0x85:  # TUPLE1
                stack[-1] = (stack[-1],)
            elif op == 0x86:  # TUPLE2
                b = stack.pop()
                stack[-1] = (stack[-1], b)
            elif op == 0x87:  # TUPLE3
                c = stack.pop()
                b = stack.pop()
                stack[-1] = (stack[-1], b, c)
            elif op == 0x52:  # REDUCE
                args = stack.pop()
                stack[-1] = call(stack[-1], args, pos - 1)
            elif op == 0x29:  # EMPTY_TUPLE
                stack.append(())
            elif op == 0x7D or op == 0x5D or op == 0x8F:  # EMPTY_DICT, EMPTY_LIST, EMPTY_SET
                stack.append(CONTAINER)
            elif op == 0x75 or op == 0x65 or op == 0x90:  # SETITEMS, APPENDS, ADDITEMS
                items = stack
                stack = metastack.pop()
                filled_at, last_items = pos, items
                if getattr_seen:
                    escape(items)
                if stack[-1].__class__ is Global:
                    j.flag("pickle.build.on-import", "adds items to an import", pos - 1)
            elif op == 0x51:  # BINPERSID: torch's ('storage', type, key, device, numel)
                if getattr_seen:
                    escape(stack[-1])
                stack[-1] = PERSISTENT
            elif op == 0x73 or op == 0x61:  # SETITEM, APPEND
                escape(stack.pop())
                if op == 0x73:
                    escape(stack.pop())
                if stack[-1].__class__ is Global:
                    j.flag("pickle.build.on-import", "adds items to an import", pos - 1)
            elif op == 0x74:  # TUPLE
                items = stack
                stack = metastack.pop()
                stack.append(tuple(items))
            elif op == 0x72:  # LONG_BINPUT
                memo[_U4(buf, pos)[0]] = stack[-1]
                pos += 4
            elif op == 0x6A:  # LONG_BINGET
                stack.append(memo[_U4(buf, pos)[0]])
                pos += 4
            elif op == 0x62:  # BUILD
                state = stack.pop()
                escape(state)
                target = stack[-1]
                if target.__class__ is Global:
                    j.flag("pickle.build.on-import", "BUILD sets attributes of an import", pos - 1)
                elif target.__class__ is Obj and target.origin in JOBLIB_WRAPPERS:
                    # joblib's state dict is filled by the SETITEMS (or DICT) just before
                    fields = last_items if filled_at == pos - 1 else []
                    pos = _joblib_array(buf, pos, fields, j, deadline)
                    stack[-1] = Obj("numpy.ndarray")
            elif op == 0x95:  # FRAME: an 8-byte length; the frame's opcodes follow inline
                if _U8(buf, pos)[0] > end - pos - 8:
                    raise MalformedPickle("FRAME longer than the data")
                pos += 8
            elif op == 0x93:  # STACK_GLOBAL
                name = as_name(stack.pop())
                module = as_name(stack.pop())
                if module is not None and name is not None:
                    module, name = _py2_name(module, name, proto)
                    stack.append(j.import_(module, name, pos - 1))
                else:
                    j.flag(
                        "pickle.import.unresolved",
                        "STACK_GLOBAL with a module or name that is not a constant string",
                        pos - 1,
                        Severity.CRITICAL,
                    )
                    stack.append(OPAQUE)
            elif op in (0x43, 0x42, 0x8E, 0x96):  # SHORT_BINBYTES, BINBYTES(8), BYTEARRAY8
                if op == 0x43:
                    n, pos = buf[pos], pos + 1
                elif op == 0x42:
                    n, pos = _U4(buf, pos)[0], pos + 4
                else:
                    n, pos = _U8(buf, pos)[0], pos + 8
                pos += n
                if pos > end:
                    raise MalformedPickle("bytes run past the end")
                stack.append(Blob(pos - n, pos))
            elif op in (0x55, 0x54):  # SHORT_BINSTRING, BINSTRING
                if op == 0x55:
                    n, pos = buf[pos], pos + 1
                else:
                    n, pos = _I4(buf, pos)[0], pos + 4
                    if n < 0:
                        raise MalformedPickle("negative BINSTRING length")
                pos += n
                if pos > end:
                    raise MalformedPickle("string runs past the end")
                stack.append(
                    buf[pos - n : pos].decode("latin-1") if n <= MAX_NAME_CHARS else LONG_STR
                )
            elif op == 0x81:  # NEWOBJ
                args = stack.pop()
                stack[-1] = call(stack[-1], args, pos - 1)
            elif op == 0x92:  # NEWOBJ_EX
                kwargs = stack.pop()
                args = stack.pop()
                stack[-1] = call(stack[-1], args, pos - 1, kwargs)
            elif op == 0x6F:  # OBJ
                items = stack
                stack = metastack.pop()
                stack.append(call(items[0], tuple(items[1:]), pos - 1))
            elif op in (0x63, 0x69):  # GLOBAL, INST
                at = pos - 1
                raw_module, pos = _line(buf, pos)
                raw_name, pos = _line(buf, pos)
                module, name = _py2_name(_text(raw_module), _text(raw_name), proto)
                g = j.import_(module, name, at)
                if op == 0x63:
                    stack.append(g)
                else:
                    items = stack
                    stack = metastack.pop()
                    stack.append(call(g, tuple(items), at))
            elif op == 0x2E:  # STOP
                stack.pop()
                return pos
            elif op == 0x80:  # PROTO
                proto = buf[pos]
                pos += 1
                if proto > 5:
                    raise MalformedPickle(f"unsupported protocol {proto}")
            elif op in (0x6C, 0x64, 0x91):  # LIST, DICT, FROZENSET
                escape(stack)
                filled_at, last_items = pos, stack
                stack = metastack.pop()
                stack.append(CONTAINER)
            elif op == 0x30:  # POP
                stack.pop()
            elif op == 0x31:  # POP_MARK
                stack = metastack.pop()
            elif op == 0x32:  # DUP
                stack.append(stack[-1])
            elif op in (0x70, 0x67):  # PUT, GET (decimal line)
                raw, pos = _line(buf, pos)
                key = int(raw)
                if key < 0:
                    raise MalformedPickle("negative memo key")
                if op == 0x70:
                    memo[key] = stack[-1]
                else:
                    stack.append(memo[key])
            elif op == 0x8A or op == 0x8B:  # LONG1, LONG4
                if op == 0x8A:
                    n, pos = buf[pos], pos + 1
                else:
                    n, pos = _I4(buf, pos)[0], pos + 4
                    if n < 0:
                        raise MalformedPickle("negative LONG4 length")
                pos += n
                if pos > end:
                    raise MalformedPickle("integer runs past the end")
                # exact when small (joblib sizes arrays by these); huge ones stay opaque
                stack.append(
                    int.from_bytes(buf[pos - n : pos], "little", signed=True) if n <= 16 else OPAQUE
                )
            elif op in (0x49, 0x4C, 0x46):  # INT, LONG, FLOAT (text)
                raw, pos = _line(buf, pos)
                if op == 0x46:
                    stack.append(float(raw))
                elif op == 0x49 and raw in (b"00", b"01"):
                    stack.append(raw == b"01")
                else:
                    stack.append(int(raw[:-1] if op == 0x4C and raw.endswith(b"L") else raw))
            elif op == 0x53:  # STRING
                raw, pos = _line(buf, pos)
                stack.append(_quoted(raw))
            elif op == 0x56:  # UNICODE
                raw, pos = _line(buf, pos)
                stack.append(raw.decode("raw-unicode-escape"))
            elif op == 0x50:  # PERSID
                _raw, pos = _line(buf, pos)
                stack.append(PERSISTENT)
            elif op in (0x82, 0x83, 0x84):  # EXT1, EXT2, EXT4
                width = {0x82: 1, 0x83: 2, 0x84: 4}[op]
                if pos + width > end:
                    raise MalformedPickle("extension code runs past the end")
                code = int.from_bytes(buf[pos : pos + width], "little")
                j.flag(
                    "pickle.import.extension",
                    f"imports extension code {code} from the copyreg registry, which a static "
                    "scan cannot resolve",
                    pos - 1,
                )
                pos += width
                stack.append(OPAQUE)
            elif op == 0x97:  # NEXT_BUFFER (out-of-band data)
                stack.append(Obj("buffer"))
            elif op == 0x98:  # READONLY_BUFFER
                _ = stack[-1]  # must exist
            else:
                raise MalformedPickle(f"unknown opcode 0x{op:02x}")


def _joblib_array(buf: bytes, pos: int, fields: list[Any], j: Judge, deadline: float) -> int:
    """Skip (or scan) the array joblib wrote after a NumpyArrayWrapper; the new offset.

    Sized exactly as joblib's ``read_array`` reads it: an object array is a full
    pickle (scanned with the same judge); otherwise an optional padding-length byte
    and its padding, then ``prod(shape) * itemsize`` bytes.
    """
    state = {as_name(k): v for k, v in zip(fields[::2], fields[1::2], strict=False)}
    shape, dtype = state.get("shape"), state.get("dtype")
    descr = dtype.info if dtype.__class__ is Obj else None
    match = _DESCR.fullmatch(descr) if isinstance(descr, str) else None
    if (
        match is None
        or shape.__class__ is not tuple
        or not all(d.__class__ is int and d >= 0 for d in shape)
    ):
        raise MalformedPickle("a joblib array whose size the scan cannot tell")
    if match.group(1) == "O":
        return _run(buf, pos, j, deadline)
    if state.get("numpy_array_alignment_bytes") is not None:
        pos += 1 + buf[pos]
    itemsize = int(match.group(2)) * (4 if match.group(1) == "U" else 1)  # "U" counts chars
    pos += math.prod(shape) * itemsize
    if pos > len(buf):
        raise MalformedPickle("a joblib array runs past the end")
    return pos


def _scan_one(data: bytes, offset: int, location: str, deadline: float) -> tuple[int, Judge]:
    j = Judge(location)
    try:
        end = _run(data, offset, j, deadline)
    except _DECODE_ERRORS as exc:
        j.finish()
        raise _Partial(str(exc) or type(exc).__name__, j) from None
    j.finish()
    return end, j


def scan_pickle_stream(
    data: bytes,
    location: str,
    report: Report,
    *,
    required: bool = True,
    depth: int = 0,
    deadline: float | None = None,
) -> int:
    """Scan every pickle in ``data`` into ``report``; how many were complete.

    Bytes after the last STOP that do not look like a pickle (the raw tensor data
    of a legacy torch checkpoint, numpy buffers after a joblib pickle) end the scan
    cleanly; a first pickle that does not decode makes the stream unscannable,
    unless ``required`` is false (raw data that merely resembled protocol 0).
    Nested checkpoints (``torch.storage._load_from_bytes``) are scanned in turn.
    """
    if deadline is None:
        deadline = time.monotonic() + TIME_BUDGET_S
    offset, count = 0, 0
    while offset < len(data):
        if count and len(data) - offset <= _BLANK_TAIL and not data[offset:].strip():
            break  # trailing whitespace (never copy a long tail just to look at it)
        try:
            offset, judge = _scan_one(data, offset, f"{location}#pickle{count}", deadline)
        except _Partial as exc:
            findings = exc.judge.findings
            serious = any(f.severity in (Severity.HIGH, Severity.CRITICAL) for f in findings)
            strong = data[offset : offset + 1] == b"\x80"
            if serious or strong or (count == 0 and required):
                report.findings.extend(findings)
                report.incomplete(
                    "pickle.malformed",
                    f"pickle {count} does not decode: {exc}",
                    f"{location}@{offset}",
                )
            else:
                report.add(
                    "pickle.trailing-data",
                    Severity.INFO,
                    f"{len(data) - offset} bytes of non-pickle data after the last pickle",
                    f"{location}@{offset}",
                )
            break
        report.findings.extend(judge.findings)
        _scan_nested(data, judge, report, depth, deadline)
        count += 1
    if count == 0 and report.complete:
        report.incomplete("pickle.empty", "no pickle in the stream", location)
    return count


def _scan_nested(data: bytes, judge: Judge, report: Report, depth: int, deadline: float) -> None:
    for blob, where in judge.nested:
        inner = bytes(data[blob.start : blob.end])
        if depth + 1 > MAX_NESTING:
            report.incomplete("pickle.nested.too-deep", "checkpoints nested too deeply", where)
        elif inner[:1] == b"\x80":
            scan_pickle_stream(inner, f"{where}:nested", report, depth=depth + 1, deadline=deadline)
        else:
            report.findings.append(
                Finding(
                    "pickle.nested.unscanned",
                    Severity.HIGH,
                    "a nested checkpoint that is not a pickle stream (torch.load would read it)",
                    where,
                )
            )
