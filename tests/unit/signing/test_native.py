"""The natively written private-key bundle: model_signing's own library accepts it,
on every curve, and the native verifier refuses tampering with the envelope."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.unit.signing.material import KeyPair, write_key
from vallum.errors import SignatureFileError, SignatureMismatchError
from vallum.signing import hash_model, sign_model, verify_model


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_model_signing_library_verifies_a_native_bundle(
    tmp_path: Path, model: Path, curve: ec.EllipticCurve
) -> None:
    from model_signing._signing import sign_ec_key, sign_sigstore_pb

    pair = write_key(tmp_path, "native", curve)
    signature = tmp_path / "native.sig"
    sign_model(model, private_key=pair.private, signature=signature)
    verifier = sign_ec_key.Verifier(pair.public)
    manifest = verifier.verify(sign_sigstore_pb.Signature.read(signature))
    signed = {rd.identifier: rd.digest.digest_hex for rd in manifest.resource_descriptors()}
    assert signed == dict(hash_model(model).files)
    assert manifest.model_name == model.name
    assert manifest.serialization_type["method"] == "files"


def test_model_signing_library_rejects_a_native_bundle_for_another_key(
    tmp_path: Path, model: Path, keys: KeyPair, other_keys: KeyPair
) -> None:
    from model_signing._signing import sign_ec_key, sign_sigstore_pb

    signature = tmp_path / "native.sig"
    sign_model(model, private_key=keys.private, signature=signature)
    with pytest.raises(ValueError, match="Key mismatch"):
        sign_ec_key.Verifier(other_keys.public).verify(sign_sigstore_pb.Signature.read(signature))


def _rewrite(signature: Path, edit: str) -> None:
    bundle = json.loads(signature.read_text(encoding="utf-8"))
    envelope = bundle["dsseEnvelope"]
    if edit == "payload":
        payload = base64.b64decode(envelope["payload"]).replace(b'"files"', b'"shards"')
        envelope["payload"] = base64.b64encode(payload).decode()
    elif edit == "no-hint":
        del bundle["verificationMaterial"]["publicKey"]
    elif edit == "sig-not-base64":
        envelope["signatures"][0]["sig"] = "not base64!"
    signature.write_text(json.dumps(bundle), encoding="utf-8")


def test_a_changed_payload_does_not_verify(tmp_path: Path, model: Path, keys: KeyPair) -> None:
    signature = tmp_path / "native.sig"
    sign_model(model, private_key=keys.private, signature=signature)
    _rewrite(signature, "payload")
    with pytest.raises(SignatureMismatchError, match="does not match the key"):
        verify_model(model, signature=signature, public_key=keys.public)


def test_a_bundle_without_key_hint_is_checked_by_its_signature(
    tmp_path: Path, model: Path, keys: KeyPair, other_keys: KeyPair
) -> None:
    signature = tmp_path / "native.sig"
    sign_model(model, private_key=keys.private, signature=signature)
    _rewrite(signature, "no-hint")
    assert verify_model(model, signature=signature, public_key=keys.public).method == "key"
    with pytest.raises(SignatureMismatchError, match="does not match the key"):
        verify_model(model, signature=signature, public_key=other_keys.public)


def test_a_signature_value_that_is_not_base64_is_refused(
    tmp_path: Path, model: Path, keys: KeyPair
) -> None:
    signature = tmp_path / "native.sig"
    sign_model(model, private_key=keys.private, signature=signature)
    _rewrite(signature, "sig-not-base64")
    with pytest.raises(SignatureFileError, match="not base64"):
        verify_model(model, signature=signature, public_key=keys.public)
