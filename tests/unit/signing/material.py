"""Keys, certificates and small models for the signing tests, made fresh (never shipped)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


def write_key(directory: Path, name: str, curve: ec.EllipticCurve | None = None) -> KeyPair:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    private = directory / f"{name}.key"
    public = directory / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private, public)


def make_model(root: Path) -> Path:
    """A small multi-file model: nested directories, an empty file, a big-ish file."""
    model = root / "model"
    (model / "weights").mkdir(parents=True)
    (model / "config.json").write_text('{"layers": 2}\n', encoding="utf-8")
    (model / "weights" / "part-1.bin").write_bytes(bytes(range(256)) * 4096)
    (model / "weights" / "part-2.bin").write_bytes(b"\x07" * 300_000)
    (model / "empty.txt").write_bytes(b"")
    (model / "tokenizer.json").write_text('{"vocab": ["a", "b"]}\n', encoding="utf-8")
    return model


@dataclass(frozen=True)
class Pki:
    root: Path
    intermediate: Path
    leaf: Path
    leaf_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    sign: bool = True,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=sign,
                content_commitment=False,
                key_encipherment=not ca and not sign,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if not ca and sign:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def make_pki(directory: Path, prefix: str = "", *, leaf_can_sign: bool = True) -> Pki:
    """A root CA, an intermediate CA, and a code-signing leaf with its key."""
    directory.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP384R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert(f"{prefix}Test Root CA", root_key, f"{prefix}Test Root CA", root_key, ca=True)
    inter = _cert(
        f"{prefix}Test Intermediate", inter_key, f"{prefix}Test Root CA", root_key, ca=True
    )
    leaf = _cert(
        f"{prefix}model-signer",
        leaf_key,
        f"{prefix}Test Intermediate",
        inter_key,
        ca=False,
        sign=leaf_can_sign,
    )
    key_path = directory / f"{prefix}leaf.key"
    key_path.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pki(
        _pem(directory / f"{prefix}root.pem", root),
        _pem(directory / f"{prefix}intermediate.pem", inter),
        _pem(directory / f"{prefix}leaf.pem", leaf),
        key_path,
    )
