"""Sign and verify models in the OpenSSF Model Signing format; record both in the ledger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vallum.errors import KeyFileError, ModelMismatchError, UsageError
from vallum.signing.manifest import (
    DEFAULT_IGNORES,
    DEFAULT_SIGNATURE_NAME,
    ModelManifest,
    Piece,
    RefusedPathError,
    hash_model,
    hash_pieces,
    list_files,
)
from vallum.signing.oms import (
    SINGLE_FILE_RESOURCE,
    Method,
    Serialization,
    SignedManifest,
    SignerSpec,
    VerifierSpec,
    certificate_fingerprint,
    leaf_fingerprint,
    load_certificates,
    load_private_key_fingerprint,
    make_signer,
    public_key_fingerprint,
    read_bundle,
    sign_resources,
    verify_signature,
)

if TYPE_CHECKING:
    from vallum.context import Context

MAX_NAMED = 5


@dataclass(frozen=True, slots=True)
class _SignedModel:
    """What a signature covers: the model, the signature file, how, and by which key."""

    model: Path
    signature: Path
    method: str
    manifest: ModelManifest
    key_fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": str(self.model),
            "signature": str(self.signature),
            "method": self.method,
            "digest": self.manifest.digest,
            "files": len(self.manifest.files),
            "key_fingerprint": self.key_fingerprint,
        }


@dataclass(frozen=True, slots=True)
class SignResult(_SignedModel):
    """A model was signed: where the signature is, how, and what it covers."""


@dataclass(frozen=True, slots=True)
class VerifyResult(_SignedModel):
    """A model matches its signature."""

    def to_dict(self) -> dict[str, Any]:
        return {**_SignedModel.to_dict(self), "verified": True}


def default_signature(model: Path) -> Path:
    """``<dir>/model.sig`` for a directory model, ``<file>.sig`` beside a single file."""
    if model.is_dir() and not model.is_symlink():
        return model / DEFAULT_SIGNATURE_NAME
    return model.with_name(model.name + ".sig")


def _inside(model: Path, path: Path) -> str | None:
    """``path`` relative to the directory ``model`` (POSIX), or None when outside."""
    if not model.is_dir():
        return None
    try:
        return path.absolute().relative_to(model.absolute()).as_posix()
    except ValueError:
        return None


def _model_name(model: Path) -> str:
    return model.name or model.absolute().name


def _signer_spec(
    private_key: Path | None,
    certificate_chain: Sequence[Path],
    signing_certificate: Path | None,
    sigstore: bool,
    identity_token: str | None,
) -> tuple[SignerSpec, str]:
    """The signing method and the key fingerprint, checked before any hashing."""
    if sigstore:
        if private_key or signing_certificate or certificate_chain:
            raise UsageError("--sigstore signs keyless; give no key or certificate with it")
        return SignerSpec(Method.SIGSTORE, identity_token=identity_token), ""
    if private_key is None:
        raise UsageError(
            "choose how to sign: --private-key KEY, --private-key KEY with "
            "--signing-certificate CERT, or --sigstore"
        )
    key_fp = load_private_key_fingerprint(private_key)
    if signing_certificate is None:
        if certificate_chain:
            raise UsageError("--certificate-chain needs --signing-certificate")
        return SignerSpec(Method.KEY, private_key=private_key), key_fp
    leaf = load_certificates([signing_certificate], "signing certificate")[0]
    if public_key_fingerprint(leaf.public_key()) != key_fp:
        raise KeyFileError(
            f"signing certificate {signing_certificate} is not for the private key {private_key}"
        )
    load_certificates(certificate_chain, "certificate chain file")
    spec = SignerSpec(
        Method.CERTIFICATE,
        private_key=private_key,
        signing_certificate=signing_certificate,
        certificate_chain=tuple(certificate_chain),
    )
    return spec, certificate_fingerprint(leaf)


def sign_model(
    model: Path,
    *,
    private_key: Path | None = None,
    certificate_chain: Sequence[Path] = (),
    signing_certificate: Path | None = None,
    sigstore: bool = False,
    signature: Path | None = None,
    identity_token: str | None = None,
) -> SignResult:
    """Hash ``model`` and write an OpenSSF Model Signing signature for it.

    Methods: ``private_key`` alone (an EC key in PEM), ``private_key`` with
    ``signing_certificate`` (and optionally ``certificate_chain``), or ``sigstore``
    (keyless; needs network). The signature goes to ``signature``, by default
    ``<dir>/model.sig`` or ``<file>.sig``.
    """
    spec, fingerprint = _signer_spec(
        private_key, certificate_chain, signing_certificate, sigstore, identity_token
    )
    if not model.exists() and not model.is_symlink():
        raise UsageError(f"no such file or directory: {model}")
    signature = signature or default_signature(model)
    signer = make_signer(spec)
    inside = _inside(model, signature)
    manifest = hash_model(model, ignore=[Path(inside)] if inside else [])
    ignores = sorted({*DEFAULT_IGNORES, DEFAULT_SIGNATURE_NAME, *([inside] if inside else [])})
    resources: Mapping[str, str] = manifest.files
    if model.is_file():
        resources = {SINGLE_FILE_RESOURCE: next(iter(manifest.files.values()))}
    sign_resources(
        spec,
        signer,
        _model_name(model),
        resources,
        Serialization("files", "sha256", tuple(ignores)),
        signature,
    )
    if spec.method is Method.SIGSTORE:
        fingerprint = leaf_fingerprint(read_bundle(signature))
    return SignResult(model, signature, str(spec.method), manifest, fingerprint)


def _verifier_spec(
    public_key: Path | None,
    certificate_chain: Sequence[Path],
    identity: str | None,
    oidc_issuer: str | None,
) -> VerifierSpec:
    chosen = [bool(public_key), bool(certificate_chain), bool(identity or oidc_issuer)]
    if sum(chosen) != 1:
        raise UsageError(
            "choose one way to verify: --public-key KEY, --certificate-chain CERT..., "
            "or --identity with --oidc-issuer"
        )
    if public_key is not None:
        return VerifierSpec(Method.KEY, public_key=public_key)
    if certificate_chain:
        return VerifierSpec(Method.CERTIFICATE, certificate_chain=tuple(certificate_chain))
    if not identity or not oidc_issuer:
        raise UsageError("keyless verification needs both --identity and --oidc-issuer")
    return VerifierSpec(Method.SIGSTORE, identity=identity, oidc_issuer=oidc_issuer)


def verify_model(
    model: Path,
    *,
    signature: Path | None = None,
    public_key: Path | None = None,
    certificate_chain: Sequence[Path] = (),
    identity: str | None = None,
    oidc_issuer: str | None = None,
) -> VerifyResult:
    """Check ``model`` against its signature; raise if anything differs.

    Raises SignatureMismatchError when the signature does not verify with the key
    material, ModelMismatchError (an IntegrityError) naming each changed, added,
    removed or renamed file and any symbolic link, and UsageError (SignatureFileError,
    KeyFileError) for missing or unreadable files.
    """
    spec = _verifier_spec(public_key, certificate_chain, identity, oidc_issuer)
    if not model.exists() and not model.is_symlink():
        raise UsageError(f"no such file or directory: {model}")
    signature = signature or default_signature(model)
    signed = verify_signature(spec, signature)
    inside = _inside(model, signature)
    ignore = [*signed.serialization.ignore_paths, *([inside] if inside else [])]
    actual_files, actual_resources = _hash_for(model, signed, ignore)
    _compare(model, signed, actual_resources)
    return VerifyResult(
        model, signature, str(spec.method), ModelManifest.of(actual_files), signed.key_fingerprint
    )


def _refuse_in_verify(relative: str, why: str) -> None:
    raise ModelMismatchError(
        f"model {relative!r} is a {why}; a signed model is regular files only",
        hint="remove it, or re-sign a model without links",
    )


def _hash_for(
    model: Path, signed: SignedManifest, ignore: Sequence[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Hash the model as the signature's serialization says: (files, resources)."""
    listing = list_files(model, ignore, on_refused=_refuse_in_verify)
    sizes = {name: size for name, (_, size) in listing.items()}
    single = model.is_file()
    pieces = [Piece(name, path) for name, (path, _) in listing.items()]
    shard = signed.serialization.shard_size
    try:
        files = hash_pieces(pieces, sizes)
        if shard is None:
            resources = dict(files)
            if single:
                resources = {SINGLE_FILE_RESOURCE: next(iter(files.values()))}
            return files, resources
        shards: list[Piece] = []
        for name, (path, size) in listing.items():
            label = SINGLE_FILE_RESOURCE if single else name
            for start in range(0, size, shard):
                end = min(start + shard, size)
                shards.append(Piece(f"{label}:{start}:{end}", path, start, end - start))
        return files, hash_pieces(shards, {})
    except RefusedPathError as exc:
        _refuse_in_verify(exc.relative, exc.why)
        raise  # unreachable: _refuse_in_verify raises
    except OSError as exc:
        raise UsageError(f"cannot read the model: {exc.strerror}") from None


def _by_file(resources: Mapping[str, str], sharded: bool) -> dict[str, tuple[tuple[str, str], ...]]:
    """File -> its (shard range, digest) pairs; the range is "" for whole files."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(resources):
        path, span = _split_shard(name) if sharded else (name, "")
        grouped.setdefault(path, []).append((span, resources[name]))
    return {f: tuple(pairs) for f, pairs in grouped.items()}


def _split_shard(name: str) -> tuple[str, str]:
    path, start, end = name.rsplit(":", 2)
    return path, f"{start}:{end}"


def _compare(model: Path, signed: SignedManifest, actual: Mapping[str, str]) -> None:
    expected = signed.resources
    if expected == actual:
        return
    sharded = signed.serialization.shard_size is not None
    exp, act = _by_file(expected, sharded), _by_file(actual, sharded)
    changed = sorted(f for f in exp.keys() & act.keys() if exp[f] != act[f])
    removed = sorted(exp.keys() - act.keys())
    added = sorted(act.keys() - exp.keys())
    renamed: list[tuple[str, str]] = []
    for old in list(removed):
        match = next((new for new in added if act[new] == exp[old]), None)
        if match is not None:
            renamed.append((old, match))
            removed.remove(old)
            added.remove(match)
    problems = (
        [f"changed {f!r}" for f in changed]
        + [f"renamed {old!r} to {new!r}" for old, new in renamed]
        + [f"removed {f!r}" for f in removed]
        + [f"added {f!r}" for f in added]
    )
    more = f" and {len(problems) - MAX_NAMED} more" if len(problems) > MAX_NAMED else ""
    raise ModelMismatchError(
        f"model {model} does not match its signature: {'; '.join(problems[:MAX_NAMED])}{more}"
    )


# --- ledger -------------------------------------------------------------------------


def _event_data(
    model: Path, method: str, digest: str | None, fingerprint: str | None, files: int | None
) -> dict[str, Any]:
    return {
        "model": _model_name(model),
        "digest": digest,
        "method": method,
        "key_fingerprint": fingerprint,
        "files": files,
    }


def record_signed(ctx: Context, result: SignResult) -> int:
    """A ``models.signed`` event: model name, manifest digest, method, key fingerprint."""
    return ctx.record(
        "models.signed",
        f"model:{_model_name(result.model)}",
        data=_event_data(
            result.model,
            result.method,
            result.manifest.digest,
            result.key_fingerprint,
            len(result.manifest.files),
        ),
    )


def record_verified(
    ctx: Context,
    model: Path,
    method: str,
    result: VerifyResult | None,
    *,
    error_code: str | None = None,
) -> int:
    """A ``models.verified`` event; outcome failure (with the error code) when it failed."""
    data = _event_data(
        model,
        method,
        result.manifest.digest if result else None,
        result.key_fingerprint if result else None,
        len(result.manifest.files) if result else None,
    )
    if error_code is not None:
        data["error"] = error_code
    return ctx.record(
        "models.verified",
        f"model:{_model_name(model)}",
        outcome="success" if result is not None else "failure",
        data=data,
    )
