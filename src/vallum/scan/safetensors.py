"""safetensors: an 8-byte header length, a JSON header, then one flat byte buffer.

Checked the way the reference loader validates before it maps anything: header
bounds, a JSON object without duplicate keys, known dtypes, dtype x shape equal to
each tensor's byte length, offsets inside the buffer, tensors contiguous and not
overlapping, the buffer ending where the last tensor ends, and ``__metadata__``
holding only strings.
"""

from __future__ import annotations

import json
import math
from typing import Any

from vallum.scan.job import Job
from vallum.scan.verdict import Severity

MAX_HEADER = 100_000_000  # the reference loader's limit

#: dtype -> size in bits.
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64,
    "I64": 64, "U64": 64, "F64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip


class _Dup(ValueError):
    """The JSON header repeats a key (loaders disagree on which value wins)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Dup(key)
        out[key] = value
    return out


def scan_safetensors(job: Job, data: memoryview, location: str) -> str:
    report = job.report
    if len(data) < 8:
        report.incomplete("safetensors.truncated", "shorter than the header length", location)
        return "safetensors"
    size = int.from_bytes(data[:8], "little")
    if size > MAX_HEADER or 8 + size > len(data):
        report.incomplete(
            "safetensors.header-bounds", f"header length {size} outside the file", location
        )
        return "safetensors"
    raw = bytes(data[8 : 8 + size])
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _Dup as dup:
        report.add(
            "safetensors.duplicate-key",
            Severity.HIGH,
            f"header repeats the key {str(dup)[:80]!r} (parsers disagree on which wins)",
            location,
        )
        return "safetensors"
    except (UnicodeDecodeError, ValueError, RecursionError):
        report.incomplete("safetensors.header-json", "header is not UTF-8 JSON", location)
        return "safetensors"
    if not isinstance(header, dict) or not raw.startswith(b"{"):
        report.incomplete("safetensors.header-json", "header is not a JSON object", location)
        return "safetensors"
    _check_metadata(job, header.pop("__metadata__", {}), location)
    _check_tensors(job, header, len(data) - 8 - size, location)
    return "safetensors"


def _check_metadata(job: Job, meta: Any, location: str) -> None:
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        job.report.add(
            "safetensors.metadata-not-strings",
            Severity.HIGH,
            "__metadata__ must map strings to strings",
            location,
        )


def _numel(shape: Any) -> int | None:
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        return None
    return math.prod(shape)


def _check_tensors(job: Job, header: dict[str, Any], buffer: int, location: str) -> None:
    report = job.report
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        where = f"{location}:{name[:120]}"
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            report.incomplete("safetensors.tensor-entry", "not a tensor description", where)
            continue
        bits = DTYPE_BITS.get(info["dtype"]) if isinstance(info["dtype"], str) else None
        numel = _numel(info["shape"])
        offsets = info["data_offsets"]
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            report.add(
                "safetensors.offsets", Severity.HIGH, "data_offsets is not [begin, end]", where
            )
            continue
        begin, end = offsets
        if not 0 <= begin <= end <= buffer:
            report.add(
                "safetensors.offsets-out-of-bounds",
                Severity.HIGH,
                f"data_offsets [{begin}, {end}] outside the {buffer}-byte buffer",
                where,
            )
            continue
        spans.append((begin, end, where))
        if bits is None:
            report.incomplete("safetensors.dtype", f"unknown dtype {info['dtype']!r}", where)
        elif numel is None:
            report.add("safetensors.shape", Severity.HIGH, "shape is not a list of sizes", where)
        elif numel * bits != (end - begin) * 8:
            report.add(
                "safetensors.size-mismatch",
                Severity.HIGH,
                f"{info['dtype']} x {info['shape']} is not {end - begin} bytes",
                where,
            )
    spans.sort()
    cursor = 0
    for begin, end, where in spans:
        if begin < cursor:
            report.add(
                "safetensors.overlap", Severity.HIGH, "tensor overlaps the previous one", where
            )
        elif begin > cursor:
            report.add(
                "safetensors.gap",
                Severity.HIGH,
                f"{begin - cursor} unaccounted bytes before this tensor",
                where,
            )
        cursor = max(cursor, end)
    if cursor < buffer:
        report.add(
            "safetensors.trailing-data",
            Severity.HIGH,
            f"{buffer - cursor} bytes after the last tensor (the reference loader refuses them)",
            location,
        )
