"""Tensor fingerprints: one digest per tensor, whatever container holds it."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.unit.registry import builders as b
from vallum.registry.tensors import MIN_BYTES, TensorDigest, fingerprint

W = {"a": b.values(32, 1), "b": b.values(16, 2)}


def prints(path: Path) -> dict[str, str]:
    found = fingerprint(path.parent, [path.name])
    assert found.notes == ()
    return {t.name: t.digest for t in found.tensors}


@pytest.mark.parametrize(
    ("name", "data", "names"),
    [
        ("m.safetensors", b.safetensors(W, {"format": "pt"}), ["a", "b"]),
        ("m.npz", b.npz(W), ["a", "b"]),
        ("m.pt", b.torch_zip(W), ["data/0", "data/1"]),
        (
            "m.onnx",
            b.onnx_model([b.onnx_tensor("a", W["a"]), b.onnx_tensor("b", W["b"])]),
            ["a", "b"],
        ),
        (
            "typed.onnx",
            b.onnx_model([b.onnx_tensor("a", W["a"], typed=True), b.onnx_tensor("b", W["b"])]),
            ["a", "b"],
        ),
    ],
)
def test_every_container_gives_the_same_digests(
    tmp_path: Path, name: str, data: bytes, names: list[str]
) -> None:
    reference = prints(b.write(tmp_path / "ref.npz", b.npz(W)))
    found = prints(b.write(tmp_path / name, data))
    assert list(found) == names
    assert sorted(found.values()) == sorted(reference.values())


def test_a_plain_npy_is_one_tensor(tmp_path: Path) -> None:
    found = prints(b.write(tmp_path / "w.npy", b.npy(W["a"])))
    assert list(found.values()) == [prints(b.write(tmp_path / "r.npz", b.npz({"a": W["a"]})))["a"]]


def test_onnx_int64_data_is_read_as_little_endian_int64(tmp_path: Path) -> None:
    ints = [1, -2, 300, 1 << 40]
    found = fingerprint(
        tmp_path, [b.write(tmp_path / "i.onnx", b.onnx_model([b.onnx_tensor("i", ints=ints)])).name]
    )
    import hashlib

    expected = hashlib.sha256(struct.pack("<4q", *ints)).hexdigest()
    assert [t.digest for t in found.tensors] == [expected]


def test_onnx_external_data_inside_the_folder_is_read_and_outside_is_not(tmp_path: Path) -> None:
    raw = b.f32(W["a"])
    model = tmp_path / "m"
    b.write(model / "weights.bin", b"pad!" + raw)
    ext = b.onnx_tensor(
        "a", W["a"], external={"location": "weights.bin", "offset": "4", "length": str(len(raw))}
    )
    b.write(model / "model.onnx", b.onnx_model([ext]))
    found = fingerprint(model, ["model.onnx", "weights.bin"])
    ref = prints(b.write(tmp_path / "r.npz", b.npz({"a": W["a"]})))
    assert [t.digest for t in found.tensors] == [ref["a"]]
    outside = b.onnx_tensor("a", W["a"], external={"location": "../secret.bin"})
    b.write(tmp_path / "secret.bin", raw)
    b.write(model / "model.onnx", b.onnx_model([outside]))
    assert fingerprint(model, ["model.onnx"]).tensors == ()


def test_constant_and_tiny_tensors_are_trivial(tmp_path: Path) -> None:
    weights = {
        "zeros": [0.0] * 64,
        "ones": [1.0] * 64,
        "tiny": [0.5, 0.25],
        "real": b.values(8, 3),
    }
    found = fingerprint(tmp_path, [b.write(tmp_path / "m.npz", b.npz(weights)).name])
    assert [t.name for t in found.tensors] == ["real"]
    assert found.trivial == 3


def test_periodic_detection_spans_chunks() -> None:
    big = TensorDigest()
    big.update(b"\x00\x00\x80\x3f" * (600_000))  # 2.4 MB of 1.0f: constant across chunks
    assert big.trivial
    varied = TensorDigest()
    varied.update(b"\x00\x00\x80\x3f" * 600_000 + b"\x01\x02\x03\x04")
    assert not varied.trivial
    assert TensorDigest().trivial  # empty
    short = TensorDigest()
    short.update(bytes(range(MIN_BYTES - 1)))
    assert short.trivial


@pytest.mark.parametrize(
    "data",
    [
        b'\x10\x00\x00\x00\x00\x00\x00\x00{"a": 1}',  # safetensors header past the end
        struct.pack("<Q", 40) + b'{"a": {"dtype": "F32", "data_offsets": [0, 999]}}' + b" " * 0,
        b"PK\x03\x04 truncated zip",
        b"\x93NUMPY\x09\x00junk",
        b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",  # varint too long
        b"",
    ],
)
def test_malformed_files_give_notes_never_errors(tmp_path: Path, data: bytes) -> None:
    path = b.write(tmp_path / "bad.bin", data)
    found = fingerprint(tmp_path, [path.name])
    assert found.tensors == ()


def test_object_arrays_are_not_tensors(tmp_path: Path) -> None:
    obj = b.npy([0.0]).replace(b"'<f4'", b"'|O' ")
    found = fingerprint(tmp_path, [b.write(tmp_path / "o.npy", obj).name])
    assert found.tensors == () and found.notes == ()
