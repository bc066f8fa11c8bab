"""ONNX graph initializers as raw little-endian bytes, read from the protobuf wire.

``ModelProto.graph`` (field 7) holds ``GraphProto.initializer`` (field 5), each a
``TensorProto``: ``name`` (8), ``data_type`` (2), and its elements either in
``raw_data`` (9), in a typed repeated field (``float_data`` 4, ``int32_data`` 5,
``int64_data`` 7, ``double_data`` 10, ``uint64_data`` 11), or in a file named by
``external_data`` (13) when ``data_location`` (14) is EXTERNAL. Typed fields are
converted to the bytes ``raw_data`` would hold, so one tensor has one
fingerprint however the exporter stored it. External data is read only from a
regular file inside the model's directory.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from vallum.registry._wire import FIXED32, FIXED64, LEN, VARINT, WireError, fields, varints

_GRAPH, _INITIALIZER = 7, 5
_DIMS, _DATA_TYPE, _FLOAT, _INT32, _INT64, _NAME, _RAW = 1, 2, 4, 5, 7, 8, 9
_DOUBLE, _UINT64, _EXTERNAL, _LOCATION = 10, 11, 13, 14
_EXTERNAL_LOCATION = 1

#: Bytes per element of the ONNX data types stored in int32_data / uint64_data.
_INT32_WIDTH = {2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 9: 1, 10: 2, 16: 2}
_UINT64_WIDTH = {12: 4, 13: 8}


def initializers(buf: memoryview, root: Path, model: Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of each initializer; nothing if ``buf`` is not an ONNX model."""
    try:
        graphs = [v for n, w, v in fields(buf) if n == _GRAPH and w == LEN]
    except WireError:
        return
    for graph in graphs:
        assert isinstance(graph, memoryview)  # noqa: S101 - LEN fields are slices
        try:
            tensors = [v for n, w, v in fields(graph) if n == _INITIALIZER and w == LEN]
        except WireError:
            continue
        for i, tensor in enumerate(tensors):
            assert isinstance(tensor, memoryview)  # noqa: S101 - LEN fields are slices
            try:
                found = _tensor_bytes(tensor, root, model)
            except (WireError, OSError, ValueError):
                continue
            if found is not None:
                name, data = found
                yield name or f"initializer/{i}", data


def _tensor_bytes(tensor: memoryview, root: Path, model: Path) -> tuple[str, bytes] | None:
    name = ""
    data_type = 0
    external: dict[str, str] = {}
    location = 0
    raw: list[bytes] = []
    for number, wire, value in fields(tensor):
        if number == _NAME and isinstance(value, memoryview):
            name = bytes(value).decode("utf-8", "replace")
        elif number == _DATA_TYPE and isinstance(value, int):
            data_type = value
        elif number == _LOCATION and isinstance(value, int):
            location = value
        elif number == _EXTERNAL and isinstance(value, memoryview):
            entry = {
                n: bytes(v).decode("utf-8", "replace")
                for n, _, v in fields(value)
                if isinstance(v, memoryview)
            }
            external[entry.get(1, "")] = entry.get(2, "")
        elif number in (_RAW, _FLOAT, _DOUBLE) and wire in (LEN, FIXED32, FIXED64):
            assert isinstance(value, memoryview)  # noqa: S101 - non-varint fields are slices
            raw.append(bytes(value))
        elif number == _INT64:
            raw.append(_ints(value, wire, 8))
        elif number == _INT32:
            raw.append(_ints(value, wire, _INT32_WIDTH.get(data_type, 4)))
        elif number == _UINT64:
            raw.append(_ints(value, wire, _UINT64_WIDTH.get(data_type, 8)))
    if location == _EXTERNAL_LOCATION:
        return name, _external(external, root, model)
    if not raw:
        return None
    return name, b"".join(raw)


def _ints(value: int | memoryview, wire: int, width: int) -> bytes:
    """Varint element(s), packed or not, as little-endian two's-complement ``width`` bytes."""
    values = [value] if wire == VARINT and isinstance(value, int) else None
    if values is None:
        if not isinstance(value, memoryview):
            raise WireError("unexpected integer field encoding")
        values = list(varints(value))
    mask = (1 << (8 * width)) - 1
    return b"".join((v & mask).to_bytes(width, "little") for v in values)


def _external(entry: dict[str, str], root: Path, model: Path) -> bytes:
    location = entry.get("location", "")
    if not location:
        raise ValueError("external data without a location")
    base = model.parent.resolve()
    target = (base / location).resolve()
    if not target.is_relative_to(root.resolve()) or (base / location).is_symlink():
        raise ValueError("external data outside the model directory")
    offset = int(entry.get("offset", "0") or 0)
    length = entry.get("length")
    with target.open("rb") as fh:
        fh.seek(offset)
        data = fh.read(int(length)) if length else fh.read()
    if length and len(data) != int(length):
        raise ValueError("external data is shorter than its length")
    return data


def pack_floats(values: list[float]) -> bytes:
    """Little-endian float32 bytes (what ``raw_data`` holds for a FLOAT tensor)."""
    return struct.pack(f"<{len(values)}f", *values)
