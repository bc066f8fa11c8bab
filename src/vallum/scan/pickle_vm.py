"""A static simulation of the pickle VM: resolves every import, executes nothing.

``pickletools.genops`` decodes the opcodes (it never runs them); this module keeps
just enough of a stack and memo to know which ``module.qualname`` each GLOBAL,
STACK_GLOBAL or INST imports and what gets called (REDUCE, OBJ, NEWOBJ, INST).
Every pickle in a stream is scanned: after a STOP, the next bytes are read as
another pickle when they look like one.
"""

from __future__ import annotations

import io
import pickletools
import struct
from dataclasses import dataclass, field
from typing import Any

from vallum.scan import allowlist
from vallum.scan.verdict import Finding, Report, Severity


class MalformedPickle(Exception):
    """The stream is not a pickle the real VM could load to the end."""


_DECODE_ERRORS = (
    ValueError,
    IndexError,
    KeyError,
    EOFError,
    OverflowError,
    UnicodeError,
    struct.error,
    MalformedPickle,
)

_CONST_OPS = frozenset(
    {
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
        "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE",
        "BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
        "BYTEARRAY8", "FLOAT", "BINFLOAT",
    }
)  # fmt: skip
_SINGLETONS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_MEMO_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_MEMO_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})
_GETATTR = frozenset({"builtins.getattr", "__builtin__.getattr"})


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class Tup:
    items: tuple[Any, ...]


@dataclass(eq=False)
class Global:
    module: str
    name: str
    location: str
    safe_calls: int = 0
    unsafe_calls: int = 0

    @property
    def target(self) -> str:
        return allowlist.target(self.module, self.name)


@dataclass(frozen=True)
class BoundPrimitiveMethod:
    """``getattr(<literal>, 'public_name')``: a pure method of a str/bytes/number."""


class Opaque:
    """Any other value (objects, lists, dicts...)."""


_OPAQUE = Opaque()


@dataclass
class _Machine:
    location: str
    findings: list[Finding] = field(default_factory=list)
    stack: list[Any] = field(default_factory=list)
    metastack: list[list[Any]] = field(default_factory=list)
    memo: dict[int, Any] = field(default_factory=dict)
    deferred: list[Global] = field(default_factory=list)

    def pop(self) -> Any:
        if not self.stack:
            raise MalformedPickle("stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise MalformedPickle("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise MalformedPickle("no MARK on the stack")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def where(self, pos: int | None) -> str:
        return f"{self.location}@{pos}" if pos is not None else self.location

    def import_(self, module: str, name: str, pos: int | None) -> Global:
        g = Global(module, name, self.where(pos))
        if g.target in _GETATTR:
            self.deferred.append(g)  # judged on how it is called
        else:
            self.judge(g)
        return g

    def judge(self, g: Global) -> None:
        if allowlist.is_allowed(g.module, g.name):
            return
        critical = allowlist.is_denied(g.module, g.name)
        self.findings.append(
            Finding(
                "pickle.import.not-allowed",
                Severity.CRITICAL if critical else Severity.HIGH,
                f"imports {g.target}, which model formats do not need",
                g.location,
            )
        )

    def call(self, fn: Any, args: Any, pos: int | None) -> Any:
        if isinstance(fn, Global):
            if fn.target in _GETATTR:
                if _literal_attribute(args):
                    fn.safe_calls += 1
                    return BoundPrimitiveMethod()
                fn.unsafe_calls += 1
            return _OPAQUE
        if isinstance(fn, BoundPrimitiveMethod):
            return _OPAQUE
        self.findings.append(
            Finding(
                "pickle.call.unresolved",
                Severity.HIGH,
                "calls a value that is not a resolved import (e.g. the result of another call)",
                self.where(pos),
            )
        )
        return _OPAQUE

    def finish(self) -> None:
        for g in self.deferred:
            if g.unsafe_calls or not g.safe_calls:
                self.judge(g)


def _literal_attribute(args: Any) -> bool:
    if not isinstance(args, Tup) or len(args.items) != 2:
        return False
    obj, name = args.items
    return (
        isinstance(obj, Const)
        and isinstance(obj.value, str | bytes | int | float)
        and isinstance(name, Const)
        and isinstance(name.value, str)
        and name.value.isidentifier()
        and not name.value.startswith("_")
    )


def _step(m: _Machine, op: str, arg: Any, pos: int | None) -> bool:
    """Apply one opcode; True at STOP."""
    if op in _CONST_OPS:
        m.stack.append(Const(arg))
    elif op in _SINGLETONS:
        m.stack.append(Const(_SINGLETONS[op]))
    elif op == "MARK":
        m.metastack.append(m.stack)
        m.stack = []
    elif op == "EMPTY_TUPLE":
        m.stack.append(Tup(()))
    elif op in {"EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"}:
        m.stack.append(_OPAQUE)
    elif op == "TUPLE":
        items = m.pop_mark()  # replaces m.stack: pop before appending
        m.stack.append(Tup(tuple(items)))
    elif op in {"TUPLE1", "TUPLE2", "TUPLE3"}:
        n = int(op[-1])
        items = [m.pop() for _ in range(n)]
        m.stack.append(Tup(tuple(reversed(items))))
    elif op in {"LIST", "DICT", "FROZENSET"}:
        m.pop_mark()
        m.stack.append(_OPAQUE)
    elif op in {"APPENDS", "SETITEMS", "ADDITEMS"}:
        m.pop_mark()
        m.top()
    elif op == "APPEND":
        m.pop()
        m.top()
    elif op == "SETITEM":
        m.pop()
        m.pop()
        m.top()
    elif op == "POP":
        m.pop()
    elif op == "POP_MARK":
        m.pop_mark()
    elif op == "DUP":
        m.stack.append(m.top())
    elif op in _MEMO_PUT:
        m.memo[int(arg)] = m.top()
    elif op == "MEMOIZE":
        m.memo[len(m.memo)] = m.top()
    elif op in _MEMO_GET:
        if int(arg) not in m.memo:
            raise MalformedPickle(f"memo key {arg} was never stored")
        m.stack.append(m.memo[int(arg)])
    elif op == "GLOBAL":
        module, _, name = str(arg).partition(" ")
        m.stack.append(m.import_(module, name, pos))
    elif op == "STACK_GLOBAL":
        name, module = m.pop(), m.pop()
        if not (
            isinstance(name, Const)
            and isinstance(module, Const)
            and isinstance(name.value, str)
            and isinstance(module.value, str)
        ):
            m.findings.append(
                Finding(
                    "pickle.import.unresolved",
                    Severity.HIGH,
                    "STACK_GLOBAL with a module or name that is not a constant string",
                    m.where(pos),
                )
            )
            m.stack.append(_OPAQUE)
        else:
            m.stack.append(m.import_(module.value, name.value, pos))
    elif op == "INST":
        module, _, name = str(arg).partition(" ")
        items = m.pop_mark()
        g = m.import_(module, name, pos)
        m.stack.append(m.call(g, Tup(tuple(items)), pos))
    elif op == "OBJ":
        items = m.pop_mark()
        if not items:
            raise MalformedPickle("OBJ without a class")
        m.stack.append(m.call(items[0], Tup(tuple(items[1:])), pos))
    elif op in {"REDUCE", "NEWOBJ"}:
        args = m.pop()
        m.stack.append(m.call(m.pop(), args, pos))
    elif op == "NEWOBJ_EX":
        m.pop()
        args = m.pop()
        m.stack.append(m.call(m.pop(), args, pos))
    elif op == "BUILD":
        m.pop()
        m.top()
    elif op == "PERSID":
        m.stack.append(_OPAQUE)
    elif op == "BINPERSID":
        m.pop()
        m.stack.append(_OPAQUE)
    elif op in {"EXT1", "EXT2", "EXT4"}:
        m.findings.append(
            Finding(
                "pickle.import.unresolved",
                Severity.HIGH,
                f"imports extension code {arg}, which a static scan cannot resolve",
                m.where(pos),
            )
        )
        m.stack.append(_OPAQUE)
    elif op == "NEXT_BUFFER":
        m.stack.append(_OPAQUE)
    elif op in {"PROTO", "FRAME", "READONLY_BUFFER"}:
        return False  # framing and protocol markers: no effect on the stack
    elif op == "STOP":
        m.pop()
        return True
    else:
        raise MalformedPickle(f"unsupported opcode {op}")
    return False


def _scan_one(data: bytes, offset: int, location: str) -> tuple[int, list[Finding]]:
    """Scan the pickle starting at ``offset``; its end offset and findings.

    On a decode error, raises MalformedPickle carrying the findings so far.
    """
    stream = io.BytesIO(data)
    stream.seek(offset)
    m = _Machine(location)
    try:
        for opcode, arg, pos in pickletools.genops(stream):
            if _step(m, opcode.name, arg, pos):
                m.finish()
                return stream.tell(), m.findings
    except _DECODE_ERRORS as exc:
        m.finish()
        raise _Partial(str(exc), m.findings) from None
    m.finish()
    raise _Partial("pickle ended without STOP", m.findings)


class _Partial(MalformedPickle):
    def __init__(self, why: str, findings: list[Finding]) -> None:
        super().__init__(why)
        self.findings = findings


def scan_pickle_stream(data: bytes, location: str, report: Report, *, required: bool = True) -> int:
    """Scan every pickle in ``data`` into ``report``; how many were complete.

    Bytes after the last STOP that do not look like a pickle (the raw tensor data
    of a legacy torch checkpoint, numpy buffers after a joblib pickle) end the scan
    cleanly; a first pickle that does not decode makes the stream unscannable,
    unless ``required`` is false (raw data that merely resembled protocol 0).
    """
    offset, count = 0, 0
    while offset < len(data):
        rest = data[offset:]
        if count and not rest.strip():
            break
        try:
            offset, found = _scan_one(data, offset, f"{location}#pickle{count}")
        except _Partial as exc:
            serious = any(f.severity in (Severity.HIGH, Severity.CRITICAL) for f in exc.findings)
            strong = rest[:1] == b"\x80"
            if serious or strong or (count == 0 and required):
                report.findings.extend(exc.findings)
                report.incomplete(
                    "pickle.malformed",
                    f"pickle {count} does not decode: {exc}",
                    f"{location}@{offset}",
                )
            else:
                report.add(
                    "pickle.trailing-data",
                    Severity.INFO,
                    f"{len(rest)} bytes of non-pickle data after the last pickle",
                    f"{location}@{offset}",
                )
            break
        report.findings.extend(found)
        count += 1
    if count == 0 and report.complete:
        report.incomplete("pickle.empty", "no pickle in the stream", location)
    return count
