"""Classification, compressed wrappers, tar, zip members and polyglots."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zlib
from pathlib import Path

import pytest

from tests.unit.scan import build
from vallum.scan import FileResult, Verdict
from vallum.scan.classify import Kind, classify, hdf5_offset
from vallum.scan.service import scan_bytes, scan_file


def _scan(data: bytes) -> FileResult:
    return scan_bytes(data, "mem")


def _rules(result: FileResult) -> set[str]:
    return {f.rule for f in result.findings}


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"7z\xbc\xaf\x27\x1c\x00\x04", Kind.SEVENZIP),
        (gzip.compress(b"x"), Kind.GZIP),
        (bz2.compress(b"x"), Kind.BZ2),
        (lzma.compress(b"x"), Kind.XZ),
        (lzma.compress(b"x", format=lzma.FORMAT_ALONE), Kind.LZMA),
        (zlib.compress(b"x"), Kind.ZLIB),
        (b"\x04\x22\x4d\x18rest", Kind.LZ4),
        (build.onnx(), Kind.ONNX),
        (build.savedmodel([build.node_def("x", "Placeholder")]), Kind.TF_SAVEDMODEL),
        (build.good_safetensors(), Kind.SAFETENSORS),
        (build.gguf({}), Kind.GGUF),
        (bytes(512) + b"\x89HDF\r\n\x1a\n" + bytes(100), Kind.HDF5),
        (b"\x00\x01\x02 random bytes", Kind.UNKNOWN),
    ],
)
def test_classify_by_content(data: bytes, kind: Kind) -> None:
    assert classify(data) is kind


def test_tar_detected_at_offset_257_and_by_checksum() -> None:
    data = _tar([_member("a.pkl", build.plain_pickle())])
    assert data[257:262] == b"ustar"
    assert classify(data) is Kind.TAR
    v7 = bytearray(data[:512])
    v7[257:265] = bytes(8)  # drop the magic: the checksum still identifies a header
    v7[148:156] = b"        "
    struct.pack_into("7s", v7, 148, b"%06o\x00" % sum(v7))
    assert classify(bytes(v7)) is Kind.TAR


def test_hdf5_user_block_offsets() -> None:
    assert hdf5_offset(bytes(2048) + b"\x89HDF\r\n\x1a\n") == 2048
    assert hdf5_offset(bytes(700) + b"\x89HDF\r\n\x1a\n") is None


@pytest.mark.parametrize(
    "wrap",
    [
        gzip.compress,
        bz2.compress,
        lzma.compress,
        lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
        zlib.compress,
        lambda d: b"ZF" + hex(len(d)).encode().ljust(19) + zlib.compress(d),
    ],
)
def test_compressed_pickles_are_unwrapped(wrap: object) -> None:
    assert callable(wrap)
    assert _scan(wrap(build.plain_pickle())).verdict is Verdict.SAFE
    evil = _scan(wrap(build.evil_pickle()))
    assert evil.verdict is Verdict.UNSAFE
    assert "pickle.import.not-allowed" in _rules(evil)


def test_decompression_bomb_is_unscannable() -> None:
    bomb = gzip.compress(bytes(64 << 20), compresslevel=9)
    result = _scan(bomb)
    assert result.verdict is Verdict.UNSCANNABLE
    assert "compressed.bomb" in _rules(result)


def test_truncated_compressed_stream_is_unscannable() -> None:
    data = gzip.compress(build.plain_pickle() * 50)
    result = _scan(data[: len(data) // 2])
    assert result.verdict is Verdict.UNSCANNABLE


def test_nesting_depth_is_bounded() -> None:
    data = build.plain_pickle()
    for _ in range(8):
        data = gzip.compress(data)
    result = _scan(data)
    assert result.verdict is Verdict.UNSCANNABLE
    assert "archive.too-deep" in _rules(result)


def test_tar_members_scanned_recursively() -> None:
    good = _tar([_member("cfg.pkl", build.plain_pickle())])
    assert _scan(good).verdict is Verdict.SAFE
    assert _scan(gzip.compress(good)).format == "gzip+tar"
    bad = _scan(gzip.compress(_tar([_member("m/x.bin", build.evil_pickle())])))
    assert bad.verdict is Verdict.UNSAFE


@pytest.mark.parametrize(
    ("name", "kind", "rule"),
    [
        ("../escape.pkl", tarfile.REGTYPE, "tar.path-traversal"),
        ("/etc/cron.d/x", tarfile.REGTYPE, "tar.absolute-path"),
        ("link", tarfile.SYMTYPE, "tar.link"),
        ("hard", tarfile.LNKTYPE, "tar.link"),
        ("dev", tarfile.CHRTYPE, "tar.special-file"),
    ],
)
def test_tar_anomalies_are_findings(name: str, kind: bytes, rule: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    data = build.plain_pickle() if kind == tarfile.REGTYPE else None
    info.size = len(data) if data else 0
    result = _scan(_tar([_member("ok.pkl", build.plain_pickle()), (info, data)]))
    assert result.verdict is Verdict.UNSAFE
    assert rule in _rules(result)


def test_seven_zip_is_unscannable() -> None:
    result = _scan(b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(100))
    assert result.verdict is Verdict.UNSCANNABLE
    assert "7z.unsupported" in _rules(result)


def test_pickle_with_zip_appended_is_a_polyglot() -> None:
    data = build.plain_pickle() + build.zip_of({"a.txt": b"hello"})
    result = _scan(data)
    assert result.verdict is Verdict.UNSAFE
    assert "polyglot.zip" in _rules(result)


def test_known_format_after_stop_is_a_polyglot() -> None:
    result = _scan(build.plain_pickle() + build.gguf({}))
    assert result.verdict is Verdict.UNSAFE
    assert "polyglot.trailing-format" in _rules(result)


def test_generic_zip_members_are_scanned() -> None:
    assert _scan(build.zip_of({"a/model.safetensors": build.good_safetensors()})).verdict is (
        Verdict.SAFE
    )
    bad = _scan(build.zip_of({"a/weights.bin": build.evil_pickle()}))
    assert bad.verdict is Verdict.UNSAFE
    traversal = _scan(build.zip_of({"../x.safetensors": build.good_safetensors()}))
    assert "zip.path-traversal" in _rules(traversal)


def test_scan_bytes_accepts_buffers_and_scan_file_maps(tmp_path: Path) -> None:
    data = build.good_safetensors()
    assert scan_bytes(memoryview(data), "m").verdict is Verdict.SAFE
    assert scan_bytes(bytearray(data), "m").verdict is Verdict.SAFE
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    assert scan_file(path).verdict is Verdict.SAFE
    (tmp_path / "empty").write_bytes(b"")
    assert scan_file(tmp_path / "empty").verdict is Verdict.UNSCANNABLE


def test_zip_with_pickle_after_the_end_record_is_a_polyglot() -> None:
    result = _scan(build.zip_of({"a.safetensors": build.good_safetensors()}) + build.evil_pickle())
    assert result.verdict is Verdict.UNSAFE
    assert "polyglot.trailing-format" in _rules(result)


def test_tiny_protobuf_is_not_taken_for_a_known_format() -> None:
    assert _scan(b"\x08\x01").verdict is Verdict.UNSCANNABLE


def test_hdf5_behind_a_user_block_of_another_format_is_a_polyglot() -> None:
    data = build.plain_pickle().ljust(512, b"\x00") + b"\x89HDF\r\n\x1a\n" + bytes(64)
    result = _scan(data)
    assert result.verdict is Verdict.UNSAFE
    assert "polyglot.hdf5-user-block" in _rules(result)


def test_torchscript_code_is_not_judged_safe() -> None:
    data = build.zip_of(
        {"m/data.pkl": build.plain_pickle(), "m/code/__torch__.py": b"def f(): pass"}
    )
    result = _scan(data)
    assert result.verdict is Verdict.UNSCANNABLE
    assert "torch.torchscript-code" in _rules(result)


def test_json_files_of_a_model_directory() -> None:
    tokenizer = b'{"chat_template": "{% generation %}{{ m }}{% endgeneration %}", "eos": "x"}'
    assert _scan(tokenizer).verdict is Verdict.SAFE
    evil = b'{"chat_template": "{{ cycler.__init__.__globals__ }}"}'
    assert _scan(evil).verdict is Verdict.UNSAFE
    remote = _scan(b'{"auto_map": {"AutoModel": "modeling_x.Model"}}')
    assert remote.verdict is Verdict.UNSCANNABLE
    keras_cfg = b'{"module": "os", "class_name": "system", "config": {}}'
    assert _scan(keras_cfg).verdict is Verdict.UNSAFE
    assert _scan(b"[1, 2, 3]").verdict is Verdict.SAFE


def _npy(descr: str, shape: str, body: bytes) -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header = header.ljust(118) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def test_npy_data_length_and_trailing_payload() -> None:
    assert _scan(_npy("<f4", "(2, 2)", bytes(16))).verdict is Verdict.SAFE
    assert _scan(_npy("<f4", "(2, 2)", bytes(8))).verdict is Verdict.UNSCANNABLE
    polyglot = _scan(_npy("<f4", "(2,)", bytes(8) + build.evil_pickle()))
    assert polyglot.verdict is Verdict.UNSAFE
    assert "polyglot.trailing-format" in _rules(polyglot)


def test_pickle_without_proto_header_is_still_a_pickle() -> None:
    headerless = build.evil_pickle()[2:]  # protocol-2 opcodes, no PROTO
    assert classify(headerless) is Kind.PICKLE
    assert _scan(headerless).verdict is Verdict.UNSAFE
    short4 = b"\x8c\x05posix\x8c\x06system\x93\x8c\x04true\x85R."
    assert _scan(short4).verdict is Verdict.UNSAFE
    assert classify(b"This is a README file\n") is Kind.UNKNOWN


def test_sentencepiece_tokenizer_model_is_data() -> None:
    piece = build.pb_str(1, "▁the") + b"\x15" + struct.pack("<f", -3.5) + build.pb_int(3, 1)
    model = build.pb_bytes(1, piece) * 3 + build.pb_bytes(2, build.pb_str(1, "m"))
    assert classify(model) is Kind.SENTENCEPIECE
    assert _scan(model).verdict is Verdict.SAFE
