"""GGUF v2/v3: header, metadata key/values and tensor infos, read with bounded counts.

Templates among the metadata (``tokenizer.chat_template`` and any other key naming a
template) are judged by :mod:`vallum.scan.template` from their Jinja syntax tree.
Tensor infos are checked against the data section: aligned offsets, sizes inside
the file, at most 4 dimensions.
"""

from __future__ import annotations

import struct
from typing import Any

from vallum.scan.job import Job
from vallum.scan.template import scan_template
from vallum.scan.verdict import Severity

MAX_KV = 1 << 20
MAX_TENSORS = 1 << 20
MAX_STRING = 64 << 20
MAX_ARRAY = 1 << 27
MAX_DIMS = 4

_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q",
    12: "<d",
}  # fmt: skip
STRING, ARRAY = 8, 9

#: ggml type -> (bytes per block, elements per block).
GGML_BLOCKS = {
    0: (4, 1), 1: (2, 1), 2: (18, 32), 3: (20, 32), 6: (22, 32), 7: (24, 32), 8: (34, 32),
    9: (36, 32), 10: (84, 256), 11: (110, 256), 12: (144, 256), 13: (176, 256),
    14: (210, 256), 15: (292, 256), 16: (66, 256), 17: (74, 256), 18: (98, 256),
    19: (50, 256), 20: (18, 32), 21: (110, 256), 22: (82, 256), 23: (136, 256), 24: (1, 1),
    25: (2, 1), 26: (4, 1), 27: (8, 1), 28: (8, 1), 29: (56, 256), 30: (2, 1),
    34: (54, 256), 35: (66, 256), 39: (17, 32),
}  # fmt: skip


class GGUFError(ValueError):
    """The file breaks the GGUF layout (truncated, out of bounds, over a limit)."""


class _Reader:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise GGUFError("truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        size = self.unpack("<Q")
        if size > MAX_STRING:
            raise GGUFError(f"string of {size} bytes")
        try:
            return bytes(self.take(size)).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GGUFError("string is not UTF-8") from exc

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY and depth == 0:
            etype, count = self.unpack("<I"), self.unpack("<Q")
            if count > MAX_ARRAY or count > len(self.data) - self.pos:
                raise GGUFError(f"array of {count} items")
            if etype in _SCALARS:  # skip numbers without materialising them
                self.take(count * struct.calcsize(_SCALARS[etype]))
                return []
            return [self.value(etype, depth + 1) for _ in range(count)]
        raise GGUFError(f"unknown value type {vtype}")


def scan_gguf(job: Job, data: memoryview, location: str) -> str:
    report = job.report
    r = _Reader(data)
    try:
        r.take(4)
        version = r.unpack("<I")
        if version not in (2, 3):
            report.incomplete("gguf.version", f"GGUF version {version} is not supported", location)
            return "gguf"
        n_tensors, n_kv = r.unpack("<Q"), r.unpack("<Q")
        if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
            report.incomplete(
                "gguf.counts", f"{n_tensors} tensors / {n_kv} keys over the limit", location
            )
            return "gguf"
        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = r.string()
            if key in meta:
                report.add(
                    "gguf.duplicate-key", Severity.HIGH, f"key {key[:80]!r} repeated", location
                )
            meta[key] = r.value(r.unpack("<I"))
        infos = [_tensor_info(r) for _ in range(n_tensors)]
    except (GGUFError, struct.error) as exc:
        report.incomplete("gguf.malformed", f"GGUF does not decode: {exc}", location)
        return "gguf"
    _check_templates(job, meta, location)
    alignment = meta.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        report.add("gguf.alignment", Severity.HIGH, f"alignment {alignment!r} invalid", location)
        return "gguf"
    start = -(-r.pos // alignment) * alignment
    _check_tensors(job, infos, start, alignment, len(data), location)
    return "gguf"


def _tensor_info(r: _Reader) -> tuple[str, list[int], int, int]:
    name = r.string()
    n_dims = r.unpack("<I")
    if n_dims > MAX_DIMS:
        raise GGUFError(f"tensor {name[:60]!r} has {n_dims} dimensions")
    dims = [r.unpack("<Q") for _ in range(n_dims)]
    return name, dims, r.unpack("<I"), r.unpack("<Q")


def _check_templates(job: Job, meta: dict[str, Any], location: str) -> None:
    for key, value in meta.items():
        if "template" not in key.lower():
            continue
        values = value if isinstance(value, list) else [value]
        for i, text in enumerate(values):
            if isinstance(text, str):
                where = f"{location}:{key}" + (f"[{i}]" if isinstance(value, list) else "")
                scan_template(text, where, job.report)


def _check_tensors(
    job: Job,
    infos: list[tuple[str, list[int], int, int]],
    start: int,
    alignment: int,
    size: int,
    location: str,
) -> None:
    report = job.report
    data_size = size - start
    if data_size < 0 and infos:
        report.incomplete("gguf.truncated", "no tensor data section", location)
        return
    for name, dims, ggml_type, offset in infos:
        where = f"{location}:{name[:120]}"
        if offset % alignment:
            report.add("gguf.tensor-alignment", Severity.HIGH, "offset not aligned", where)
        numel = 1
        for d in dims:
            numel *= d
        block = GGML_BLOCKS.get(ggml_type)
        if block is None:
            report.add("gguf.tensor-type", Severity.INFO, f"ggml type {ggml_type} unknown", where)
            nbytes = 0
        elif numel % block[1]:
            report.add(
                "gguf.tensor-size", Severity.HIGH, "shape not a whole number of blocks", where
            )
            continue
        else:
            nbytes = numel // block[1] * block[0]
        if offset + nbytes > data_size:
            report.add(
                "gguf.tensor-out-of-bounds",
                Severity.HIGH,
                f"tensor data [{offset}, {offset + nbytes}) past the {data_size}-byte data section",
                where,
            )
