"""Which pickle imports real model formats need, and which are plainly hostile.

Anything not allowed is unsafe; the denylist only raises the severity to critical.
Targets are judged on the full dotted path ``module.qualname``.
"""

from __future__ import annotations

#: Exact ``module.qualname`` targets that torch, numpy, sklearn/joblib and plain
#: data pickles import.
ALLOWED: frozenset[str] = frozenset(
    {
        # builtins (containers and plain values only)
        "builtins.set",
        "builtins.frozenset",
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
        "builtins.slice",
        "builtins.bytearray",
        "builtins.complex",
        "builtins.bytes",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "__builtin__.set",
        "__builtin__.frozenset",
        "collections.OrderedDict",
        "collections.defaultdict",
        "_codecs.encode",  # how protocol 2 pickles bytes
        "datetime.datetime",
        "datetime.date",
        "datetime.timedelta",
        # torch
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_qtensor",
        "torch._tensor._rebuild_from_type_v2",
        "torch.device",
        "torch.dtype",
        "torch.Size",
        "torch.Tensor",
        "torch.nn.parameter.Parameter",
        # numpy
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.ndarray",
        "numpy.dtype",
        # joblib
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
    }
)

#: Modules whose *classes* (CamelCase name, no dots) may be imported; never their
#: functions.
CLASS_MODULE_PREFIXES: tuple[str, ...] = ("sklearn.",)

#: ``torch.<X>Storage`` and the torch dtypes.
_TORCH_STORAGE_SUFFIX = "Storage"

#: Modules whose import means code execution, system access or more loading.
DENIED_MODULES: frozenset[str] = frozenset(
    {
        "os",
        "posix",
        "nt",
        "subprocess",
        "runpy",
        "pip",
        "importlib",
        "socket",
        "shutil",
        "sys",
        "webbrowser",
        "pickle",
        "_pickle",
        "marshal",
        "pty",
        "commands",
        "ctypes",
        "code",
        "codeop",
        "pdb",
        "timeit",
        "multiprocessing",
        "asyncio",
        "http",
        "urllib",
        "requests",
        "ftplib",
        "telnetlib",
        "smtplib",
        "tempfile",
        "dill",
        "cloudpickle",
    }
)

DENIED_TARGETS: frozenset[str] = frozenset(
    {
        f"{mod}.{name}"
        for mod in ("builtins", "__builtin__")
        for name in (
            "eval",
            "exec",
            "execfile",
            "compile",
            "getattr",
            "setattr",
            "delattr",
            "__import__",
            "open",
            "input",
            "breakpoint",
            "globals",
            "locals",
            "vars",
        )
    }
    | {"operator.attrgetter", "operator.methodcaller", "operator.itemgetter", "types.CodeType"}
    | {"types.FunctionType", "functools.partial", "numpy.load", "torch.load"}
)


def target(module: str, name: str) -> str:
    return f"{module}.{name}"


def is_allowed(module: str, name: str) -> bool:
    full = target(module, name)
    if full in ALLOWED:
        return True
    if module == "torch" and name.endswith(_TORCH_STORAGE_SUFFIX) and name.isidentifier():
        return True
    return (
        module.startswith(CLASS_MODULE_PREFIXES)
        and "." not in name
        and name.isidentifier()
        and name[:1].isupper()
        and all(part.isidentifier() and not part.startswith("__") for part in module.split("."))
    )


def is_denied(module: str, name: str) -> bool:
    full = target(module, name)
    root = full.split(".", 1)[0]
    return root in DENIED_MODULES or full in DENIED_TARGETS or module in DENIED_MODULES
