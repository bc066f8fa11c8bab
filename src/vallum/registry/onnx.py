"""ONNX graph initializers as raw little-endian bytes, read from the protobuf wire.

``ModelProto.graph`` (field 7) holds ``GraphProto.initializer`` (field 5), each a
``TensorProto``: ``name`` (8), ``data_type`` (2), and its elements either in
``raw_data`` (9), in a typed repeated field (``float_data`` 4, ``int32_data`` 5,
``int64_data`` 7, ``double_data`` 10, ``uint64_data`` 11), or in a file named by
``external_data`` (13) when ``data_location`` (14) is EXTERNAL. Typed fields are
converted to the bytes ``raw_data`` would hold, so one tensor has one
fingerprint however the exporter stored it. External data is read only from a
regular file inside the model's directory. The wire format is read by the
scanner's bounded reader (``vallum.scan.protobuf``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vallum.scan.protobuf import (
    FIXED32,
    FIXED64,
    LEN,
    VARINT,
    Field,
    ProtobufError,
    iter_fields,
    read_varint,
)

_GRAPH, _INITIALIZER = 7, 5
_DATA_TYPE, _FLOAT, _INT32, _INT64, _NAME, _RAW = 2, 4, 5, 7, 8, 9
_DOUBLE, _UINT64, _EXTERNAL, _LOCATION = 10, 11, 13, 14
_EXTERNAL_LOCATION = 1

#: Bytes per element of the ONNX data types stored in int32_data / uint64_data.
_INT32_WIDTH = {2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 9: 1, 10: 2, 16: 2}
_UINT64_WIDTH = {12: 4, 13: 8}


def initializers(buf: memoryview, root: Path, model: Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of each initializer; nothing if ``buf`` is not an ONNX model."""
    try:
        graphs = [f.payload for f in iter_fields(buf) if f.number == _GRAPH and f.wire_type == LEN]
    except ProtobufError:
        return
    for graph in graphs:
        try:
            tensors = [
                f.payload
                for f in iter_fields(graph)
                if f.number == _INITIALIZER and f.wire_type == LEN
            ]
        except ProtobufError:
            continue
        for i, tensor in enumerate(tensors):
            try:
                found = _tensor_bytes(tensor, root, model)
            except (ProtobufError, OSError, ValueError):
                continue
            if found is not None:
                name, data = found
                yield name or f"initializer/{i}", data


def _tensor_bytes(tensor: memoryview, root: Path, model: Path) -> tuple[str, bytes] | None:
    fields = list(iter_fields(tensor))
    data_type = next((f.value for f in fields if f.number == _DATA_TYPE), 0)
    name = ""
    external: dict[str, str] = {}
    location = 0
    raw: list[bytes] = []
    for f in fields:
        if f.number == _NAME and f.wire_type == LEN:
            name = bytes(f.payload).decode("utf-8", "replace")
        elif f.number == _LOCATION and f.wire_type == VARINT:
            location = f.value
        elif f.number == _EXTERNAL and f.wire_type == LEN:
            entry = {e.number: e.text() for e in iter_fields(f.payload) if e.wire_type == LEN}
            external[entry.get(1, "")] = entry.get(2, "")
        elif f.number in (_RAW, _FLOAT, _DOUBLE):
            raw.append(_floats(f))
        elif f.number == _INT64:
            raw.append(_ints(f, 8))
        elif f.number == _INT32:
            raw.append(_ints(f, _INT32_WIDTH.get(data_type, 4)))
        elif f.number == _UINT64:
            raw.append(_ints(f, _UINT64_WIDTH.get(data_type, 8)))
    if location == _EXTERNAL_LOCATION:
        return name, _external(external, root, model)
    if not raw:
        return None
    return name, b"".join(raw)


def _floats(f: Field) -> bytes:
    """raw_data, or packed/unpacked float_data / double_data, as little-endian bytes."""
    if f.wire_type == LEN:
        return bytes(f.payload)
    if f.wire_type == FIXED32:
        return f.value.to_bytes(4, "little")
    if f.wire_type == FIXED64:
        return f.value.to_bytes(8, "little")
    raise ProtobufError(f"field {f.number} has an unexpected encoding")


def _ints(f: Field, width: int) -> bytes:
    """Varint element(s), packed or not, as little-endian two's-complement ``width`` bytes."""
    if f.wire_type == VARINT:
        values = [f.value]
    elif f.wire_type == LEN:
        values, pos, buf = [], 0, f.payload
        while pos < len(buf):
            value, pos = read_varint(buf, pos)
            values.append(value)
    else:
        raise ProtobufError(f"field {f.number} has an unexpected encoding")
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
