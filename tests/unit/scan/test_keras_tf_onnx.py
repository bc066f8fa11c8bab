"""Keras configs (.keras, H5), ONNX external data, TF SavedModel ops, the protobuf reader."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import pytest

from tests.unit.scan import build
from vallum.scan import FileResult, Verdict
from vallum.scan import protobuf as pb
from vallum.scan.service import scan_bytes, scan_file


def _scan(data: bytes) -> FileResult:
    return scan_bytes(data, "mem")


def _rules(result: FileResult) -> set[str]:
    return {f.rule for f in result.findings}


DENSE = build.layer("Dense", {"name": "d", "units": 2, "activation": "relu"})


def test_benign_keras_archive_is_safe() -> None:
    result = _scan(build.keras_zip([build.layer("InputLayer", {"batch_shape": [None, 4]}), DENSE]))
    assert result.verdict is Verdict.SAFE, result.findings
    assert result.format == "keras"


@pytest.mark.parametrize(
    ("layer", "rule"),
    [
        (
            build.layer("Lambda", {"function": {"class_name": "__lambda__", "config": {}}}),
            "keras.lambda",
        ),
        (build.layer("TFSMLayer", {"filepath": "/srv/x"}), "keras.loads-file"),
        (build.layer("Dense", {}, module="os"), "keras.module-not-allowed"),
        (build.layer("get_file", {}, module="keras.utils"), "keras.module-not-allowed"),
        (
            build.layer("Dense", {"activation": build.layer("function", "system", module="os")}),
            "keras.module-not-allowed",
        ),
        (
            build.layer(
                "Dense",
                {"activation": build.layer("function", "load_model", module="keras.models")},
            ),
            "keras.function-not-allowed",
        ),
        (build.layer("Dense", {"name": "__globals__"}), "keras.dunder"),
    ],
)
def test_malicious_keras_configs(layer: dict[str, object], rule: str) -> None:
    result = _scan(build.keras_zip([DENSE, layer]))
    assert result.verdict is Verdict.UNSAFE
    assert rule in _rules(result)


def test_custom_keras_class_is_unscannable() -> None:
    result = _scan(build.keras_zip([build.layer("MyLayer", {})]))
    assert result.verdict is Verdict.UNSCANNABLE
    assert "keras.class-unknown" in _rules(result)


def test_keras_archive_members_are_scanned() -> None:
    result = _scan(build.keras_zip([DENSE], extra={"model.weights.h5": build.evil_pickle()}))
    assert result.verdict is Verdict.UNSAFE


def _h5(path: Path, config: dict[str, object] | None, link: bool = False) -> Path:
    with h5py.File(path, "w") as f:
        if config is not None:
            f.attrs["model_config"] = json.dumps(config)
        f.create_dataset("w", data=[1.0, 2.0])
        if link:
            f["leak"] = h5py.ExternalLink("/etc/passwd", "/")
    return path


def test_legacy_h5(tmp_path: Path) -> None:
    good = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense"}]}}
    assert scan_file(_h5(tmp_path / "a.h5", good)).verdict is Verdict.SAFE
    evil = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda"}]}}
    bad = scan_file(_h5(tmp_path / "b.h5", evil))
    assert bad.verdict is Verdict.UNSAFE
    assert "keras.lambda" in _rules(bad)
    linked = scan_file(_h5(tmp_path / "c.h5", None, link=True))
    assert "hdf5.external-link" in _rules(linked)
    data = (tmp_path / "a.h5").read_bytes()
    assert _scan(data[: len(data) // 2]).verdict is Verdict.UNSCANNABLE
    assert _scan(data).verdict is Verdict.SAFE  # in memory: bytes go to the reader on stdin


def test_onnx_benign_and_external_paths(tmp_path: Path) -> None:
    assert _scan(build.onnx()).verdict is Verdict.SAFE
    for location, rule in (
        ("/etc/passwd", "onnx.external-data.absolute"),
        ("C:\\\\Windows\\\\x", "onnx.external-data.absolute"),
        ("../../secret", "onnx.external-data.traversal"),
        ("a/../../b", "onnx.external-data.traversal"),
    ):
        result = _scan(build.onnx({"location": location}))
        assert result.verdict is Verdict.UNSAFE, location
        assert rule in _rules(result)
    custom = _scan(build.onnx(domain="com.example.ops"))
    assert custom.verdict is Verdict.SAFE
    assert "onnx.custom-domain" in _rules(custom)


def test_onnx_external_data_on_disk(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "weights.bin").write_bytes(bytes(8))
    (model / "ok.onnx").write_bytes(build.onnx({"location": "weights.bin"}))
    assert scan_file(model / "ok.onnx").verdict is Verdict.SAFE
    assert scan_file(model / "weights.bin").verdict is Verdict.SAFE  # named by ok.onnx
    (model / "stray.bin").write_bytes(bytes(8))
    assert scan_file(model / "stray.bin").verdict is Verdict.UNSCANNABLE
    (tmp_path / "outside").write_bytes(b"secret")
    os.symlink(tmp_path / "outside", model / "link.bin")
    (model / "sym.onnx").write_bytes(build.onnx({"location": "link.bin"}))
    result = scan_file(model / "sym.onnx")
    assert result.verdict is Verdict.UNSAFE
    assert "onnx.external-data.symlink" in _rules(result)


def test_onnx_truncated_is_unscannable() -> None:
    data = build.onnx()
    assert _scan(data[:-3]).verdict is Verdict.UNSCANNABLE


def test_savedmodel_ops() -> None:
    benign = [build.node_def("x", "Placeholder"), build.node_def("y", "AddV2", ("x", "x"))]
    assert _scan(build.savedmodel(benign)).verdict is Verdict.SAFE
    for op, rule in (
        ("ReadFile", "tf.op.file-io"),
        ("WriteFile", "tf.op.file-io"),
        ("MatchingFiles", "tf.op.file-io"),
        ("ImmutableConst", "tf.op.file-io"),
        ("EagerPyFunc", "tf.op.py-func"),
        ("PyFunc", "tf.op.py-func"),
    ):
        nodes = [*benign, build.node_def("evil", op, ("x",))]
        result = _scan(build.savedmodel(nodes))
        assert result.verdict is Verdict.UNSAFE, op
        assert rule in _rules(result)
        in_function = _scan(build.savedmodel(benign, {"f": [build.node_def("evil", op)]}))
        assert in_function.verdict is Verdict.UNSAFE, op


def test_savedmodel_checkpoint_ops_judged_by_their_file_name() -> None:
    saver = [
        build.node_def("saver_filename", "Placeholder"),
        build.node_def("save_call", "StatefulPartitionedCall", ("saver_filename",), func="traced"),
    ]
    traced = [
        build.node_def("join", "StringJoin", ("file_prefix", "suffix")),
        build.node_def("suffix", "Const"),
        build.node_def("save", "SaveV2", ("join", "names", "slices")),
    ]
    standard = build.savedmodel(saver, {"traced": traced}, saver_file="saver_filename:0")
    assert _scan(standard).verdict is Verdict.SAFE
    constant_path = [build.node_def("p", "Const"), build.node_def("save", "SaveV2", ("p",))]
    rogue = build.savedmodel(saver + constant_path, {"traced": traced}, "saver_filename:0")
    assert "tf.op.file-io" in _rules(_scan(rogue))
    other_caller = build.savedmodel(
        [
            *saver,
            build.node_def("c", "Const"),
            build.node_def("x", "PartitionedCall", ("c",), "traced"),
        ],
        {"traced": traced},
        saver_file="saver_filename:0",
    )
    assert _scan(other_caller).verdict is Verdict.UNSAFE


def test_protobuf_reader() -> None:
    msg = build.pb_int(1, 300) + build.pb_str(2, "hi") + build.pb_bytes(3, build.pb_int(1, 5))
    fields = pb.fields(msg)
    assert fields[1][0].value == 300
    assert fields[2][0].text() == "hi"
    assert [f.value for f in fields[3][0].message()] == [5]
    for bad in (b"\x08", b"\x12\x05ab", b"\x0b", b"\x00\x01", b"\x08" + b"\xff" * 11):
        with pytest.raises(pb.ProtobufError):
            pb.fields(bad)


def test_checkpoint_shards_beside_their_index(tmp_path: Path) -> None:
    variables = tmp_path / "variables"
    variables.mkdir()
    (variables / "variables.index").write_bytes(
        bytes(40) + (0xDB4775248B80FB57).to_bytes(8, "little")
    )
    (variables / "variables.data-00000-of-00001").write_bytes(bytes(range(7, 200)))
    assert scan_file(variables / "variables.index").verdict is Verdict.SAFE
    assert scan_file(variables / "variables.data-00000-of-00001").verdict is Verdict.SAFE
    (variables / "other.data-00000-of-00001").write_bytes(bytes(range(7, 200)))
    assert scan_file(variables / "other.data-00000-of-00001").verdict is Verdict.UNSCANNABLE
    (variables / "variables.data-00000-of-00001").write_bytes(build.evil_pickle())
    assert scan_file(variables / "variables.data-00000-of-00001").verdict is Verdict.UNSAFE
    import gzip

    (variables / "variables.data-00000-of-00001").write_bytes(gzip.compress(build.evil_pickle()))
    assert scan_file(variables / "variables.data-00000-of-00001").verdict is Verdict.UNSAFE


def test_real_world_keras_shapes_are_allowed() -> None:
    functional = {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "config": {
                        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {}},
                        "kernel_initializer": {
                            "module": "keras.initializers",
                            "class_name": "GlorotUniform",
                            "config": {"seed": None},
                        },
                        "activation": {
                            "module": "keras.activations",
                            "class_name": "function",
                            "config": "relu",
                            "registered_name": "relu",
                        },
                    },
                    "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__"}]}],
                }
            ]
        },
        "compile_config": {"optimizer": {"class_name": "Custom>Adam", "config": {}}},
    }
    assert _scan(build.keras_zip([functional])).verdict is Verdict.SAFE
    legacy = {"module": "keras.engine.functional", "class_name": "Functional", "config": {}}
    assert _scan(build.keras_zip([legacy])).verdict is Verdict.SAFE
