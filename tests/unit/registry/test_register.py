"""Registering a version: scanned, hashed, signature-checked, stored encrypted, immutable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.unit.registry import builders as b
from tests.unit.registry.conftest import WEIGHTS, KeyPair, events, make_keys
from vallum.context import Context
from vallum.errors import IntegrityError, PolicyViolation, UsageError, VersionExistsError
from vallum.registry import (
    Dataset,
    ModelCard,
    Ref,
    RegisterRequest,
    detail,
    list_versions,
    register,
)
from vallum.signing import hash_model, sign_model

MALICIOUS = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."
REF = Ref("triage", "3")


def test_register_stores_every_file_encrypted_and_records_it(ctx: Context, model_dir: Path) -> None:
    done = register(
        ctx,
        RegisterRequest(
            REF,
            model_dir,
            datasets=(Dataset("notes", "2"),),
            owner="ml-team",
            card=ModelCard(task="classification", use_cases=("triage",)),
        ),
    )
    manifest = hash_model(model_dir)
    info = done.info
    assert info.manifest_digest == manifest.digest
    assert {f.path: f.sha256 for f in done.files} == dict(manifest.files)
    assert info.layout == "dir"
    assert info.format == "numpy-npz,pytorch-zip"
    assert info.signed is False
    assert info.owner == "ml-team"
    assert info.datasets == (Dataset("notes", "2"),)
    assert info.registered_by == ctx.principal.actor
    assert done.verdict == "safe"
    # 4 random tensors in model.pt + 1 in the npz; the constant norm is trivial
    assert len(done.fingerprints.tensors) == 5
    assert done.fingerprints.trivial == 1

    shown = detail(ctx.engine, REF)
    assert shown.scan is not None and shown.scan.verdict == "safe"
    assert shown.bom is None
    assert shown.tensors == 5
    assert shown.info.card.task == "classification"

    # encrypted at rest: no file's bytes (or a tensor's) appear under the blob store
    weights = b.f32(WEIGHTS["layer1.weight"])
    stored = [p.read_bytes() for p in (ctx.settings.data_dir / "blobs").rglob("*") if p.is_file()]
    assert len(stored) >= 2
    assert not any(weights in blob for blob in stored)
    assert not any((model_dir / "model.pt").read_bytes()[:64] in blob for blob in stored)
    for f in done.files:
        assert ctx.blobs.get_bytes(f.blob) == (model_dir / f.path).read_bytes()

    registered = events(ctx, "models.registered")
    assert [(e["subject"], e["outcome"]) for e in registered] == [("model:triage@3", "success")]
    assert registered[0]["manifest_digest"] == manifest.digest
    assert registered[0]["datasets"] == ["notes@2"]
    assert len(events(ctx, "models.scanned")) == 2
    assert events(ctx, "models.fingerprinted")[0]["tensors"] == 5


def test_the_same_name_and_version_is_refused_and_recorded(ctx: Context, model_dir: Path) -> None:
    register(ctx, RegisterRequest(REF, model_dir))
    b.write(model_dir / "model.pt", b.torch_zip({"w": b.values(16, 77)}))
    with pytest.raises(VersionExistsError):
        register(ctx, RegisterRequest(REF, model_dir))
    outcomes = [(e["outcome"], e.get("reason")) for e in events(ctx, "models.registered")]
    assert outcomes == [("success", None), ("denied", "version_exists")]
    assert len(list_versions(ctx.engine)) == 1
    register(ctx, RegisterRequest(Ref("triage", "4"), model_dir))
    assert [str(v.ref) for v in list_versions(ctx.engine, "triage")] == ["triage@3", "triage@4"]


def test_an_unsafe_file_refuses_the_whole_version(ctx: Context, model_dir: Path) -> None:
    b.write(model_dir / "extra" / "optimizer.bin", MALICIOUS)
    with pytest.raises(PolicyViolation, match=r"1 file\(s\) unsafe: optimizer.bin"):
        register(ctx, RegisterRequest(REF, model_dir, allow_unscannable=True))
    assert list_versions(ctx.engine) == []
    denied = events(ctx, "models.registered")
    assert [(e["outcome"], e["reason"], e["unsafe"]) for e in denied] == [("denied", "scan", 1)]
    scanned = {e["file"]: e["verdict"] for e in events(ctx, "models.scanned")}
    assert scanned["optimizer.bin"] == "unsafe"
    blobs = ctx.settings.data_dir / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))


def test_unscannable_files_need_the_flag_and_stay_unscannable(
    ctx: Context, model_dir: Path
) -> None:
    (model_dir / "notes.dat").write_bytes(b"\x00\x01 not a model \x02" * 8)
    with pytest.raises(PolicyViolation, match=r"unscannable: notes\.dat"):
        register(ctx, RegisterRequest(REF, model_dir))
    done = register(ctx, RegisterRequest(REF, model_dir, allow_unscannable=True))
    assert done.verdict == "unscannable"
    shown = detail(ctx.engine, REF)
    assert shown.scan is not None and shown.scan.verdict == "unscannable"
    assert shown.scan.summary == {"files": 3, "safe": 2, "unsafe": 0, "unscannable": 1}


def test_a_signed_model_records_the_signer(ctx: Context, model_dir: Path, keys: KeyPair) -> None:
    signed = sign_model(model_dir, private_key=keys.private)
    done = register(ctx, RegisterRequest(REF, model_dir, public_key=keys.public))
    assert done.info.signed is True
    assert done.info.key_fingerprint == signed.key_fingerprint
    assert done.info.signature_name == "model.sig"
    assert "model.sig" not in {f.path for f in done.files}  # the signature is not a model file
    verified = events(ctx, "models.verified")
    assert [(e["outcome"], e["key_fingerprint"]) for e in verified] == [
        ("success", signed.key_fingerprint)
    ]


def test_a_signature_by_another_key_refuses_registration(
    ctx: Context, model_dir: Path, keys: KeyPair, tmp_path: Path
) -> None:
    sign_model(model_dir, private_key=keys.private)
    other = make_keys(tmp_path / "keys", "other")
    with pytest.raises(IntegrityError, match="signature does not verify"):
        register(ctx, RegisterRequest(REF, model_dir, public_key=other.public))
    assert list_versions(ctx.engine) == []
    assert [e["outcome"] for e in events(ctx, "models.verified")] == ["failure"]
    assert events(ctx, "models.registered")[0]["reason"] == "signature"


def test_a_file_changed_after_signing_is_named(
    ctx: Context, model_dir: Path, keys: KeyPair
) -> None:
    sign_model(model_dir, private_key=keys.private)
    b.write(model_dir / "extra" / "embeddings.npz", b.npz({"emb": b.values(48, 10)}))
    with pytest.raises(IntegrityError, match=r"embeddings\.npz"):
        register(ctx, RegisterRequest(REF, model_dir, public_key=keys.public))
    assert list_versions(ctx.engine) == []


def test_a_signature_without_a_key_or_a_key_without_a_signature_is_a_usage_error(
    ctx: Context, model_dir: Path, keys: KeyPair
) -> None:
    with pytest.raises(UsageError, match="no signature found"):
        register(ctx, RegisterRequest(REF, model_dir, public_key=keys.public))
    sign_model(model_dir, private_key=keys.private)
    with pytest.raises(UsageError, match="no key to check it with"):
        register(ctx, RegisterRequest(REF, model_dir))
    assert list_versions(ctx.engine) == []


def test_a_single_file_model_with_its_signature_beside_it(
    ctx: Context, tmp_path: Path, keys: KeyPair
) -> None:
    model = b.write(tmp_path / "solo" / "weights.npz", b.npz({"w": b.values(20, 5)}))
    sign_model(model, private_key=keys.private)
    assert (tmp_path / "solo" / "weights.npz.sig").is_file()
    done = register(ctx, RegisterRequest(REF, model, public_key=keys.public))
    assert done.info.layout == "file"
    assert done.info.framework == "numpy"
    assert [f.path for f in done.files] == ["weights.npz"]
    assert done.info.signed is True


def test_registered_rows_cannot_be_changed_in_the_database(ctx: Context, model_dir: Path) -> None:
    register(ctx, RegisterRequest(REF, model_dir))
    for sql in (
        "UPDATE model_versions SET manifest_digest = 'x'",
        "UPDATE model_files SET sha256 = 'x'",
        "DELETE FROM model_tensors",
        "DELETE FROM model_versions",
    ):
        with pytest.raises(DBAPIError, match="immutable"), ctx.engine.begin() as conn:
            conn.execute(text(sql))
    assert detail(ctx.engine, REF).info.manifest_digest == hash_model(model_dir).digest


@pytest.mark.parametrize(
    ("name", "version"), [("bad name", "1"), ("x", "1 2"), ("", "1"), ("x", ""), ("-x", "1")]
)
def test_names_and_versions_are_checked(name: str, version: str) -> None:
    with pytest.raises(UsageError):
        Ref.of(name, version)


@pytest.mark.parametrize("text_", ["triage", "@3", "triage@", "a@b@"])
def test_refs_must_be_name_at_version(text_: str) -> None:
    with pytest.raises(UsageError):
        Ref.parse(text_)


def test_a_symlinked_model_is_refused(ctx: Context, model_dir: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(model_dir)
    with pytest.raises(UsageError):
        register(ctx, RegisterRequest(REF, link))
    inner = tmp_path / "copy"
    shutil.copytree(model_dir, inner)
    (inner / "evil").symlink_to("/etc/passwd")
    with pytest.raises(UsageError, match="symbolic link"):
        register(ctx, RegisterRequest(REF, inner))
    assert list_versions(ctx.engine) == []


def test_safetensors_and_onnx_folders_register_with_their_fingerprints(
    ctx: Context, tmp_path: Path
) -> None:
    model = tmp_path / "export"
    b.write(model / "model.safetensors", b.safetensors(WEIGHTS, {"format": "pt"}))
    done = register(ctx, RegisterRequest(REF, model))
    assert (done.info.format, done.info.framework, done.verdict) == ("safetensors", None, "safe")
    assert len(done.fingerprints.tensors) == 4
    onnx = b.write(
        tmp_path / "onnx" / "model.onnx",
        b.onnx_model([b.onnx_tensor(k, v, typed=k.endswith("bias")) for k, v in WEIGHTS.items()]),
    )
    done = register(ctx, RegisterRequest(Ref("triage-onnx", "1"), onnx))
    assert (done.info.format, done.info.framework, done.verdict) == ("onnx", "onnx", "safe")
    assert done.fingerprints.digests == detail_digests(ctx, REF)


def detail_digests(ctx: Context, ref: Ref) -> frozenset[str]:
    from sqlalchemy import select

    from vallum.store.models_registry import ModelTensor, ModelVersion

    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(ModelTensor.digest)
            .join(ModelVersion, ModelVersion.id == ModelTensor.version_id)
            .where(ModelVersion.name == ref.name, ModelVersion.version == ref.version)
        ).scalars()
        return frozenset(rows)


def test_overlong_labels_are_usage_errors(ctx: Context, model_dir: Path) -> None:
    with pytest.raises(UsageError, match="--owner"):
        register(ctx, RegisterRequest(REF, model_dir, owner="x" * 129))
    with pytest.raises(UsageError, match="--framework"):
        register(ctx, RegisterRequest(REF, model_dir, framework=""))
    assert list_versions(ctx.engine) == []
