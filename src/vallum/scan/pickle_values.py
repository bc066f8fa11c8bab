"""What the static pickle VM knows about each value, and how calls are judged.

Values on the simulated stack are plain Python ``str``/``int``/``float``/``bool``/
``None`` for constants, ``tuple`` for tuples, and the classes below for the rest.
The dataflow that matters is the *provenance* of callables and of the arguments
of the few allowlisted functions that look things up (``getattr``,
``copyreg._reconstructor``, ``torch.storage._load_from_bytes``...): a lookup is
harmless only when what it reaches is itself on the allowlist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vallum.scan import allowlist
from vallum.scan.verdict import Finding, Severity

#: Strings longer than this are not decoded (they cannot be import names).
MAX_NAME_CHARS = 4096
#: Findings kept per pickle (repeats of the same finding are kept once).
MAX_FINDINGS = 1000


class Global:
    """The object a GLOBAL / STACK_GLOBAL / INST resolved to (a class or function)."""

    __slots__ = ("location", "module", "name", "target")

    def __init__(self, module: str, name: str, location: str) -> None:
        self.module = module
        self.name = name
        self.target = allowlist.target(module, name)
        self.location = location

    def __repr__(self) -> str:
        return f"Global({self.target})"


class Obj:
    """Something a call or a container op produced; ``origin`` is the callee's target.

    ``info`` keeps the one detail some values need later (a numpy dtype's descr).
    """

    __slots__ = ("info", "origin")

    def __init__(self, origin: str, info: Any = None) -> None:
        self.origin = origin
        self.info = info


class BoundMethod:
    """``getattr(value, 'public_name')`` on a constant or a constructed object."""

    __slots__ = ("name", "on_constant")

    def __init__(self, on_constant: bool, name: str) -> None:
        self.on_constant = on_constant
        self.name = name


#: Methods of constants that reach into their arguments (``"{0.x}".format(obj)``
#: looks up attributes and items, which can run a defaultdict factory).
REACHING_METHODS = frozenset({"format", "format_map"})


class Blob:
    """A bytes constant: where it lies in the buffer, never a copy."""

    __slots__ = ("end", "start")

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end


class LongStr:
    """A string constant too long to be an import name (not decoded)."""

    __slots__ = ()


OPAQUE = Obj("")  # a value nothing is known about
CONTAINER = Obj("container")  # lists, dicts, sets built by the pickle itself
PERSISTENT = Obj("persistent")  # what the loader's persistent_load returns (torch storages)
LONG_STR = LongStr()


@dataclass
class Judge:
    """Findings for one pickle, plus the nested payloads to scan afterwards."""

    location: str
    findings: list[Finding] = field(default_factory=list)
    nested: list[tuple[Blob, str]] = field(default_factory=list)
    pending_getattr: list[Global] = field(default_factory=list)
    sensitive: list[Global] = field(default_factory=list)
    used_getattr: set[int] = field(default_factory=set)
    seen_tuples: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    seen_findings: set[tuple[str, str]] = field(default_factory=set)

    def where(self, pos: int) -> str:
        return f"{self.location}@{pos}"

    def add(self, finding: Finding) -> None:
        """Record a finding once per rule and message, at most ``MAX_FINDINGS`` of them."""
        key = (finding.rule, finding.message)
        if key in self.seen_findings:
            return
        self.seen_findings.add(key)
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)
        elif len(self.findings) == MAX_FINDINGS:
            self.findings.append(
                Finding("pickle.findings-truncated", Severity.INFO, "further findings omitted", "")
            )

    def flag(self, rule: str, message: str, pos: int, severity: Severity = Severity.HIGH) -> None:
        self.add(Finding(rule, severity, message, self.where(pos)))

    def import_(self, module: str, name: str, pos: int) -> Global:
        g = Global(module, name, self.where(pos))
        if g.target in GETATTR:
            self.pending_getattr.append(g)  # judged on how it is used
            self.sensitive.append(g)
        else:
            self.judge_target(g.module, g.name, g.location)
            if g.target in allowlist.CALLEE_ONLY:
                self.sensitive.append(g)
        return g

    def judge_target(self, module: str, name: str, location: str) -> bool:
        if allowlist.is_allowed(module, name):
            return True
        critical = allowlist.is_denied(module, name)
        self.add(
            Finding(
                "pickle.import.not-allowed",
                Severity.CRITICAL if critical else Severity.HIGH,
                f"imports {allowlist.target(module, name)}, which model formats do not need",
                location,
            )
        )
        return False

    def escape(self, value: Any) -> None:
        """``value`` flows somewhere other than the callee slot of a call.

        ``getattr`` and the allowlisted callables that are only harmless with the
        arguments the VM checks (``allowlist.CALLEE_ONLY``) must not be handed to
        other code (``_rebuild_from_type_v2(func, ...)``, numpy's
        ``__randomstate_ctor(name, ctor)`` call what they are given, unchecked).
        Without such an import there is nothing to do. Shared sub-tuples are walked
        once (no exponential blow-up on memoised tuples).
        """
        if not self.sensitive:
            return
        todo = list(value) if value.__class__ is list else [value]
        while todo:
            v = todo.pop()
            if v.__class__ is tuple:
                if v and id(v) not in self.seen_tuples:
                    self.seen_tuples[id(v)] = v  # keeps it alive so the id stays unique
                    todo.extend(v)
            elif v.__class__ is Global and v.target in GETATTR:
                self.add(
                    Finding(
                        "pickle.getattr.escapes",
                        Severity.CRITICAL,
                        f"{v.target} is passed around instead of called on a constant",
                        v.location,
                    )
                )
                self.used_getattr.add(id(v))
            elif v.__class__ is BoundMethod and (not v.on_constant or v.name in REACHING_METHODS):
                self.add(
                    Finding(
                        "pickle.call.escapes",
                        Severity.HIGH,
                        f"a method ({v.name}) of a loaded object is handed to other code, "
                        "which may call it",
                        self.location,
                    )
                )
            elif v.__class__ is Global and v.target in allowlist.CALLEE_ONLY:
                self.add(
                    Finding(
                        "pickle.call.escapes",
                        Severity.CRITICAL,
                        f"{v.target} is handed to other code, which calls it unchecked",
                        v.location,
                    )
                )

    def finish(self) -> None:
        """``getattr`` imported but never called: the loader may call it later."""
        for g in self.pending_getattr:
            if id(g) not in self.used_getattr:
                self.add(
                    Finding(
                        "pickle.import.not-allowed",
                        Severity.CRITICAL,
                        f"imports {g.target} without calling it on a constant",
                        g.location,
                    )
                )

    def call(self, fn: Any, args: Any, pos: int, kwargs: Any = None) -> Any:
        """REDUCE / NEWOBJ / OBJ / INST: ``fn(*args)``; the value it yields."""
        if kwargs is not None:
            self.escape(kwargs)
        cls = fn.__class__
        if cls is Global:
            handler = GUARDED.get(fn.target)
            if handler is not None:
                return handler(self, fn, args, pos)
            self.escape(args)
            return Obj(fn.target)
        self.escape(args)
        if cls is BoundMethod and fn.on_constant and fn.name not in REACHING_METHODS:
            return Obj("")  # e.g. "abc".upper(): a pure method of a str/bytes/number
        self.flag(
            "pickle.call.unresolved",
            "calls a value that is not an allowlisted import (e.g. the result of a call "
            "or a method of a loaded object)",
            pos,
        )
        return Obj("")


GETATTR = frozenset({"builtins.getattr", "__builtin__.getattr"})


def as_name(value: Any) -> str | None:
    """A string constant as the unpickler would decode it; None for anything else.

    String opcodes are kept as the raw UTF-8 ``bytes`` until used as a name.
    """
    if value.__class__ is str:
        return str(value)
    if value.__class__ is bytes:
        try:
            return bytes(value).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return None
    return None


def _public(name: str | None) -> bool:
    return name is not None and name.isidentifier() and not name.startswith("_")


def _getattr(j: Judge, fn: Global, args: Any, pos: int) -> Any:
    """``getattr(obj, name)``: harmless only when it reaches nothing new.

    On a constant str/bytes/number or a constructed object with a public name it
    is a bound method (calling the latter is flagged). On an import it *is* an
    import of the dotted target, judged against the allowlist. Anything else
    (modules reached via calls, dunders, computed names) is a finding.
    """
    j.used_getattr.add(id(fn))
    if args.__class__ is not tuple or len(args) != 2:
        j.escape(args)
        j.flag("pickle.getattr.unresolved", "getattr with arguments the scan cannot resolve", pos)
        return Obj("")
    obj, raw_name = args
    name = as_name(raw_name)
    if name is None or not _public(name):
        j.escape(obj)
        j.flag(
            "pickle.getattr.unresolved",
            f"getattr with a non-public or computed attribute name {_show(raw_name)}",
            pos,
            Severity.CRITICAL,
        )
        return Obj("")
    ocls = obj.__class__
    if ocls in (str, bytes, int, float, bool, Blob):
        return BoundMethod(on_constant=True, name=name)
    if ocls is Global:
        if obj.target in GETATTR:
            j.escape(obj)
            return Obj("")
        ok = j.judge_target(obj.module, f"{obj.name}.{name}", j.where(pos))
        return Global(obj.module, f"{obj.name}.{name}", j.where(pos)) if ok else Obj("")
    if ocls is Obj and obj.origin:
        return BoundMethod(on_constant=False, name=name)
    j.flag(
        "pickle.getattr.unresolved",
        f"getattr({_show(name)}) on a value the scan cannot tie to an allowlisted import",
        pos,
        Severity.CRITICAL,
    )
    return Obj("")


def _lookup_by_name(j: Judge, fn: Global, args: Any, pos: int) -> Any:
    """``_ufunc_reconstruct(module, name)`` imports ``module.name``: judge that."""
    names = [as_name(a) for a in args] if args.__class__ is tuple and len(args) == 2 else []
    if len(names) == 2 and names[0] is not None and names[1] is not None:
        module, name = names[0], names[1]
        if j.judge_target(module, name, j.where(pos)):
            return Global(module, name, j.where(pos))
        return Obj("")
    j.escape(args)
    j.flag("pickle.import.unresolved", f"{fn.target} with a computed import name", pos)
    return Obj("")


def _class_args(j: Judge, fn: Global, args: Any, pos: int) -> Any:
    """copyreg helpers: their first arguments must be classes from the allowlist."""
    if args.__class__ is not tuple or not args or args[0].__class__ is not Global:
        j.escape(args)
        j.flag("pickle.call.unresolved", f"{fn.target} on a class the scan cannot resolve", pos)
        return Obj("")
    if fn.target.endswith("_reconstructor") and len(args) >= 2:
        base = args[1]
        if base.__class__ is not Global or base.target not in allowlist.RECONSTRUCTOR_BASES:
            j.flag("pickle.call.unresolved", f"{fn.target} with an unexpected base type", pos)
        j.escape(args[2:])
    else:
        j.escape(args[1:])
    return Obj(args[0].target)


def _load_from_bytes(j: Judge, fn: Global, args: Any, pos: int) -> Any:
    """``torch.storage._load_from_bytes(b)`` runs ``torch.load`` on ``b``: scan it too."""
    if args.__class__ is tuple and len(args) == 1 and args[0].__class__ is Blob:
        j.nested.append((args[0], j.where(pos)))
        return Obj(fn.target)
    j.escape(args)
    j.flag("pickle.nested.unresolved", f"{fn.target} on data that is not a constant", pos)
    return Obj("")


#: The encodings protocol 2 uses for bytes; other codecs load modules by name.
PLAIN_CODECS = frozenset({"latin1", "latin-1", "latin_1", "iso-8859-1", "utf-8", "utf8", "ascii"})


def _codecs_encode(j: Judge, fn: Global, args: Any, pos: int) -> Any:
    """``_codecs.encode(text, "latin1")``: how protocol 2 pickles bytes; nothing else."""
    j.escape(args)
    codec = as_name(args[1]) if args.__class__ is tuple and len(args) == 2 else None
    if codec is None or codec.lower() not in PLAIN_CODECS:
        j.flag("pickle.call.unresolved", f"{fn.target} with codec {_show(codec)}", pos)
    return Obj(fn.target)


def _dtype(j: Judge, fn: Global, args: Any, pos: int) -> Any:
    """``numpy.dtype(descr, align, copy)``: keep the descr (joblib sizes arrays by it)."""
    j.escape(args)
    descr = as_name(args[0]) if args.__class__ is tuple and args else None
    return Obj(fn.target, descr)


def _show(value: Any) -> str:
    name = as_name(value)
    if name is not None:
        return repr(name[:64])
    return f"<{type(value).__name__}>"


Handler = Callable[[Judge, Global, Any, int], Any]

GUARDED: dict[str, Handler] = {
    **dict.fromkeys(GETATTR, _getattr),
    **dict.fromkeys(allowlist.LOOKUP_BY_NAME, _lookup_by_name),
    **dict.fromkeys(allowlist.CLASS_FACTORIES, _class_args),
    **dict.fromkeys(allowlist.NESTED_LOADERS, _load_from_bytes),
    "numpy.dtype": _dtype,
    "_codecs.encode": _codecs_encode,
}
