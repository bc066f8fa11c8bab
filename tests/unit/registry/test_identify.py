"""Identify: exact versions, single files, re-packaged copies and fine-tunes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.unit.registry import builders as b
from tests.unit.registry.conftest import WEIGHTS, events, torch_model
from vallum.context import Context
from vallum.errors import UsageError
from vallum.registry import Ref, RegisterRequest, identify, register

BASE = Ref("triage", "3")


@pytest.fixture
def registered(ctx: Context, tmp_path: Path) -> Path:
    model = torch_model(tmp_path / "triage")
    register(ctx, RegisterRequest(BASE, model))
    other = tmp_path / "other"
    b.write(other / "model.npz", b.npz({"x": b.values(40, 100), "y": b.values(40, 101)}))
    register(ctx, RegisterRequest(Ref("other", "1"), other))
    return model


def test_the_same_folder_is_an_exact_match(ctx: Context, registered: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(registered, copy)
    found = identify(ctx, copy)
    assert found.exact is not None and found.exact.version.ref == BASE
    assert [m.kind for m in found.matches] == ["exact"]
    assert found.to_dict()["exact"] == "triage@3"
    event = events(ctx, "models.fingerprinted")[-1]
    assert (event["subject"], event["match"]) == ("model:triage@3", "exact")


def test_one_file_of_a_version_is_named(ctx: Context, registered: Path, tmp_path: Path) -> None:
    single = tmp_path / "loose" / "checkpoint.pt"
    single.parent.mkdir()
    shutil.copy(registered / "model.pt", single)
    found = identify(ctx, single)
    assert found.exact is None
    (match,) = found.matches
    assert (match.kind, match.file, match.version.ref) == ("file", "model.pt", BASE)
    assert match.shared == 1.0
    assert match.covers == pytest.approx(4 / 5)  # the npz tensor is not in this file


def test_a_repackaged_copy_shares_every_tensor(
    ctx: Context, registered: Path, tmp_path: Path
) -> None:
    repacked = tmp_path / "repacked"
    renamed = {f"encoder.{k}": v for k, v in WEIGHTS.items()}
    b.write(repacked / "model.safetensors", b.safetensors(renamed))
    b.write(repacked / "emb.npy", b.npy(b.values(48, 9)))
    found = identify(ctx, repacked)
    (match,) = found.matches
    assert (match.kind, match.version.ref) == ("tensors", BASE)
    assert (match.shared, match.covers) == (1.0, 1.0)
    assert match.shared_bytes == 4 * (64 + 8 + 32 + 8 + 48)


def test_a_fine_tune_shares_the_layers_it_did_not_change(
    ctx: Context, registered: Path, tmp_path: Path
) -> None:
    tuned = dict(WEIGHTS)
    tuned["layer2.weight"] = b.values(32, 55)
    tuned["layer2.bias"] = b.values(8, 56)
    path = b.write(tmp_path / "tuned" / "model.pt", b.torch_zip(tuned))
    found = identify(ctx, path)
    (match,) = found.matches
    assert match.kind == "tensors"
    assert match.shared_tensors == 2
    assert match.shared == pytest.approx(2 / 4)
    assert match.covers == pytest.approx(2 / 5)


def test_an_unrelated_model_matches_nothing_even_with_shared_constants(
    ctx: Context, registered: Path, tmp_path: Path
) -> None:
    path = b.write(
        tmp_path / "new" / "m.safetensors",
        b.safetensors({"w": b.values(64, 999), "norm.weight": [1.0] * 8, "b": [0.0] * 8}),
    )
    found = identify(ctx, path)
    assert found.matches == ()
    assert (found.tensors, found.trivial) == (1, 2)
    event = events(ctx, "models.fingerprinted")[-1]
    assert (event["subject"], event["match"]) == ("file:m.safetensors", None)


def test_ranking_prefers_the_closest_version(
    ctx: Context, registered: Path, tmp_path: Path
) -> None:
    tuned = dict(WEIGHTS)
    tuned["layer1.weight"] = b.values(64, 200)
    v4 = b.write(tmp_path / "v4" / "model.pt", b.torch_zip(tuned))
    register(ctx, RegisterRequest(Ref("triage", "4"), v4.parent))
    probe = dict(tuned)
    probe["layer2.bias"] = b.values(8, 300)
    found = identify(ctx, b.write(tmp_path / "probe" / "model.pt", b.torch_zip(probe)))
    assert [(str(m.version.ref), m.shared_tensors) for m in found.matches] == [
        ("triage@4", 3),
        ("triage@3", 2),
    ]


def test_a_missing_path_is_a_usage_error(ctx: Context, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        identify(ctx, tmp_path / "nothing")
