"""Read an HDF5 file's attributes and links in a child process (run as a script).

libhdf5 is C code that can crash or loop on a malformed file, so the scanner never
runs it in its own process: this worker, under CPU and memory limits, reads the
file (a path argument, or bytes on stdin) and prints one JSON record per line —
every string attribute, external links, external storage, virtual datasets — and
``{"t": "done"}`` last. A missing ``done`` means the file could not be read.
"""

from __future__ import annotations

import io
import json
import resource
import sys
from typing import Any

CPU_SECONDS = 20
MEMORY_BYTES = 4 << 30
MAX_OBJECTS = 100_000
MAX_ATTR_CHARS = 64 << 20


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")


def _attrs(obj: Any, path: str) -> None:
    for name in obj.attrs:
        value = obj.attrs[name]
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            _emit({"t": "attr", "path": path, "name": str(name), "value": value[:MAX_ATTR_CHARS]})
        elif name in ("model_config", "training_config"):
            _emit({"t": "attr-not-string", "path": path, "name": str(name)})


def _walk(h5py: Any, root: Any) -> None:
    seen: set[Any] = set()
    todo: list[tuple[Any, str]] = [(root, "/")]
    count = 0
    while todo:
        group, path = todo.pop()
        _attrs(group, path)
        for name in group:
            count += 1
            if count > MAX_OBJECTS:
                _emit({"t": "limit"})
                return
            child = f"{path.rstrip('/')}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                _emit({"t": "external-link", "path": child, "target": str(link.filename)})
                continue
            if isinstance(link, h5py.SoftLink):
                continue
            obj = group[name]
            if obj.id in seen:
                continue
            seen.add(obj.id)
            if isinstance(obj, h5py.Group):
                todo.append((obj, child))
            elif isinstance(obj, h5py.Dataset):
                if obj.external:
                    _emit({"t": "external-storage", "path": child})
                if obj.is_virtual:
                    _emit({"t": "virtual", "path": child})
                _attrs(obj, child)


def main() -> int:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    import h5py

    source: Any = sys.argv[1] if len(sys.argv) > 1 else io.BytesIO(sys.stdin.buffer.read())
    try:
        with h5py.File(source, "r") as f:
            _walk(h5py, f)
            _emit({"t": "done", "model": "model_config" in f.attrs})
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails closed
        _emit({"t": "error", "message": f"{type(exc).__name__}: {str(exc)[:200]}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
