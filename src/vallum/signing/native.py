"""OpenSSF Model Signing bundles for EC private keys, written and read natively.

The private-key method needs no Sigstore service, so Vallum builds the bundle with
``cryptography`` and ``json`` alone instead of importing model_signing (which pulls
in all of sigstore and costs about a second of start-up). The bytes follow what
model_signing 1.1.1 writes for ``sign key``: an in-toto v1 statement (subject = model
name and SHA-256 over the resource digests in path order; predicate
``https://model_signing/signature/v1.0`` = serialization + resources), a DSSE envelope
(payload type ``application/vnd.in-toto+json``, PAE per DSSE v1, ECDSA with the
curve's hash: SHA-256/384/512 for P-256/384/521) and a Sigstore bundle v0.3 whose
verification material is ``publicKey.hint`` = SHA-256 hex of the PEM public key.
The interoperability tests run model_signing's CLI and library against this module
in both directions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from vallum.errors import KeyFileError, SignatureFileError, SignatureMismatchError

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"


def pae(payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of an in-toto payload."""
    head = f"DSSEv1 {len(PAYLOAD_TYPE)} {PAYLOAD_TYPE} {len(payload)} "
    return head.encode() + payload


def _pae_compat(payload: bytes) -> bytes:
    """The encoding model_signing 0.2 signed (it formatted the payload's repr)."""
    return f"DSSEV1 {len(PAYLOAD_TYPE)} {PAYLOAD_TYPE} {len(payload)} {payload!r}".encode()


def _hash_for(key: Any) -> Any:
    from cryptography.hazmat.primitives import hashes

    size = key.curve.key_size
    if size == 256:
        return hashes.SHA256()
    if size == 384:
        return hashes.SHA384()
    return hashes.SHA512()


def key_hint(public_key: Any) -> str:
    """SHA-256 hex of the PEM public key, as model_signing records it."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pem = public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def statement(
    model_name: str, resources: Mapping[str, str], serialization: Mapping[str, Any]
) -> bytes:
    """The in-toto statement as model_signing serializes it (JSON, indent 2)."""
    names = sorted(resources, key=lambda n: PurePosixPath(n).parts)
    root = hashlib.sha256()
    items = []
    for name in names:
        root.update(bytes.fromhex(resources[name]))
        items.append({"algorithm": "sha256", "digest": resources[name], "name": name})
    doc = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": root.hexdigest()}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"resources": items, "serialization": _ordered(serialization)},
    }
    return json.dumps(doc, indent=2).encode()


def _ordered(serialization: Mapping[str, Any]) -> dict[str, Any]:
    """The serialization block in the key order model_signing's JSON shows."""
    first = ("allow_symlinks", "hash_type", "method", "shard_size")
    head = {k: serialization[k] for k in first if k in serialization}
    return head | {k: v for k, v in serialization.items() if k not in head}


def sign_bundle(
    private_key: Path,
    model_name: str,
    resources: Mapping[str, str],
    serialization: Mapping[str, Any],
) -> bytes:
    """The Sigstore bundle (JSON bytes) signing the manifest with an EC key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(private_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"cannot load the signing key ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"private key {private_key} is not an EC key")
    payload = statement(model_name, resources, serialization)
    sig = key.sign(pae(payload), ec.ECDSA(_hash_for(key)))
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": key_hint(key.public_key())},
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}],
        },
    }
    return json.dumps(bundle, separators=(",", ":")).encode()


def _b64(value: Any, what: str, signature: Path) -> bytes:
    if not isinstance(value, str):
        raise SignatureFileError(f"signature {signature} has no {what}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureFileError(f"signature {signature} has a {what} that is not base64") from None


def verify_bundle(doc: Mapping[str, Any], public_key: Any, signature: Path) -> dict[str, Any]:
    """Check the bundle's DSSE signature with ``public_key``; return the statement.

    Raises SignatureMismatchError when the key or signature does not match and
    SignatureFileError when the bundle is malformed.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    if doc.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise SignatureFileError(
            f"signature {signature} is not a {BUNDLE_MEDIA_TYPE} bundle for key signing"
        )
    material = doc["verificationMaterial"]
    hint = (material.get("publicKey") or {}).get("hint")
    if hint and hint != key_hint(public_key):
        raise SignatureMismatchError(
            f"signature {signature} does not verify: the signature was made with a different key"
        )
    envelope = doc["dsseEnvelope"]
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise SignatureFileError(f"signature {signature} does not carry an in-toto statement")
    payload = _b64(envelope.get("payload"), "payload", signature)
    first = envelope["signatures"][0]
    sig = _b64(first.get("sig") if isinstance(first, dict) else None, "signature value", signature)
    algorithm = ec.ECDSA(_hash_for(public_key))
    try:
        public_key.verify(sig, pae(payload), algorithm)
    except InvalidSignature:
        try:
            public_key.verify(sig, _pae_compat(payload), algorithm)
        except InvalidSignature:
            raise SignatureMismatchError(
                f"signature {signature} does not verify: the signature does not match the key"
            ) from None
    try:
        stmt = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise SignatureFileError(f"signature {signature} has a payload that is not JSON") from None
    if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
        raise SignatureFileError(f"signature {signature} is not an in-toto v1 statement")
    return stmt


def manifest_of(
    stmt: Mapping[str, Any], signature: Path
) -> tuple[str, dict[str, Any], list[tuple[str, str, str]]]:
    """Model name, serialization and resources (name, algorithm, hex) of a v1.0 statement."""
    bad = SignatureFileError(f"signature {signature} does not hold a valid model manifest")
    try:
        subjects = stmt["subject"]
        predicate = stmt["predicate"]
        if not isinstance(subjects, list) or len(subjects) != 1:
            raise bad
        name = subjects[0]["name"]
        root_digest = subjects[0]["digest"]["sha256"]
        serialization = predicate["serialization"]
        root = hashlib.sha256()
        resources: list[tuple[str, str, str]] = []
        for item in predicate["resources"]:
            digest = bytes.fromhex(item["digest"])
            root.update(digest)
            resources.append((str(item["name"]), str(item["algorithm"]), digest.hex()))
    except (KeyError, TypeError, IndexError, ValueError, AttributeError):
        raise bad from None
    if not isinstance(name, str) or not isinstance(serialization, dict):
        raise bad
    if root.hexdigest() != root_digest:
        raise SignatureFileError(
            f"signature {signature} is inconsistent: its resources do not hash to its subject"
        )
    return name, serialization, resources
