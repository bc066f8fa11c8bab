"""Export: decrypt to an empty folder, byte for byte, or nothing at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.registry import builders as b
from tests.unit.registry.conftest import KeyPair, events
from vallum.context import Context
from vallum.errors import IntegrityError, NotFoundError, UsageError
from vallum.registry import Ref, RegisterRequest, export, register
from vallum.registry.export import safe_relative
from vallum.signing import hash_model, sign_model, verify_model

REF = Ref("triage", "3")


def blob_file(ctx: Context, address: str) -> Path:
    return ctx.settings.data_dir / "blobs" / address[:2] / address[2:4] / address


def test_export_round_trip_with_the_signature(
    ctx: Context, model_dir: Path, keys: KeyPair, tmp_path: Path
) -> None:
    sign_model(model_dir, private_key=keys.private)
    register(ctx, RegisterRequest(REF, model_dir, public_key=keys.public))
    dest = tmp_path / "out" / "triage"
    done = export(ctx, REF, dest)
    assert done.model == dest and done.files == 2
    assert hash_model(dest) == hash_model(model_dir)
    assert (dest / "extra" / "embeddings.npz").read_bytes() == (
        model_dir / "extra" / "embeddings.npz"
    ).read_bytes()
    assert done.signature == dest / "model.sig"
    assert verify_model(dest, public_key=keys.public).manifest.digest == done.info.manifest_digest
    assert [e["outcome"] for e in events(ctx, "models.exported")] == ["success"]


def test_a_single_file_model_exports_to_a_file_in_dest(ctx: Context, tmp_path: Path) -> None:
    model = b.write(tmp_path / "solo" / "weights.npz", b.npz({"w": b.values(20, 5)}))
    register(ctx, RegisterRequest(REF, model))
    done = export(ctx, REF, tmp_path / "out")
    assert done.model == tmp_path / "out" / "weights.npz"
    assert done.model.read_bytes() == model.read_bytes()
    assert done.signature is None


def test_a_non_empty_destination_is_refused(ctx: Context, model_dir: Path, tmp_path: Path) -> None:
    register(ctx, RegisterRequest(REF, model_dir))
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        export(ctx, REF, dest)
    assert (dest / "keep.txt").read_text() == "mine"
    with pytest.raises(UsageError, match="not a folder"):
        export(ctx, REF, dest / "keep.txt")
    with pytest.raises(NotFoundError):
        export(ctx, Ref("triage", "9"), tmp_path / "none")


def test_a_tampered_blob_fails_and_leaves_nothing(
    ctx: Context, model_dir: Path, tmp_path: Path
) -> None:
    done = register(ctx, RegisterRequest(REF, model_dir))
    target = next(f for f in done.files if f.path == "model.pt")
    path = blob_file(ctx, target.blob)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    dest = tmp_path / "out"
    with pytest.raises(IntegrityError):
        export(ctx, REF, dest)
    assert not dest.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IntegrityError):
        export(ctx, REF, empty)
    assert list(empty.iterdir()) == []
    assert [e["outcome"] for e in events(ctx, "models.exported")] == ["failure", "failure"]


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a/../../b", "", "a//b", "a\\b", "./a"])
def test_stored_paths_must_stay_inside(rel: str) -> None:
    with pytest.raises(IntegrityError):
        safe_relative(rel)


def test_ordinary_paths_are_kept() -> None:
    assert safe_relative("extra/embeddings.npz").parts == ("extra", "embeddings.npz")
