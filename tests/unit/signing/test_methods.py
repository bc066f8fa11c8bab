"""Certificate-chain signing, model_signing's shard serialization, and Sigstore keyless
failing clearly when there is no network."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.unit.signing.material import KeyPair, Pki, make_pki
from vallum.errors import (
    KeyFileError,
    ModelMismatchError,
    SignatureFileError,
    SignatureMismatchError,
    UnavailableError,
)
from vallum.signing import sign_model, verify_model


def _leaf_fingerprint(pki: Pki) -> str:
    cert = x509.load_pem_x509_certificate(pki.leaf.read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_certificate_chain_round_trip(model: Path, pki: Pki) -> None:
    signed = sign_model(
        model,
        private_key=pki.leaf_key,
        signing_certificate=pki.leaf,
        certificate_chain=[pki.intermediate],
    )
    assert signed.method == "certificate"
    assert signed.key_fingerprint == _leaf_fingerprint(pki)
    checked = verify_model(model, certificate_chain=[pki.root])
    assert checked.method == "certificate"
    assert checked.key_fingerprint == signed.key_fingerprint
    assert checked.manifest == signed.manifest


def test_certificate_chain_detects_tampering(model: Path, pki: Pki) -> None:
    sign_model(
        model,
        private_key=pki.leaf_key,
        signing_certificate=pki.leaf,
        certificate_chain=[pki.intermediate],
    )
    (model / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelMismatchError, match=r"changed 'config\.json'"):
        verify_model(model, certificate_chain=[pki.root])


def test_other_ca_is_a_signature_mismatch(model: Path, pki: Pki, tmp_path: Path) -> None:
    sign_model(
        model,
        private_key=pki.leaf_key,
        signing_certificate=pki.leaf,
        certificate_chain=[pki.intermediate],
    )
    stranger = make_pki(tmp_path / "other", "Other ")
    with pytest.raises(SignatureMismatchError, match="does not chain"):
        verify_model(model, certificate_chain=[stranger.root])


def test_leaf_that_may_not_sign_is_rejected(model: Path, tmp_path: Path) -> None:
    weak = make_pki(tmp_path / "weak", leaf_can_sign=False)
    sign_model(
        model,
        private_key=weak.leaf_key,
        signing_certificate=weak.leaf,
        certificate_chain=[weak.intermediate],
    )
    with pytest.raises(SignatureMismatchError, match="not allowed to sign"):
        verify_model(model, certificate_chain=[weak.root])


def test_certificate_for_another_key_is_refused(model: Path, pki: Pki, keys: KeyPair) -> None:
    with pytest.raises(KeyFileError, match="is not for the private key"):
        sign_model(model, private_key=keys.private, signing_certificate=pki.leaf)


def test_chain_file_without_certificates(model: Path, pki: Pki, keys: KeyPair) -> None:
    with pytest.raises(KeyFileError, match="holds no PEM certificate"):
        sign_model(
            model,
            private_key=pki.leaf_key,
            signing_certificate=pki.leaf,
            certificate_chain=[keys.public],
        )


def test_key_signature_checked_as_certificate_is_a_file_error(
    model: Path, keys: KeyPair, pki: Pki
) -> None:
    sign_model(model, private_key=keys.private)
    with pytest.raises(SignatureFileError, match="no signing certificate"):
        verify_model(model, certificate_chain=[pki.root])


# --- model_signing's shard serialization --------------------------------------------


def _sign_sharded(model: Path, keys: KeyPair, shard_size: int) -> Path:
    from model_signing import hashing, signing

    sig = model / "model.sig"
    hashing_config = hashing.Config().use_shard_serialization(shard_size=shard_size)
    hashing_config.set_ignored_paths(paths=["model.sig"])
    signing.Config().use_elliptic_key_signer(private_key=keys.private).set_hashing_config(
        hashing_config
    ).sign(model, sig)
    return sig


def test_sharded_signature_verifies(model: Path, keys: KeyPair) -> None:
    _sign_sharded(model, keys, 100_000)
    checked = verify_model(model, public_key=keys.public)
    assert set(checked.manifest.files) == {
        "config.json",
        "empty.txt",
        "tokenizer.json",
        "weights/part-1.bin",
        "weights/part-2.bin",
    }


def test_sharded_signature_names_the_changed_file(model: Path, keys: KeyPair) -> None:
    _sign_sharded(model, keys, 100_000)
    with open(model / "weights" / "part-1.bin", "r+b") as f:
        f.seek(650_000)
        f.write(b"\xff")
    with pytest.raises(ModelMismatchError, match=r"changed 'weights/part-1\.bin'") as info:
        verify_model(model, public_key=keys.public)
    assert "part-2" not in info.value.one_line()


def test_sharded_signature_detects_growth_and_rename(model: Path, keys: KeyPair) -> None:
    _sign_sharded(model, keys, 100_000)
    with open(model / "weights" / "part-2.bin", "ab") as f:
        f.write(b"\x07")
    (model / "config.json").rename(model / "config.yaml")
    with pytest.raises(ModelMismatchError) as info:
        verify_model(model, public_key=keys.public)
    message = info.value.one_line()
    assert "changed 'weights/part-2.bin'" in message
    assert "renamed 'config.json' to 'config.yaml'" in message


def test_blake3_signature_is_refused(model: Path, keys: KeyPair) -> None:
    from model_signing import hashing, signing

    hashing_config = hashing.Config().use_file_serialization(hashing_algorithm="blake3")
    hashing_config.set_ignored_paths(paths=["model.sig"])
    signing.Config().use_elliptic_key_signer(private_key=keys.private).set_hashing_config(
        hashing_config
    ).sign(model, model / "model.sig")
    with pytest.raises(SignatureFileError, match="blake3"):
        verify_model(model, public_key=keys.public)


# --- Sigstore keyless: needs network ------------------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every HTTPS request goes to a closed port on loopback; caches start empty."""
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.mark.usefixtures("offline")
def test_keyless_signing_offline_says_it_needs_network(model: Path) -> None:
    with pytest.raises(UnavailableError, match="need network access") as info:
        sign_model(model, sigstore=True)
    assert "--private-key" in (info.value.hint or "")
    assert not (model / "model.sig").exists()


@pytest.mark.usefixtures("offline")
def test_keyless_verification_offline_says_it_needs_network(model: Path, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "p")
    sign_model(
        model, private_key=pki.leaf_key, signing_certificate=pki.leaf, certificate_chain=[pki.root]
    )
    with pytest.raises(UnavailableError, match="need network access"):
        verify_model(model, identity="release@example.com", oidc_issuer="https://issuer.example")
