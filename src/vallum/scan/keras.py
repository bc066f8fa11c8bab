"""Keras: v3 ``.keras`` zips (config.json, metadata.json, model.weights.h5) and legacy H5.

The whole config is walked: Lambda layers (marshalled bytecode) and file-reading
layers are findings; every ``module`` must be a Keras built-in module, every
``class_name`` a built-in class, every function reference a built-in function;
any other string holding ``__`` is a finding. HDF5 files are opened read-only with
h5py (which never unpickles) in a child process under CPU and memory limits, since
libhdf5 can crash on malformed input; every attribute of every group and dataset is read,
JSON configs among them are walked, and external links, external storage and
virtual datasets (which make a loader read other files) are findings.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from vallum.scan import keras_allowlist as allow
from vallum.scan.archive import read_member
from vallum.scan.job import Job
from vallum.scan.verdict import Report, Severity

MAX_JSON = 64 << 20
H5_TIMEOUT = 30
_CONFIG_ATTRS = ("model_config", "training_config")


def _package(module: str) -> str | None:
    """The Keras package a module belongs to (``layers`` for ``keras.src.layers.core``)."""
    for root in allow.ROOTS:
        if module == root:
            return ""
        if module.startswith(root + "."):
            parts = module[len(root) + 1 :].split(".")
            if parts[0] == "src":
                parts = parts[1:]
            return parts[0] if parts else None
    return None


def _module_allowed(module: str) -> bool:
    package = _package(module)
    return package == "" or package in allow.SRC_PACKAGES


def _family(module: str) -> str:
    return _package(module) or ""


def _class_allowed(class_name: str) -> bool:
    """A Keras built-in, also under the ``Custom>`` / ``keras>`` prefixes TF-Keras writes."""
    prefix, _, rest = class_name.rpartition(">")
    return rest in allow.CLASSES and prefix in ("", "Custom", "keras", "Keras")


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
        and not _class_allowed(class_name)
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
    """HDF5 (Keras H5 models and weights), read by h5py in a child process.

    Attributes are read, never datasets' contents; JSON configs among them are
    walked like a .keras config; external links and storage are findings.
    """
    report = job.report
    # run as a script (not -m) so the child imports only h5py, not vallum
    args = [sys.executable, "-I", str(Path(__file__).with_name("h5_worker.py"))]
    feed: bytes | None = bytes(data)
    if job.path is not None and len(data) == job.path_size:
        args.append(str(job.path))
        feed = None
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv: this interpreter and a vallum module
            args,
            input=feed,
            capture_output=True,
            timeout=H5_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        report.incomplete("hdf5.timeout", "reading the HDF5 file took too long", location)
        return "hdf5"
    records = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    done = [r for r in records if r.get("t") == "done"]
    for record in records:
        _h5_record(job, record, location)
    if not done:
        errors = [r.get("message", "") for r in records if r.get("t") == "error"]
        why = errors[0] if errors else f"reader exited with status {proc.returncode}"
        report.incomplete("hdf5.malformed", f"HDF5 does not open: {why}", location)
        return "hdf5"
    return "keras-h5" if done[0].get("model") else "hdf5"


def _h5_record(job: Job, record: dict[str, Any], location: str) -> None:
    report = job.report
    kind = record.get("t")
    where = f"{location}:{record.get('path', '')}"
    if kind == "attr":
        name, value = str(record.get("name")), str(record.get("value"))
        where = f"{where}@{name}"
        if name in _CONFIG_ATTRS or value.lstrip().startswith(("{", "[")):
            parsed = _json(value.encode("utf-8", "replace"), where, report)
            if parsed is not None:
                check_config(parsed, where, report, max_nodes=job.limits.max_config_nodes)
        elif "__" in value:
            report.add("keras.dunder", Severity.HIGH, f"attribute value {value[:60]!r}", where)
    elif kind == "external-link":
        report.add(
            "hdf5.external-link",
            Severity.HIGH,
            f"link to {str(record.get('target'))[:120]!r} (a loader reads another file)",
            where,
        )
    elif kind == "external-storage":
        report.add(
            "hdf5.external-storage",
            Severity.HIGH,
            "dataset stored in external files (a loader reads them)",
            where,
        )
    elif kind == "virtual":
        report.add(
            "hdf5.virtual-dataset", Severity.HIGH, "virtual dataset mapped from other files", where
        )
    elif kind == "attr-not-string":
        report.incomplete("keras.config-json", "model config attribute is not a string", where)
    elif kind == "limit":
        report.incomplete("hdf5.too-many-objects", "object limit reached", location)


def scan_json(job: Job, data: memoryview, location: str) -> str:
    """A loose JSON file of a model directory: configs, tokenizer settings.

    Chat templates are judged like GGUF's; anything shaped like a Keras config
    (``class_name`` keys) is walked with the Keras rules; ``auto_map`` (Hugging Face
    remote code) names Python files that run on load, which a scan cannot judge.
    """
    from vallum.scan.template import scan_template  # GGUF's template checks

    report = job.report
    parsed = _json(bytes(data), location, report)
    if parsed is None:
        return "json"
    stack: list[tuple[Any, str]] = [(parsed, location)]
    keras_like = False
    while stack:
        obj, where = stack.pop()
        if isinstance(obj, dict):
            keras_like = keras_like or "class_name" in obj
            for key, value in obj.items():
                here = f"{where}/{key}"
                if key == "auto_map":
                    report.incomplete(
                        "json.remote-code", "auto_map names Python code loaded with the model", here
                    )
                if "template" in str(key) and isinstance(value, str):
                    scan_template(value, here, report)
                stack.append((value, here))
        elif isinstance(obj, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(obj))
    if keras_like:
        check_config(parsed, location, report, max_nodes=job.limits.max_config_nodes)
    return "json"
