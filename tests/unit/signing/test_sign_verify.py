"""sign_model / verify_model with a private key: round trip, every kind of tampering
named, and clear errors for missing or garbled signatures and keys."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.unit.signing.material import KeyPair, write_key
from vallum.errors import (
    IntegrityError,
    KeyFileError,
    ModelMismatchError,
    SignatureFileError,
    SignatureMismatchError,
    UsageError,
)
from vallum.signing import hash_model, sign_model, verify_model


def _statement(signature: Path) -> dict[str, object]:
    bundle = json.loads(signature.read_text(encoding="utf-8"))
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert isinstance(payload, dict)
    return payload


def _fingerprint(public: Path) -> str:
    key = serialization.load_pem_public_key(public.read_bytes())
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def test_round_trip(model: Path, keys: KeyPair) -> None:
    signed = sign_model(model, private_key=keys.private)
    assert signed.signature == model / "model.sig"
    assert signed.method == "key"
    assert signed.manifest == hash_model(model)
    assert signed.key_fingerprint == _fingerprint(keys.public)
    checked = verify_model(model, public_key=keys.public)
    assert checked.manifest == signed.manifest
    assert checked.key_fingerprint == signed.key_fingerprint
    assert checked.method == "key"


def test_the_statement_is_an_oms_manifest(model: Path, keys: KeyPair) -> None:
    signed = sign_model(model, private_key=keys.private)
    bundle = json.loads(signed.signature.read_text(encoding="utf-8"))
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"
    statement = _statement(signed.signature)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    predicate = statement["predicate"]
    assert isinstance(predicate, dict)
    resources = {r["name"]: r["digest"] for r in predicate["resources"]}
    assert resources == dict(signed.manifest.files)
    assert predicate["serialization"]["method"] == "files"
    assert "model.sig" in predicate["serialization"]["ignore_paths"]
    subject = statement["subject"]
    assert isinstance(subject, list)
    root = hashlib.sha256(b"".join(bytes.fromhex(resources[n]) for n in sorted(resources)))
    assert subject[0] == {"name": "model", "digest": {"sha256": root.hexdigest()}}
    # no key material in the bundle: only the public key's hash as a hint
    text = signed.signature.read_text(encoding="utf-8")
    assert "PRIVATE" not in text
    assert "BEGIN" not in text


def test_single_file_model_signature_beside_it(model: Path, keys: KeyPair) -> None:
    weights = model / "weights" / "part-1.bin"
    signed = sign_model(weights, private_key=keys.private)
    assert signed.signature == weights.with_name("part-1.bin.sig")
    predicate = _statement(signed.signature)["predicate"]
    assert isinstance(predicate, dict)
    assert [r["name"] for r in predicate["resources"]] == ["."]
    assert verify_model(weights, public_key=keys.public).manifest == signed.manifest
    weights.write_bytes(b"other")
    with pytest.raises(ModelMismatchError, match="changed"):
        verify_model(weights, public_key=keys.public)


def test_custom_signature_inside_the_model_is_left_out(model: Path, keys: KeyPair) -> None:
    sig = model / "sigs" / "release.sig"
    sig.parent.mkdir()
    sign_model(model, private_key=keys.private, signature=sig)
    assert verify_model(model, signature=sig, public_key=keys.public)


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1()])
def test_larger_curves(model: Path, tmp_path: Path, curve: ec.EllipticCurve) -> None:
    pair = write_key(tmp_path, "big", curve)
    sign_model(model, private_key=pair.private)
    assert verify_model(model, public_key=pair.public).method == "key"


# --- tampering with the model -------------------------------------------------------


@pytest.fixture
def signed_model(model: Path, keys: KeyPair) -> Path:
    sign_model(model, private_key=keys.private)
    return model


def _reject(model: Path, keys: KeyPair) -> str:
    with pytest.raises(ModelMismatchError) as info:
        verify_model(model, public_key=keys.public)
    assert isinstance(info.value, IntegrityError)
    assert info.value.code == "integrity.model"
    return info.value.one_line()


def test_changed_file_is_named(signed_model: Path, keys: KeyPair) -> None:
    with open(signed_model / "weights" / "part-2.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"\x08")
    assert "changed 'weights/part-2.bin'" in _reject(signed_model, keys)


def test_added_file_is_named(signed_model: Path, keys: KeyPair) -> None:
    (signed_model / "weights" / "extra.pkl").write_bytes(b"\x80\x04N.")
    assert "added 'weights/extra.pkl'" in _reject(signed_model, keys)


def test_removed_file_is_named(signed_model: Path, keys: KeyPair) -> None:
    (signed_model / "tokenizer.json").unlink()
    assert "removed 'tokenizer.json'" in _reject(signed_model, keys)


def test_renamed_file_is_named(signed_model: Path, keys: KeyPair) -> None:
    (signed_model / "weights" / "part-1.bin").rename(signed_model / "weights" / "part-9.bin")
    message = _reject(signed_model, keys)
    assert "renamed 'weights/part-1.bin' to 'weights/part-9.bin'" in message
    assert "added" not in message


def test_swapped_files_are_changes(signed_model: Path, keys: KeyPair) -> None:
    a, b = signed_model / "config.json", signed_model / "tokenizer.json"
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    message = _reject(signed_model, keys)
    assert "changed 'config.json'" in message
    assert "changed 'tokenizer.json'" in message


def test_symlink_is_named(signed_model: Path, keys: KeyPair, tmp_path: Path) -> None:
    (signed_model / "weights" / "part-3.bin").symlink_to(tmp_path / "anything")
    assert "'weights/part-3.bin' is a symbolic link" in _reject(signed_model, keys)


def test_file_replaced_by_a_symlink_to_identical_content(
    signed_model: Path, keys: KeyPair, tmp_path: Path
) -> None:
    original = signed_model / "config.json"
    copy = tmp_path / "copy.json"
    copy.write_bytes(original.read_bytes())
    original.unlink()
    original.symlink_to(copy)
    assert "'config.json' is a symbolic link" in _reject(signed_model, keys)


def test_many_problems_are_counted(signed_model: Path, keys: KeyPair) -> None:
    for i in range(8):
        (signed_model / f"new-{i}").write_bytes(b"x")
    message = _reject(signed_model, keys)
    assert message.count("added") == 5
    assert "and 3 more" in message


# --- the signature and the keys -------------------------------------------------------


def test_other_key_is_a_signature_mismatch(
    signed_model: Path, keys: KeyPair, other_keys: KeyPair
) -> None:
    with pytest.raises(SignatureMismatchError, match="does not verify") as info:
        verify_model(signed_model, public_key=other_keys.public)
    assert info.value.code == "integrity.signature"


def test_forged_statement_is_a_signature_mismatch(signed_model: Path, keys: KeyPair) -> None:
    sig = signed_model / "model.sig"
    bundle = json.loads(sig.read_text(encoding="utf-8"))
    statement = _statement(sig)
    (signed_model / "config.json").write_text("{}", encoding="utf-8")
    predicate = statement["predicate"]
    assert isinstance(predicate, dict)
    for r in predicate["resources"]:
        if r["name"] == "config.json":
            r["digest"] = hashlib.sha256(b"{}").hexdigest()
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    sig.write_text(json.dumps(bundle), encoding="utf-8")
    with pytest.raises(SignatureMismatchError):
        verify_model(signed_model, public_key=keys.public)


def test_key_hint_mismatch_with_same_curve(tmp_path: Path, model: Path) -> None:
    a = write_key(tmp_path, "a")
    b = write_key(tmp_path, "b")
    sign_model(model, private_key=a.private)
    with pytest.raises(SignatureMismatchError, match="different key"):
        verify_model(model, public_key=b.public)


def test_missing_signature(model: Path, keys: KeyPair) -> None:
    with pytest.raises(SignatureFileError, match="does not exist") as info:
        verify_model(model, public_key=keys.public)
    assert info.value.code == "signing.signature_file"
    assert isinstance(info.value, UsageError)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\x00\xff garbage", "not JSON"),
        (b"[]", "not a Sigstore bundle"),
        (b'{"mediaType": "application/json"}', "not a Sigstore bundle"),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", '
            b'"verificationMaterial": {}, "dsseEnvelope": {"signatures": []}}',
            "no signed DSSE envelope",
        ),
    ],
)
def test_garbled_signature(model: Path, keys: KeyPair, content: bytes, why: str) -> None:
    (model / "model.sig").write_bytes(content)
    with pytest.raises(SignatureFileError, match=why):
        verify_model(model, public_key=keys.public)


def test_truncated_signature(signed_model: Path, keys: KeyPair) -> None:
    sig = signed_model / "model.sig"
    sig.write_bytes(sig.read_bytes()[:200])
    with pytest.raises(SignatureFileError):
        verify_model(signed_model, public_key=keys.public)


def test_signature_with_garbled_payload(signed_model: Path, keys: KeyPair) -> None:
    sig = signed_model / "model.sig"
    bundle = json.loads(sig.read_text(encoding="utf-8"))
    bundle["dsseEnvelope"]["payload"] = "!!!not base64!!!"
    sig.write_text(json.dumps(bundle), encoding="utf-8")
    with pytest.raises((SignatureFileError, SignatureMismatchError)):
        verify_model(signed_model, public_key=keys.public)


def test_missing_public_key(signed_model: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist") as info:
        verify_model(signed_model, public_key=tmp_path / "none.pub")
    assert info.value.code == "signing.key_file"


def test_private_key_given_as_public_key(signed_model: Path, keys: KeyPair) -> None:
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        verify_model(signed_model, public_key=keys.private)


def test_missing_private_key(model: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        sign_model(model, private_key=tmp_path / "none.key")
    assert not (model / "model.sig").exists()


def test_encrypted_private_key(model: Path, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "enc.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    with pytest.raises(KeyFileError, match="encrypted"):
        sign_model(model, private_key=path)


def test_unsupported_key_type(model: Path, tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "ed.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyFileError, match="P-256"):
        sign_model(model, private_key=path)


def test_garbage_private_key_error_shows_no_content(model: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LW1hcmtlcg==\n", encoding="utf-8")
    with pytest.raises(KeyFileError) as info:
        sign_model(model, private_key=path)
    assert "c2VjcmV0" not in info.value.one_line()


def test_method_must_be_chosen(model: Path, keys: KeyPair) -> None:
    with pytest.raises(UsageError, match="choose how to sign"):
        sign_model(model)
    with pytest.raises(UsageError, match="choose one way to verify"):
        verify_model(model)
    with pytest.raises(UsageError, match="choose one way to verify"):
        verify_model(model, public_key=keys.public, identity="a@b.c", oidc_issuer="https://x")
    with pytest.raises(UsageError, match="both --identity and --oidc-issuer"):
        verify_model(model, identity="a@b.c")
    with pytest.raises(UsageError, match="keyless"):
        sign_model(model, private_key=keys.private, sigstore=True)


def test_missing_model(tmp_path: Path, keys: KeyPair) -> None:
    with pytest.raises(UsageError, match="no such file"):
        sign_model(tmp_path / "none", private_key=keys.private)
    with pytest.raises(UsageError, match="no such file"):
        verify_model(tmp_path / "none", public_key=keys.public)


def test_signing_a_model_with_a_symlink_is_refused(model: Path, keys: KeyPair) -> None:
    (model / "l").symlink_to(model / "config.json")
    with pytest.raises(UsageError, match="symbolic link 'l'"):
        sign_model(model, private_key=keys.private)
    assert not (model / "model.sig").exists()


def test_unwritable_signature_location(model: Path, keys: KeyPair, tmp_path: Path) -> None:
    with pytest.raises(SignatureFileError, match="cannot write"):
        sign_model(model, private_key=keys.private, signature=tmp_path / "no" / "dir" / "x.sig")
    assert not any(p.name.endswith(".tmp") for p in model.rglob("*"))


def test_resigning_replaces_the_signature(model: Path, keys: KeyPair, other_keys: KeyPair) -> None:
    sign_model(model, private_key=keys.private)
    sign_model(model, private_key=other_keys.private)
    assert verify_model(model, public_key=other_keys.public)
    with pytest.raises(SignatureMismatchError):
        verify_model(model, public_key=keys.public)
    assert os.listdir(model).count("model.sig") == 1
