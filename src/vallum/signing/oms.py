"""The OpenSSF Model Signing format, through the ``model-signing`` library.

A signature is a Sigstore bundle (JSON) whose DSSE envelope carries an in-toto
statement: subject = the model name and a SHA-256 over every resource digest,
predicate ``https://model_signing/signature/v1.0`` = the serialization settings and
one resource (name, algorithm, digest) per file. Vallum hashes the files itself
(see ``manifest``) and hands the finished manifest to model_signing's signers and
verifiers, so the bytes on disk are exactly what ``model_signing sign|verify``
writes and reads.

model_signing's high-level ``Config`` API always re-hashes the model and hides the
signed manifest, so this module uses its signer and verifier classes directly;
that is the only place Vallum touches model_signing, and the interoperability
tests run its CLI against Vallum in both directions to catch any drift.
model_signing is imported lazily: it pulls in sigstore, which is slow to import.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import hashlib
import json
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from vallum.errors import (
    KeyFileError,
    SignatureFileError,
    SignatureMismatchError,
    UnavailableError,
    UsageError,
)
from vallum.signing import native

_T = TypeVar("_T")
BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
SINGLE_FILE_RESOURCE = "."  # model_signing names the only file of a one-file model "."
NETWORK_DETAIL = (
    "Sigstore keyless signing and verification need network access to Sigstore "
    "(its TUF trust root, Fulcio, Rekor) and an OIDC identity"
)
NETWORK_HINT = "offline, sign with --private-key or a certificate chain"


class Method(enum.StrEnum):
    """How a model is signed; stored in the ledger and the results."""

    KEY = "key"
    CERTIFICATE = "certificate"
    SIGSTORE = "sigstore"


@dataclass(frozen=True, slots=True)
class Serialization:
    """The predicate's ``serialization`` block."""

    method: str
    hash_type: str
    ignore_paths: tuple[str, ...]
    shard_size: int | None = None

    def to_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "method": self.method,
            "hash_type": self.hash_type,
            "allow_symlinks": False,
        }
        if self.shard_size is not None:
            args["shard_size"] = self.shard_size
        if self.ignore_paths:
            args["ignore_paths"] = list(self.ignore_paths)
        return args


@dataclass(frozen=True, slots=True)
class SignedManifest:
    """What a verified signature says: resource name -> sha256 hex, and how it was made."""

    model_name: str
    resources: Mapping[str, str]
    serialization: Serialization
    key_fingerprint: str


@contextlib.contextmanager
def _quiet_http() -> Iterator[None]:
    """Hide urllib3's retry warnings: the one-line error says what happened."""
    logger = logging.getLogger("urllib3")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _required(value: _T | None, flag: str) -> _T:
    if value is None:
        raise UsageError(f"{flag} is required for this signing method")
    return value


# --- key material -------------------------------------------------------------------


def _read(path: Path, what: str, error: type[KeyFileError | SignatureFileError]) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory, not a file") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None


_CURVES = ("secp256r1", "secp384r1", "secp521r1")


def load_private_key_fingerprint(path: Path) -> str:
    """Check a PEM EC private key and return the SHA-256 of its public key (DER)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    data = _read(path, "private key", KeyFileError)
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(
            f"private key {path} is encrypted; Vallum needs an unencrypted PEM key"
        ) from None
    except ValueError:
        raise KeyFileError(f"private key {path} is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVES:
        raise KeyFileError(
            f"private key {path} is not an EC key on P-256, P-384 or P-521",
            hint="make one with `openssl ecparam -name prime256v1 -genkey -noout`",
        )
    return public_key_fingerprint(key.public_key())


def load_public_key_fingerprint(path: Path) -> str:
    return public_key_fingerprint(load_public_key(path))


def load_public_key(path: Path) -> Any:
    """A PEM EC public key on P-256, P-384 or P-521."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = _read(path, "public key", KeyFileError)
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyFileError(f"public key {path} is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVES:
        raise KeyFileError(f"public key {path} is not an EC key on P-256, P-384 or P-521")
    return key


def public_key_fingerprint(key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def load_certificates(paths: Sequence[Path], what: str) -> list[Any]:
    from cryptography import x509

    certs: list[Any] = []
    for path in paths:
        data = _read(path, what, KeyFileError)
        try:
            certs.extend(x509.load_pem_x509_certificates(data))
        except ValueError:
            raise KeyFileError(f"{what} {path} holds no PEM certificate") from None
    return certs


def certificate_fingerprint(cert: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


# --- signing ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignerSpec:
    method: Method
    private_key: Path | None = None
    signing_certificate: Path | None = None
    certificate_chain: tuple[Path, ...] = ()
    identity_token: str | None = None


def _payload(model_name: str, resources: Mapping[str, str], serialization: Serialization) -> Any:
    from model_signing import manifest as ms_manifest
    from model_signing._hashing.hashing import Digest
    from model_signing._signing.signing import Payload

    kind = ms_manifest.SerializationType.from_args(serialization.to_args())
    items = [
        ms_manifest.FileManifestItem(
            path=PurePosixPath(name), digest=Digest("sha256", bytes.fromhex(hexdigest))
        )
        for name, hexdigest in resources.items()
    ]
    return Payload(ms_manifest.Manifest(model_name, items, kind))


def make_signer(spec: SignerSpec) -> Any:
    """model_signing's signer for ``spec``; for Sigstore this reaches the network.

    None for the private-key method, which ``sign_resources`` signs natively.
    """
    if spec.method is Method.KEY:
        return None
    if spec.method is Method.SIGSTORE:
        return _make_signer(spec)
    try:
        return _make_signer(spec)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"cannot load the signing key ({type(exc).__name__})") from exc


def _make_signer(spec: SignerSpec) -> Any:
    match spec.method:
        case Method.KEY:
            from model_signing._signing import sign_ec_key

            return sign_ec_key.Signer(_required(spec.private_key, "--private-key"))
        case Method.CERTIFICATE:
            from model_signing._signing import sign_certificate

            return sign_certificate.Signer(
                _required(spec.private_key, "--private-key"),
                _required(spec.signing_certificate, "--signing-certificate"),
                list(spec.certificate_chain),
            )
        case Method.SIGSTORE:
            from model_signing._signing import sign_sigstore

            try:
                with _quiet_http():
                    return sign_sigstore.Signer(
                        use_ambient_credentials=True, identity_token=spec.identity_token
                    )
            except Exception as exc:
                raise UnavailableError(
                    f"{NETWORK_DETAIL}: Sigstore did not answer ({type(exc).__name__})",
                    hint=NETWORK_HINT,
                ) from exc


def sign_resources(
    spec: SignerSpec,
    signer: Any,
    model_name: str,
    resources: Mapping[str, str],
    serialization: Serialization,
    signature: Path,
) -> None:
    """Sign the manifest and write the bundle to ``signature``.

    The private-key method is signed natively (see ``native``); ``signer`` is then
    None and model_signing is never imported.
    """
    if spec.method is Method.KEY:
        data = native.sign_bundle(
            _required(spec.private_key, "--private-key"),
            model_name,
            resources,
            serialization.to_args(),
        )
        _write_atomically(signature, data.decode())
        return
    payload = _payload(model_name, resources, serialization)
    try:
        with _quiet_http():
            bundle = signer.sign(payload)
    except Exception as exc:
        if spec.method is Method.SIGSTORE:
            raise UnavailableError(
                f"{NETWORK_DETAIL}: Sigstore signing failed ({type(exc).__name__})",
                hint=NETWORK_HINT,
            ) from exc
        raise KeyFileError(f"cannot sign with the given key ({type(exc).__name__})") from exc
    _write_atomically(signature, bundle)


def _write_atomically(signature: Path, bundle: Any) -> None:
    """Write ``bundle`` (JSON text, or a model_signing Signature) via a temporary file."""
    tmp = signature.with_name(signature.name + ".tmp")
    try:
        if isinstance(bundle, str):
            tmp.write_text(bundle, encoding="utf-8")
        else:
            bundle.write(tmp)
        tmp.replace(signature)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SignatureFileError(f"cannot write signature {signature}: {exc.strerror}") from None


# --- verification -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifierSpec:
    method: Method
    public_key: Path | None = None
    certificate_chain: tuple[Path, ...] = ()
    identity: str | None = None
    oidc_issuer: str | None = None


def read_bundle(signature: Path) -> dict[str, Any]:
    raw = _read(signature, "signature", SignatureFileError)
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise SignatureFileError(f"signature {signature} is not JSON") from None
    if not isinstance(doc, dict) or not str(doc.get("mediaType", "")).startswith(
        BUNDLE_MEDIA_PREFIX
    ):
        raise SignatureFileError(f"signature {signature} is not a Sigstore bundle")
    envelope = doc.get("dsseEnvelope")
    if not isinstance(envelope, dict) or not envelope.get("signatures"):
        raise SignatureFileError(f"signature {signature} has no signed DSSE envelope")
    if not isinstance(doc.get("verificationMaterial"), dict):
        raise SignatureFileError(f"signature {signature} has no verification material")
    return doc


def leaf_fingerprint(doc: Mapping[str, Any]) -> str:
    material = doc["verificationMaterial"]
    chain = material.get("x509CertificateChain", {}).get("certificates") or []
    raw = chain[0].get("rawBytes") if chain else material.get("certificate", {}).get("rawBytes")
    if not raw:
        raise SignatureFileError("the signature carries no signing certificate")
    try:
        return hashlib.sha256(base64.b64decode(raw, validate=True)).hexdigest()
    except (binascii.Error, ValueError):
        raise SignatureFileError("the signature's signing certificate is not base64") from None


def _verifier(spec: VerifierSpec) -> Any:
    match spec.method:
        case Method.KEY:
            from model_signing._signing import sign_ec_key

            return sign_ec_key.Verifier(_required(spec.public_key, "--public-key"))
        case Method.CERTIFICATE:
            from model_signing._signing import sign_certificate

            return sign_certificate.Verifier(list(spec.certificate_chain))
        case Method.SIGSTORE:
            from model_signing._signing import sign_sigstore

            identity = _required(spec.identity, "--identity")
            issuer = _required(spec.oidc_issuer, "--oidc-issuer")
            try:
                with _quiet_http():
                    return sign_sigstore.Verifier(identity=identity, oidc_issuer=issuer)
            except Exception as exc:
                raise UnavailableError(
                    f"{NETWORK_DETAIL}: cannot fetch the trust root ({type(exc).__name__})",
                    hint="verify offline with --public-key or --certificate-chain",
                ) from exc


def _mismatch_reason(exc: BaseException) -> str | None:
    """Why the signature does not verify, when ``exc`` says so; None for other faults."""
    from cryptography.exceptions import InvalidSignature

    if isinstance(exc, InvalidSignature):
        return "the signature does not match the key"
    name = type(exc).__name__
    text = str(exc)
    if name == "X509StoreContextError":
        return "the signing certificate does not chain to the given certificates"
    if "Key mismatch" in text:
        return "the signature was made with a different key"
    if "cannot be used for signing" in text:
        return "the signing certificate is not allowed to sign"
    if name == "VerificationError":
        return "Sigstore verification failed"
    return None


def verify_signature(spec: VerifierSpec, signature: Path) -> SignedManifest:
    """Check the bundle's signature and return the manifest it signs.

    Raises SignatureFileError when the file is not a model signature and
    SignatureMismatchError when it does not verify with the given key material.
    """
    doc = read_bundle(signature)
    if spec.method is Method.KEY:
        key = load_public_key(_required(spec.public_key, "--public-key"))
        fingerprint = public_key_fingerprint(key)
        stmt = native.verify_bundle(doc, key, signature)
        if stmt.get("predicateType") == native.PREDICATE_TYPE:
            name, args, items = native.manifest_of(stmt, signature)
            return _to_signed_manifest(name, args, items, fingerprint, signature)
        # Older predicates (model_signing 0.2): let model_signing read them.
    else:
        if spec.method is Method.CERTIFICATE:
            load_certificates(spec.certificate_chain, "certificate chain file")
        fingerprint = leaf_fingerprint(doc)
    verifier = _verifier(spec)
    try:
        if spec.method is Method.SIGSTORE:
            from model_signing._signing import sign_sigstore

            sig: Any = sign_sigstore.Signature.read(signature)
        else:
            from model_signing._signing import sign_sigstore_pb

            sig = sign_sigstore_pb.Signature.read(signature)
    except Exception as exc:
        raise SignatureFileError(
            f"signature {signature} is not a valid Sigstore bundle ({type(exc).__name__})"
        ) from exc
    try:
        with warnings.catch_warnings():
            # model_signing calls the deprecated Logger.warn for certificates without
            # KeyUsage; the verdict below is what matters.
            warnings.simplefilter("ignore", DeprecationWarning)
            expected = verifier.verify(sig)
    except Exception as exc:
        reason = _mismatch_reason(exc)
        if reason is not None:
            raise SignatureMismatchError(
                f"signature {signature} does not verify: {reason}"
            ) from exc
        raise SignatureFileError(
            f"signature {signature} does not hold a valid model manifest ({type(exc).__name__})"
        ) from exc
    return _signed_manifest(expected, fingerprint, signature)


def _signed_manifest(expected: Any, fingerprint: str, signature: Path) -> SignedManifest:
    items = [
        (rd.identifier, rd.digest.algorithm, rd.digest.digest_hex)
        for rd in expected.resource_descriptors()
    ]
    return _to_signed_manifest(
        expected.model_name, expected.serialization_type, items, fingerprint, signature
    )


def _to_signed_manifest(
    model_name: str,
    args: Mapping[str, Any],
    items: Sequence[tuple[str, str, str]],
    fingerprint: str,
    signature: Path,
) -> SignedManifest:
    method = args.get("method")
    hash_type = args.get("hash_type")
    if method not in ("files", "shards") or hash_type != "sha256":
        raise SignatureFileError(
            f"signature {signature} uses serialization {method}/{hash_type}; "
            "Vallum verifies sha256 by files or shards"
        )
    shard_size: int | None = None
    if method == "shards":
        # The predicate is a protobuf Struct: its numbers come back as floats.
        raw = args.get("shard_size")
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if not isinstance(raw, int) or isinstance(raw, bool) or raw <= 0:
            raise SignatureFileError(f"signature {signature} has an invalid shard size")
        shard_size = raw
    resources = {}
    for identifier, algorithm, digest_hex in items:
        want = "sha256" if shard_size is None else f"sha256-sharded-{shard_size}"
        if algorithm != want:
            raise SignatureFileError(
                f"signature {signature} has a resource hashed with {algorithm!r}, not {want!r}"
            )
        resources[identifier] = digest_hex
    ignore_paths = args.get("ignore_paths", ())
    if not isinstance(ignore_paths, list | tuple):
        raise SignatureFileError(f"signature {signature} has invalid ignore paths")
    ignore = tuple(str(p) for p in ignore_paths)
    return SignedManifest(
        model_name,
        resources,
        Serialization(str(method), "sha256", ignore, shard_size),
        fingerprint,
    )
