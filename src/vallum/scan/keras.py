"""Keras: v3 ``.keras`` zips (config.json, metadata.json, model.weights.h5) and legacy H5.

The whole config is walked: Lambda layers (marshalled bytecode) and file-reading
layers are findings; every ``module`` must be a Keras built-in module, every
``class_name`` a built-in class, every function reference a built-in function;
any other string holding ``__`` is a finding. HDF5 files are opened read-only with
h5py (which never unpickles); every attribute of every group and dataset is read,
JSON configs among them are walked, and external links, external storage and
virtual datasets (which make a loader read other files) are findings.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any

from vallum.scan import keras_allowlist as allow
from vallum.scan.archive import read_member
from vallum.scan.job import Job, MemoryReader
from vallum.scan.verdict import Report, Severity

MAX_JSON = 64 << 20
_CONFIG_ATTRS = ("model_config", "training_config")


def _module_allowed(module: str) -> bool:
    if module in allow.MODULES:
        return True
    parts = module.split(".")
    return len(parts) >= 3 and parts[:2] == ["keras", "src"] and parts[2] in allow.SRC_PACKAGES


def _family(module: str) -> str:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["keras", "src"] and len(parts) > 2 else parts[-1]


def check_config(config: Any, location: str, report: Report, *, max_nodes: int = 1_000_000) -> None:
    """Walk a Keras config (any JSON value) and report what it may not reference."""
    stack: list[tuple[Any, str]] = [(config, location)]
    seen = 0
    while stack:
        obj, where = stack.pop()
        seen += 1
        if seen > max_nodes:
            report.incomplete("keras.config-too-large", "config has too many nodes", location)
            return
        if isinstance(obj, dict):
            _check_object(obj, where, report)
            for key, value in obj.items():
                if isinstance(key, str) and "__" in key and key not in allow.MARKERS:
                    report.add("keras.dunder", Severity.HIGH, f"key {key[:60]!r}", where)
                stack.append((value, f"{where}/{key}"))
        elif isinstance(obj, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(obj))
        elif isinstance(obj, str) and "__" in obj and obj not in allow.MARKERS:
            report.add("keras.dunder", Severity.HIGH, f"string {obj[:60]!r}", where)


def _check_object(obj: dict[str, Any], where: str, report: Report) -> None:
    class_name = obj.get("class_name")
    module = obj.get("module")
    config = obj.get("config")
    if class_name in allow.CODE_LAYERS or class_name == "__lambda__":
        code = isinstance(config, dict) and ("function" in config or "code" in config)
        report.add(
            "keras.lambda" if class_name != "TFSMLayer" else "keras.loads-file",
            Severity.CRITICAL if code or class_name == "__lambda__" else Severity.HIGH,
            f"{class_name} layer runs code or reads files at load or call time",
            where,
        )
    elif obj.get("function_type") in ("lambda", "raw"):
        report.add("keras.lambda", Severity.CRITICAL, "marshalled Python function", where)
    elif (
        isinstance(class_name, str)
        and class_name not in allow.MARKERS
        and class_name not in allow.CLASSES
        and "__" not in class_name
    ):
        report.incomplete(
            "keras.class-unknown",
            f"class {class_name[:60]!r} is not a Keras built-in (custom code)",
            where,
        )
    if module is not None and not (isinstance(module, str) and _module_allowed(module)):
        report.add(
            "keras.module-not-allowed",
            Severity.HIGH,
            f"module {str(module)[:80]!r} is not a Keras built-in module",
            where,
        )
    if class_name == "function":
        name_ok = isinstance(config, str) and config.isidentifier() and not config.startswith("_")
        family_ok = isinstance(module, str) and _family(module) in allow.FUNCTION_FAMILIES
        if not (name_ok and family_ok):
            report.add(
                "keras.function-not-allowed",
                Severity.HIGH,
                f"function {str(config)[:60]!r} from {str(module)[:60]!r}",
                where,
            )
    registered = obj.get("registered_name")
    if isinstance(registered, str) and ">" in registered:
        report.incomplete(
            "keras.custom-object",
            f"registered custom object {registered[:80]!r} (code outside the file)",
            where,
        )


def _json(raw: bytes, location: str, report: Report) -> Any:
    if len(raw) > MAX_JSON:
        report.incomplete("keras.config-too-large", "JSON larger than the limit", location)
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        report.incomplete("keras.config-json", "not UTF-8 JSON", location)
        return None


def scan_keras_zip(
    job: Job, data: memoryview, zf: zipfile.ZipFile, location: str, depth: int
) -> str:
    """A Keras v3 archive: config and metadata walked, every other member scanned."""
    report = job.report
    names = [i.filename for i in zf.infolist()]
    if "config.json" not in names:
        report.incomplete("keras.no-config", "archive has no config.json", location)
    for info in zf.infolist():
        if info.is_dir():
            continue
        where = f"{location}:{info.filename}"
        body = read_member(data, info, location, report, job)
        if body is None:
            continue
        if info.filename in ("config.json", "metadata.json"):
            parsed = _json(bytes(body), where, report)
            if parsed is not None:
                check_config(parsed, where, report, max_nodes=job.limits.max_config_nodes)
        elif info.filename.startswith("assets/"):
            report.add("keras.asset", Severity.INFO, "asset file (data, not loaded as code)", where)
        else:
            job.inner(memoryview(body), where, depth + 1)
    return "keras"


def scan_h5(job: Job, data: memoryview, location: str) -> str:
    """HDF5 (Keras H5 models and weights) read with h5py; nothing is unpickled."""
    import h5py  # imported late: numpy and libhdf5 only when an HDF5 file is scanned

    report = job.report
    try:
        with h5py.File(MemoryReader(data), "r") as f:
            _H5Walk(job, location, h5py).group(f, "/")
            is_model = "model_config" in f.attrs
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, IndexError) as exc:
        report.incomplete("hdf5.malformed", f"HDF5 does not open: {exc}", location)
        return "hdf5"
    return "keras-h5" if is_model else "hdf5"


class _H5Walk:
    def __init__(self, job: Job, location: str, h5py: Any) -> None:
        self.job = job
        self.location = location
        self.h5py = h5py
        self.seen: set[Any] = set()
        self.count = 0

    def attrs(self, obj: Any, path: str) -> None:
        report = self.job.report
        for name in obj.attrs:
            where = f"{self.location}:{path}@{name}"
            value = obj.attrs[name]
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if not isinstance(value, str):
                continue
            if name in _CONFIG_ATTRS or value.lstrip().startswith(("{", "[")):
                parsed = _json(value.encode("utf-8"), where, report)
                if parsed is not None:
                    check_config(parsed, where, report, max_nodes=self.job.limits.max_config_nodes)
            elif "__" in value:
                report.add("keras.dunder", Severity.HIGH, f"attribute value {value[:60]!r}", where)

    def group(self, group: Any, path: str) -> None:
        h5py, report = self.h5py, self.job.report
        self.attrs(group, path)
        for name in group:
            self.count += 1
            if self.count > self.job.limits.max_members:
                report.incomplete("hdf5.too-many-objects", "object limit reached", self.location)
                return
            child = f"{path.rstrip('/')}/{name}"
            where = f"{self.location}:{child}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                report.add(
                    "hdf5.external-link",
                    Severity.HIGH,
                    f"link to {link.filename!r} (a loader reads another file)",
                    where,
                )
                continue
            if isinstance(link, h5py.SoftLink):
                continue
            obj = group[name]
            if obj.id in self.seen:
                continue
            self.seen.add(obj.id)
            if isinstance(obj, h5py.Group):
                self.group(obj, child)
            elif isinstance(obj, h5py.Dataset):
                if obj.external:
                    report.add(
                        "hdf5.external-storage",
                        Severity.HIGH,
                        "dataset stored in external files (a loader reads them)",
                        where,
                    )
                if obj.is_virtual:
                    report.add(
                        "hdf5.virtual-dataset",
                        Severity.HIGH,
                        "virtual dataset mapped from other files",
                        where,
                    )
                self.attrs(obj, child)
