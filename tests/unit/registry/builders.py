"""Small, real model files built byte by byte (no numpy, torch or onnx needed).

Every builder writes what the real library would: safetensors (8-byte header
length, JSON header, raw little-endian data), NPY v1.0, NPZ (a zip of NPY
members), a PyTorch zip checkpoint (``data.pkl`` rebuilding tensors from
persistent ``data/N`` storages) and an ONNX ModelProto with raw and typed
initializers.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

Tensors = Mapping[str, Sequence[float]]


def values(n: int, seed: int) -> list[float]:
    """``n`` distinct pseudo-random floats (a tensor that fingerprints)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    return [rng.uniform(-1, 1) for _ in range(n)]


def f32(vals: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(vals)}f", *vals)


def safetensors(tensors: Tensors, metadata: Mapping[str, str] | None = None) -> bytes:
    header: dict[str, object] = {"__metadata__": dict(metadata)} if metadata else {}
    body = bytearray()
    for name, vals in tensors.items():
        raw = f32(vals)
        header[name] = {
            "dtype": "F32",
            "shape": [len(vals)],
            "data_offsets": [len(body), len(body) + len(raw)],
        }
        body += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(body)


def npy(vals: Sequence[float], descr: str = "<f4") -> bytes:
    head = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({len(vals)},), }}"
    raw = head.encode("latin-1")
    raw += b" " * (-(10 + len(raw) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw)) + raw + f32(vals)


def npz(tensors: Tensors) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, vals in tensors.items():
            zf.writestr(f"{name}.npy", npy(vals))
    return buf.getvalue()


# --- PyTorch zip checkpoint -------------------------------------------------------


def _unicode(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def _tuple(items: Sequence[int]) -> bytes:
    return b"(" + b"".join(_int(i) for i in items) + b"t"


def torch_zip(tensors: Tensors, stem: str = "archive") -> bytes:
    """What ``torch.save(state_dict)`` writes: data.pkl plus one storage per tensor."""
    p = bytearray(b"\x80\x02")
    p += b"ccollections\nOrderedDict\n)R("
    for i, (name, vals) in enumerate(tensors.items()):
        p += _unicode(name)
        p += b"ctorch._utils\n_rebuild_tensor_v2\n("
        p += b"(" + _unicode("storage") + b"ctorch\nFloatStorage\n"
        p += _unicode(str(i)) + _unicode("cpu") + _int(len(vals)) + b"tQ"
        p += _int(0) + _tuple([len(vals)]) + _tuple([1]) + b"\x89"
        p += b"ccollections\nOrderedDict\n)R"
        p += b"tR"
    p += b"u."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{stem}/data.pkl", bytes(p))
        zf.writestr(f"{stem}/byteorder", b"little")
        for i, vals in enumerate(tensors.values()):
            zf.writestr(f"{stem}/data/{i}", f32(vals))
        zf.writestr(f"{stem}/version", b"3\n")
    return buf.getvalue()


# --- ONNX -------------------------------------------------------------------------


def _varint(v: int) -> bytes:
    out = bytearray()
    v &= (1 << 64) - 1
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def _field_int(n: int, v: int) -> bytes:
    return _varint(n << 3) + _varint(v)


def _field_len(n: int, payload: bytes) -> bytes:
    return _varint((n << 3) | 2) + _varint(len(payload)) + payload


def onnx_tensor(
    name: str,
    vals: Sequence[float] | None = None,
    *,
    typed: bool = False,
    ints: Sequence[int] | None = None,
    external: Mapping[str, str] | None = None,
) -> bytes:
    """A TensorProto: FLOAT in raw_data (or packed float_data), or INT64 in int64_data."""
    n = len(vals) if vals is not None else len(ints or ())
    out = _field_int(1, n)
    if ints is not None:
        out += _field_int(2, 7) + _field_len(8, name.encode())
        out += _field_len(7, b"".join(_varint(i) for i in ints))
        return out
    out += _field_int(2, 1) + _field_len(8, name.encode())
    if external is not None:
        for k, v in external.items():
            out += _field_len(13, _field_len(1, k.encode()) + _field_len(2, v.encode()))
        return out + _field_int(14, 1)
    assert vals is not None
    return out + _field_len(4 if typed else 9, f32(vals))


def onnx_model(initializers: Sequence[bytes]) -> bytes:
    node = _field_len(1, b"X") + _field_len(2, b"Y") + _field_len(4, b"Identity")
    graph = _field_len(1, node) + _field_len(2, b"g")
    graph += b"".join(_field_len(5, t) for t in initializers)
    opset = _field_len(1, b"") + _field_int(2, 13)
    return _field_int(1, 8) + _field_len(2, b"tests") + _field_len(7, graph) + _field_len(8, opset)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
