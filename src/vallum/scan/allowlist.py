"""Which pickle imports real model formats need, and which are plainly hostile.

Anything not allowed is unsafe; the denylist only raises the severity to critical.
Targets are judged on the full dotted path ``module.qualname`` after the same
Python 2 name mapping the unpickler applies (``__builtin__`` -> ``builtins``...).
A handful of allowed callables look other things up; the VM checks their
arguments (``pickle_values.GUARDED``): ``getattr`` may only reach allowlisted
targets or methods of constants, ``copyreg._reconstructor`` only allowlisted
classes, and the bytes given to ``torch.storage._load_from_bytes`` are scanned
as a nested checkpoint.

Deliberately absent (and never to be added): ``functools.partial``,
``operator.attrgetter``/``methodcaller``/``itemgetter``, ``builtins.eval``/``exec``/
``compile``/``__import__``/``open``/``setattr``, ``importlib``, ``runpy``, ``code``,
``pty``, ``os``/``posix``/``nt``, ``subprocess``, ``sys``, ``socket``, ``shutil``, ``pip``,
``webbrowser``, ``asyncio``, ``torch.hub``, ``torch.load``, ``torch._ops``,
``torch.fx`` (``reduce_graph_module`` compiles code), ``torch.jit``, ``torch.package``,
``numpy.testing``, ``numpy.f2py``, ``numpy.distutils``, ``numpy.load``, ``pickle``,
``marshal``, ``dill``, ``joblib.load``...
"""

from __future__ import annotations

from functools import lru_cache

_BUILTIN_TYPES = (
    "set", "frozenset", "dict", "list", "tuple", "slice", "bytearray", "complex",
    "bytes", "str", "int", "float", "bool", "range", "object",
)  # fmt: skip

_TORCH_DTYPES = (
    "float32", "float", "float64", "double", "float16", "half", "bfloat16",
    "complex32", "chalf", "complex64", "cfloat", "complex128", "cdouble",
    "uint8", "uint16", "uint32", "uint64", "int8", "int16", "short", "int32", "int",
    "int64", "long", "bool", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
    "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
    # layouts, memory formats and quantisation schemes pickle by name too
    "strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc",
    "_mkldnn", "contiguous_format", "channels_last", "channels_last_3d",
    "preserve_format", "per_tensor_affine", "per_channel_affine",
    "per_tensor_symmetric", "per_channel_symmetric", "per_channel_affine_float_qparams",
)  # fmt: skip

_TORCH_REBUILD = (
    "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
    "_rebuild_parameter_with_state", "_rebuild_sparse_tensor", "_rebuild_nested_tensor",
    "_rebuild_qtensor", "_rebuild_device_tensor_from_numpy", "_rebuild_meta_tensor_no_storage",
    "_rebuild_wrapper_subclass", "_rebuild_xla_tensor", "_rebuild_mlc_tensor",
    "_rebuild_device_tensor_from_cpu_tensor",
)  # fmt: skip

_NUMPY_CORE = ("numpy.core", "numpy._core")

#: numpy scalar types (estimators keep them as ``dtype=`` parameters).
_NUMPY_SCALARS = (
    "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "intp", "uintp", "float16", "float32", "float64", "longdouble", "complex64",
    "complex128", "clongdouble", "str_", "bytes_", "object_", "datetime64", "timedelta64",
    "void", "number", "integer", "floating", "generic",
)  # fmt: skip

#: numpy ufuncs that pickle by name (pure element-wise math, e.g. a FunctionTransformer's func).
_NUMPY_UFUNCS = (
    "absolute", "abs", "add", "subtract", "multiply", "divide", "true_divide", "floor_divide",
    "negative", "positive", "power", "square", "sqrt", "cbrt", "reciprocal", "sign", "exp",
    "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin", "arccos",
    "arctan", "arctan2", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "floor",
    "ceil", "rint", "trunc", "maximum", "minimum", "fmax", "fmin", "isnan", "isfinite",
    "isinf", "logical_and", "logical_or", "logical_not", "logical_xor", "equal", "not_equal",
    "less", "less_equal", "greater", "greater_equal", "mod", "remainder", "hypot", "logaddexp",
)  # fmt: skip

_SCIPY_SPARSE_MODULES = (
    "", "._csr", "._csc", "._coo", "._lil", "._dok", "._dia", "._bsr", ".csr", ".csc", ".coo",
)  # fmt: skip

#: Exact ``module.qualname`` targets that torch, numpy, scipy, sklearn/joblib and
#: plain data pickles import.
ALLOWED: frozenset[str] = frozenset(
    {f"builtins.{t}" for t in _BUILTIN_TYPES}
    | {
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.deque",
        "collections.Counter",
        "_codecs.encode",  # how protocol 2 pickles bytes
        "copyreg._reconstructor",  # protocol 0/1 objects; arguments checked by the VM
        "copyreg.__newobj__",
        "copyreg.__newobj_ex__",
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        "argparse.Namespace",  # training arguments saved in many checkpoints
        "pathlib.PosixPath",
        "pathlib.PurePosixPath",
        "pathlib.WindowsPath",
        "pathlib.PureWindowsPath",
        "re._compile",
        # torch
        *(f"torch._utils.{n}" for n in _TORCH_REBUILD),
        "torch._tensor._rebuild_from_type",
        "torch._tensor._rebuild_from_type_v2",
        "torch.storage._load_from_bytes",  # its bytes are scanned as a nested checkpoint
        "torch.serialization._get_layout",  # how a torch.layout pickles (a dict lookup)
        "torch.storage.UntypedStorage",
        "torch.storage.TypedStorage",
        "torch.storage._LegacyStorage",
        "torch.UntypedStorage",
        "torch.TypedStorage",
        "torch.device",
        "torch.dtype",
        "torch.Size",
        "torch.Tensor",
        "torch._tensor.Tensor",
        "torch.nn.parameter.Parameter",
        "torch.nn.parameter.Buffer",
        "torch.nn.parameter.UninitializedParameter",
        "torch.nn.parameter.UninitializedBuffer",
        "torch.torch_version.TorchVersion",
        *(f"torch.{n}" for n in _TORCH_DTYPES),
        # numpy
        *(f"{core}.multiarray._reconstruct" for core in _NUMPY_CORE),
        *(f"{core}.multiarray.scalar" for core in _NUMPY_CORE),
        *(f"{core}.numeric._frombuffer" for core in _NUMPY_CORE),
        *(f"{core}._ufunc_reconstruct" for core in _NUMPY_CORE),  # name judged by the VM
        *(f"{core}._internal._ufunc_reconstruct" for core in _NUMPY_CORE),
        "numpy.ndarray",
        "numpy.dtype",
        *(f"numpy.{t}" for t in _NUMPY_SCALARS + _NUMPY_UFUNCS),
        "numpy.ma.core._mareconstruct",
        "numpy.ma.core.MaskedArray",
        "numpy.ma.MaskedArray",
        "numpy.matrix",
        "numpy.matrixlib.defmatrix.matrix",
        "numpy.random.bit_generator.SeedSequence",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",  # class argument checked
        "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64",
        "numpy.random._pcg64.PCG64DXSM",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random.mtrand.RandomState",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._generator.Generator",
        # scipy sparse matrices inside scikit-learn models
        *(
            f"scipy.sparse{sub}.{kind}_{shape}"
            for sub in (
                *("", "._csr", "._csc", "._coo", "._lil"),
                *("._dok", "._dia", "._bsr"),
                ".csr",
                ".csc",
                ".coo",
            )
            for kind in ("csr", "csc", "coo", "lil", "dok", "dia", "bsr")
            for shape in ("matrix", "array")
            if sub.strip("._") in ("", kind)
        ),
        # scikit-learn's Cython ``newObj(cls)`` helpers (class argument checked)
        "sklearn.neighbors._kd_tree.newObj",
        "sklearn.neighbors._ball_tree.newObj",
        "sklearn.metrics._dist_metrics.newObj",
        # joblib
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
    }
)

#: Modules whose *classes* (CamelCase name, no dots) may be imported; never their
#: functions. Instantiating these runs no code beyond ``__new__``/``__setstate__``.
CLASS_MODULE_PREFIXES: tuple[str, ...] = (
    "sklearn.",
    "torch.nn.modules.",
    "numpy.dtypes",
)

#: Sub-packages under those prefixes that hold helpers, not model classes.
CLASS_MODULE_EXCLUDED: tuple[str, ...] = (
    "sklearn.utils._testing",
    "sklearn.utils._show_versions",
    "sklearn.externals",
    "sklearn.datasets",
    "sklearn.experimental",
)

#: Callables whose two constant arguments name another import (judged in turn).
LOOKUP_BY_NAME: frozenset[str] = frozenset(t for t in ALLOWED if t.endswith("._ufunc_reconstruct"))
#: Callables whose first argument must be an allowlisted class.
CLASS_FACTORIES: frozenset[str] = frozenset(
    {
        "copyreg._reconstructor",
        "copyreg.__newobj__",
        "copyreg.__newobj_ex__",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "sklearn.neighbors._kd_tree.newObj",
        "sklearn.neighbors._ball_tree.newObj",
        "sklearn.metrics._dist_metrics.newObj",
    }
)
#: The only base types ``copyreg._reconstructor`` may be given.
RECONSTRUCTOR_BASES: frozenset[str] = frozenset(
    {f"builtins.{t}" for t in ("object", "dict", "list", "set", "tuple", "str", "int", "float")}
)
#: Callables that load a nested checkpoint from a bytes argument.
NESTED_LOADERS: frozenset[str] = frozenset({"torch.storage._load_from_bytes"})

#: Allowlisted callables that are harmless only as the callee the VM checks; passed
#: as data to other code they are findings (``getattr`` is handled alike).
CALLEE_ONLY: frozenset[str] = LOOKUP_BY_NAME | CLASS_FACTORIES | NESTED_LOADERS

#: Modules whose import means code execution, system access or more loading.
DENIED_MODULES: frozenset[str] = frozenset(
    {
        "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "runpy", "pip", "importlib",
        "pkgutil", "socket", "shutil", "sys", "webbrowser", "pickle", "_pickle", "marshal", "pty",
        "commands", "ctypes", "_ctypes", "code", "codeop", "pdb", "bdb", "timeit", "trace",
        "cProfile", "profile", "pydoc", "idlelib", "lib2to3", "venv", "ensurepip", "distutils",
        "setuptools", "multiprocessing", "concurrent", "threading", "_thread", "asyncio",
        "http", "urllib", "requests", "httpx", "ftplib", "telnetlib", "smtplib", "tempfile",
        "glob", "io", "_io", "builtins", "__builtin__", "functools", "operator", "_operator",
        "types", "inspect", "dill", "cloudpickle", "joblib", "shelve", "dbm", "zipimport",
        "signal", "resource", "gc", "atexit", "sysconfig", "site", "platform", "logging",
        "tarfile", "zipfile", "imp", "_posixsubprocess", "uuid", "xmlrpc", "smtpd",
    }
)  # fmt: skip

#: Denied sub-modules and targets inside otherwise allowed packages.
DENIED_PREFIXES: tuple[str, ...] = (
    "torch.hub", "torch.load", "torch.serialization", "torch._ops", "torch.ops",
    "torch.fx", "torch.jit", "torch.package", "torch.utils", "torch._inductor",
    "torch._dynamo", "torch.distributed", "torch.multiprocessing", "torch.cuda",
    "torch.backends", "torch._C", "torch.compile", "torch.library", "torch.export",
    "numpy.testing", "numpy.f2py", "numpy.distutils", "numpy.load", "numpy.lib.npyio",
    "numpy.ctypeslib", "numpy.fromfile", "numpy.memmap", "numpy.save",
    "keras.", "tensorflow.", "sklearn.utils._testing", "scipy.weave",
)  # fmt: skip


def target(module: str, name: str) -> str:
    return f"{module}.{name}"


@lru_cache(maxsize=4096)
def is_allowed(module: str, name: str) -> bool:
    full = target(module, name)
    if full in ALLOWED:
        return True
    if module == "torch" and name.endswith("Storage") and name.isidentifier():
        return "." not in name and name[:1].isupper()
    return (
        module.startswith(CLASS_MODULE_PREFIXES)
        and not module.startswith(CLASS_MODULE_EXCLUDED)
        and "." not in name
        and name.isidentifier()
        and not name.startswith("__")
        and name.lstrip("_")[:1].isupper()  # a class, public or private (_BinMapper)
        and all(part.isidentifier() and not part.startswith("__") for part in module.split("."))
    )


@lru_cache(maxsize=4096)
def is_denied(module: str, name: str) -> bool:
    full = target(module, name)
    parts = full.split(".")
    return (
        any(".".join(parts[:i]) in DENIED_MODULES for i in range(1, len(parts)))
        or full.startswith(DENIED_PREFIXES)
        or module in DENIED_MODULES
    )
