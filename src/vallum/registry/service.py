"""Register a model version: scan, hash, check its signature, store it encrypted, record it.

Registration fails closed: a file the scanner finds unsafe (or cannot judge,
unless ``allow_unscannable``), a signature that does not verify, or a NAME@V
already taken refuses the whole version, records why, and stores nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from vallum.clock import now_text
from vallum.errors import IntegrityError, PolicyViolation, UsageError, VersionExistsError
from vallum.ledger.event import Outcome
from vallum.registry.digests import Manifest, manifest_of
from vallum.registry.signatures import SignatureCheck, check_signature, default_signature, inside
from vallum.registry.tensors import Fingerprints, fingerprint
from vallum.registry.versions import (
    Dataset,
    ModelCard,
    Ref,
    StoredFile,
    VersionInfo,
    find_version,
    get_version,
)
from vallum.scan import FileResult, Verdict, record_scan, scan_path
from vallum.store.models_registry import ModelFile, ModelScan, ModelTensor, ModelVersion

if TYPE_CHECKING:
    from vallum.context import Context

#: Frameworks implied by a file format when ``--framework`` is not given.
_FRAMEWORK_OF = {
    "pytorch": "pytorch",
    "pytorch-legacy": "pytorch",
    "numpy-npy": "numpy",
    "numpy-npz": "numpy",
    "onnx": "onnx",
    "gguf": "gguf",
    "keras": "keras",
    "tf-savedmodel": "tensorflow",
    "joblib": "scikit-learn",
}


MAX_PATH = 1024


@dataclass(frozen=True, slots=True)
class RegisterRequest:
    """What ``vallum models register`` was asked to do."""

    ref: Ref
    path: Path
    framework: str | None = None
    datasets: tuple[Dataset, ...] = ()
    owner: str | None = None
    card: ModelCard = field(default_factory=ModelCard)
    signature: Path | None = None
    public_key: Path | None = None
    certificate_chain: tuple[Path, ...] = ()
    allow_unscannable: bool = False


@dataclass(frozen=True, slots=True)
class Registered:
    """A version that was stored: its record, files, scan verdict and fingerprints."""

    info: VersionInfo
    files: tuple[StoredFile, ...]
    verdict: str
    scan: tuple[FileResult, ...]
    fingerprints: Fingerprints


def _signature_of(req: RegisterRequest) -> Path | None:
    sig = req.signature
    if sig is None:
        found = default_signature(req.path)
        sig = found if found.is_file() else None
    elif not sig.is_file():
        raise UsageError(f"signature file {sig} does not exist")
    has_key = req.public_key is not None or bool(req.certificate_chain)
    if sig is not None and not has_key:
        raise UsageError(
            f"{req.ref} has a signature ({sig.name}) but no key to check it with",
            hint="give --public-key FILE (or --certificate-chain FILE)",
        )
    if sig is None and has_key:
        raise UsageError(
            f"no signature found for {req.path.name}",
            hint=f"sign it with `vallum sign`, or give --signature FILE (default "
            f"{default_signature(req.path).name})",
        )
    return sig


def scan_verdict(results: list[FileResult]) -> Verdict:
    verdicts = {r.verdict for r in results}
    if Verdict.UNSAFE in verdicts:
        return Verdict.UNSAFE
    if Verdict.UNSCANNABLE in verdicts:
        return Verdict.UNSCANNABLE
    return Verdict.SAFE


def scan_summary(results: list[FileResult]) -> dict[str, int]:
    counts = Counter(str(r.verdict) for r in results)
    return {"files": len(results), **{str(v): counts.get(str(v), 0) for v in Verdict}}


def _model_format(results: list[FileResult]) -> str:
    formats = sorted({r.format for r in results if r.format != "unknown"})
    if not formats:
        return "unknown"
    return formats[0] if len(formats) == 1 else ",".join(formats)[:64]


def register(ctx: Context, req: RegisterRequest) -> Registered:
    """Scan, hash, sign-check, store and record one version; refuses and records otherwise."""
    path = req.path
    if path.is_symlink() or not path.exists():
        raise UsageError(f"{path} is not a file or directory", hint="give the model's real path")
    with ctx.engine.connect() as conn:
        taken = find_version(conn, req.ref) is not None
    if taken:
        _refuse(ctx, req.ref, "version_exists")
        raise _exists(req.ref)
    _check_lengths(req)
    sig = _signature_of(req)
    manifest = manifest_of(path, ignore=[sig] if sig is not None and inside(path, sig) else [])
    if not manifest.files:
        raise UsageError(f"{path} holds no files to register")
    too_long = [rel for rel in manifest.files if len(rel) > MAX_PATH]
    if too_long:
        raise UsageError(f"a file path in {path.name} is longer than {MAX_PATH} characters")
    root = path if path.is_dir() else path.parent
    results = [r for rel in manifest.files for r in scan_path(root / rel)]
    record_scan(ctx, results)
    verdict = scan_verdict(results)
    _enforce_scan(ctx, req, results, verdict)
    check = _check_signature(ctx, req, path, sig, manifest)
    prints = fingerprint(root, manifest.files)
    stored = _store_files(ctx, root, manifest, results)
    sig_blob = ctx.blobs.put_file(sig, ctx.record).address if sig is not None else None
    info = _insert(ctx, req, path, manifest, stored, results, check, sig, sig_blob, prints)
    ctx.record(
        "models.fingerprinted",
        req.ref.subject,
        data={
            "manifest_digest": manifest.digest,
            "tensors": len(prints.tensors),
            "trivial": prints.trivial,
            "unread": len(prints.notes),
        },
    )
    ctx.record(
        "models.registered",
        req.ref.subject,
        data={
            "manifest_digest": manifest.digest,
            "files": len(stored),
            "size": info.total_size,
            "format": info.format,
            "framework": info.framework,
            "scan": str(verdict),
            "signed": info.signed,
            "key_fingerprint": info.key_fingerprint,
            "datasets": [str(Ref(d.name, d.version)) for d in req.datasets],
        },
    )
    return Registered(info, stored, str(verdict), tuple(results), prints)


def _check_lengths(req: RegisterRequest) -> None:
    for what, value, limit in (("--framework", req.framework, 64), ("--owner", req.owner, 128)):
        if value is not None and not 0 < len(value) <= limit:
            raise UsageError(f"{what} must be 1 to {limit} characters")


def _exists(ref: Ref) -> VersionExistsError:
    return VersionExistsError(
        f"{ref} is already registered; registered versions are immutable",
        hint="register the changed model under a new --version",
    )


def _refuse(ctx: Context, ref: Ref, reason: str, **data: object) -> None:
    ctx.record(
        "models.registered", ref.subject, outcome=Outcome.DENIED, data={"reason": reason, **data}
    )


def _enforce_scan(
    ctx: Context, req: RegisterRequest, results: list[FileResult], verdict: Verdict
) -> None:
    accepted = {Verdict.SAFE, Verdict.UNSCANNABLE} if req.allow_unscannable else {Verdict.SAFE}
    refused = [r for r in results if r.verdict not in accepted]
    if not refused:
        return
    _refuse(ctx, req.ref, "scan", verdict=str(verdict), **scan_summary(results))
    names = ", ".join(Path(r.path).name for r in refused[:3])
    more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
    kinds = sorted({str(r.verdict) for r in refused})
    raise PolicyViolation(
        f"{req.ref} was not registered: {len(refused)} file(s) {'/'.join(kinds)}: {names}{more}",
        hint=f"see `vallum scan {req.path}`"
        + (
            "; --allow-unscannable accepts unscannable files"
            if not req.allow_unscannable and Verdict.UNSCANNABLE in {r.verdict for r in refused}
            else ""
        ),
    )


def _check_signature(
    ctx: Context, req: RegisterRequest, path: Path, sig: Path | None, manifest: Manifest
) -> SignatureCheck | None:
    if sig is None:
        return None
    try:
        check = check_signature(
            path, sig, public_key=req.public_key, certificate_chain=req.certificate_chain
        )
        if check.manifest_digest != manifest.digest:
            raise IntegrityError(f"the signature of {req.ref} covers a different set of files")
    except IntegrityError as exc:
        ctx.record(
            "models.verified",
            req.ref.subject,
            outcome=Outcome.FAILURE,
            data={"manifest_digest": manifest.digest, "signature": sig.name},
        )
        _refuse(ctx, req.ref, "signature")
        raise IntegrityError(
            f"{req.ref} was not registered: its signature does not verify: {exc.detail}",
            hint="re-sign the model, or check that --public-key is the signer's key",
        ) from exc
    ctx.record(
        "models.verified",
        req.ref.subject,
        data={
            "manifest_digest": manifest.digest,
            "method": check.method,
            "key_fingerprint": check.key_fingerprint,
        },
    )
    return check


def _store_files(
    ctx: Context, root: Path, manifest: Manifest, results: list[FileResult]
) -> tuple[StoredFile, ...]:
    formats = {Path(r.path).resolve(): r.format for r in results}
    stored = []
    for rel, digest in sorted(manifest.files.items()):
        ref = ctx.blobs.put_file(root / rel, ctx.record)
        if ref.address != digest:
            raise IntegrityError(
                f"{rel} changed while it was being registered",
                hint="register it again once nothing is writing to it",
            )
        fmt = formats.get((root / rel).resolve(), "unknown")
        stored.append(StoredFile(rel, digest, ref.size, fmt, ref.address))
    return tuple(stored)


def _insert(
    ctx: Context,
    req: RegisterRequest,
    path: Path,
    manifest: Manifest,
    stored: tuple[StoredFile, ...],
    results: list[FileResult],
    check: SignatureCheck | None,
    sig: Path | None,
    sig_blob: str | None,
    prints: Fingerprints,
) -> VersionInfo:
    fmt = _model_format(results)
    framework = req.framework or _FRAMEWORK_OF.get(fmt)
    details = {"datasets": [d.to_dict() for d in req.datasets], "card": req.card.to_dict()}
    now = now_text()
    try:
        with ctx.engine.begin() as conn:
            version_id = conn.execute(
                insert(ModelVersion)
                .values(
                    name=req.ref.name,
                    version=req.ref.version,
                    layout="dir" if path.is_dir() else "file",
                    framework=framework,
                    format=fmt,
                    manifest_digest=manifest.digest,
                    total_size=sum(f.size for f in stored),
                    details=json.dumps(details, sort_keys=True),
                    owner=req.owner,
                    signed=check is not None,
                    signature_method=None if check is None else check.method,
                    key_fingerprint=None if check is None else check.key_fingerprint,
                    signature_name=None if sig is None else sig.name,
                    signature_blob=sig_blob,
                    created_at=now,
                    registered_by=ctx.principal.actor,
                )
                .returning(ModelVersion.id)
            ).scalar_one()
            conn.execute(
                insert(ModelFile),
                [
                    {
                        "version_id": version_id,
                        "path": f.path,
                        "sha256": f.sha256,
                        "size": f.size,
                        "format": f.format,
                        "blob": f.blob,
                    }
                    for f in stored
                ],
            )
            if prints.tensors:
                conn.execute(
                    insert(ModelTensor),
                    [
                        {
                            "version_id": version_id,
                            "file": t.file,
                            "name": t.name[:1024],
                            "digest": t.digest,
                            "size": t.size,
                        }
                        for t in prints.tensors
                    ],
                )
            conn.execute(
                insert(ModelScan).values(
                    version_id=version_id,
                    scanned_at=now,
                    scanned_by=ctx.principal.actor,
                    verdict=str(scan_verdict(results)),
                    summary=json.dumps(scan_summary(results)),
                )
            )
    except SAIntegrityError:
        _refuse(ctx, req.ref, "version_exists")
        raise _exists(req.ref) from None
    return get_version(ctx.engine, req.ref)
