"""Tiny hand-built model files for the format tests (benign unless a test changes them)."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from typing import Any


def varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def pb_int(field: int, v: int) -> bytes:
    return varint(field << 3) + varint(v)


def pb_bytes(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def pb_str(field: int, s: str) -> bytes:
    return pb_bytes(field, s.encode())


def safetensors(
    tensors: dict[str, tuple[str, list[int], list[int]]],
    data: bytes,
    metadata: Any = None,
    raw_header: bytes | None = None,
) -> bytes:
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, offsets) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": offsets}
    hb = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(hb)) + hb + data


def good_safetensors() -> bytes:
    return safetensors(
        {"w": ("F32", [2, 2], [0, 16]), "b": ("F16", [2], [16, 20])},
        bytes(20),
        {"format": "pt"},
    )


def gguf_string(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf(kv: dict[str, str], *, tensor_offset: int = 0, dims: tuple[int, ...] = (4,)) -> bytes:
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv)))
    for key, value in kv.items():
        out += gguf_string(key) + struct.pack("<I", 8) + gguf_string(value)
    out += gguf_string("t") + struct.pack("<I", len(dims))
    for d in dims:
        out += struct.pack("<Q", d)
    out += struct.pack("<IQ", 0, tensor_offset)
    out += bytes(-len(out) % 32)
    return bytes(out) + bytes(32)


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def layer(class_name: str, config: dict[str, Any], module: str = "keras.layers") -> dict[str, Any]:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def keras_zip(layers: list[dict[str, Any]], extra: dict[str, bytes] | None = None) -> bytes:
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "s", "layers": layers},
        "registered_name": None,
    }
    members = {
        "metadata.json": json.dumps({"keras_version": "3.6.0"}).encode(),
        "config.json": json.dumps(config).encode(),
    }
    members.update(extra or {})
    return zip_of(members)


def onnx(external: dict[str, str] | None = None, domain: str = "") -> bytes:
    tensor = pb_int(1, 2) + pb_int(2, 1) + pb_str(8, "W")
    if external is None:
        tensor += pb_bytes(9, bytes(8))
    else:
        for k, v in external.items():
            tensor += pb_bytes(13, pb_str(1, k) + pb_str(2, v))
        tensor += pb_int(14, 1)
    node = pb_str(1, "X") + pb_str(1, "W") + pb_str(2, "Y") + pb_str(4, "Add")
    if domain:
        node += pb_str(7, domain)
    graph = pb_bytes(1, node) + pb_str(2, "g") + pb_bytes(5, tensor)
    return pb_int(1, 8) + pb_str(2, "test") + pb_bytes(7, graph) + pb_bytes(8, pb_int(2, 13))


def node_def(name: str, op: str, inputs: tuple[str, ...] = (), func: str = "") -> bytes:
    out = pb_str(1, name) + pb_str(2, op) + b"".join(pb_str(3, i) for i in inputs)
    if func:
        attr_value = pb_bytes(10, pb_str(1, func))
        out += pb_bytes(5, pb_str(1, "f") + pb_bytes(2, attr_value))
    return out


def savedmodel(
    nodes: list[bytes], functions: dict[str, list[bytes]] | None = None, saver_file: str = ""
) -> bytes:
    graph = b"".join(pb_bytes(1, n) for n in nodes)
    if functions:
        library = b"".join(
            pb_bytes(1, pb_bytes(1, pb_str(1, name)) + b"".join(pb_bytes(3, n) for n in body))
            for name, body in functions.items()
        )
        graph += pb_bytes(2, library)
    meta = pb_bytes(1, pb_str(4, "serve")) + pb_bytes(2, graph)
    if saver_file:
        meta += pb_bytes(3, pb_str(1, saver_file))
    return pb_int(1, 1) + pb_bytes(2, meta)


def evil_pickle() -> bytes:
    return b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."


def plain_pickle() -> bytes:
    return pickle.dumps({"lr": 0.1, "layers": [1, 2]}, protocol=4)
