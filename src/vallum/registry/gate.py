"""``vallum gate NAME@V``: may this version be deployed?

Every check runs on the stored, encrypted copy, not on files a user points at:

- ``integrity``: the files decrypt and match the manifest recorded at registration;
- ``scan``: the decrypted files are scanned again with this Vallum's scanner (so a
  newer scanner catches what an older one missed); the new scan is recorded and is
  the latest, and it must be ``safe``;
- ``signature``: the stored signature verifies over the decrypted files against a
  key or certificate chain the policy trusts;
- ``bom``: an AI-BOM is stored for the version and describes these exact files.

The gate passes only when every check passes; each decision is a
``models.gated`` event (``success`` or ``denied``).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from vallum.clock import now_text
from vallum.errors import IntegrityError, NotFoundError, UsageError
from vallum.ledger.event import Outcome
from vallum.registry.aibom import stored_bom
from vallum.registry.export import materialise, write_blob
from vallum.registry.policy import GatePolicy
from vallum.registry.service import scan_summary, scan_verdict
from vallum.registry.signatures import check_signature
from vallum.registry.versions import Ref, VersionInfo, files_of, get_version
from vallum.scan import Verdict, record_scan, scan_path
from vallum.store.models_registry import ModelScan

if TYPE_CHECKING:
    from vallum.context import Context


@dataclass(frozen=True, slots=True)
class GateCheck:
    name: str
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class GateResult:
    ref: Ref
    passed: bool
    checks: tuple[GateCheck, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": str(self.ref),
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
        }


def gate(ctx: Context, ref: Ref, policy: GatePolicy) -> GateResult:
    """Run every check on the stored copy of ``ref``; record and return the decision."""
    info = get_version(ctx.engine, ref)
    checks: list[GateCheck] = []
    work = ctx.settings.data_dir / "tmp"
    work.mkdir(mode=0o700, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work, prefix="gate-") as tmp:
        model = _integrity(ctx, info, Path(tmp) / "model", checks)
        if model is None:
            checks.append(GateCheck("scan", False, "not scanned: the stored files do not verify"))
            checks.append(GateCheck("signature", False, "not checked: integrity failed"))
        else:
            checks.append(_scan(ctx, info, model))
            checks.append(_signature(ctx, info, model, Path(tmp), policy))
    checks.append(_bom(ctx, info))
    passed = all(c.passed for c in checks)
    ctx.record(
        "models.gated",
        ref.subject,
        outcome=Outcome.SUCCESS if passed else Outcome.DENIED,
        data={
            "manifest_digest": info.manifest_digest,
            "policy_sha256": policy.digest,
            "checks": {c.name: "pass" if c.passed else "fail" for c in checks},
        },
    )
    return GateResult(ref, passed, tuple(checks))


def _integrity(ctx: Context, info: VersionInfo, dest: Path, checks: list[GateCheck]) -> Path | None:
    with ctx.engine.connect() as conn:
        files = files_of(conn, info.id)
    dest.mkdir()
    try:
        if not files:
            raise IntegrityError(f"{info.ref} has no stored files")
        model = materialise(ctx, info, files, dest)
    except IntegrityError as exc:
        checks.append(GateCheck("integrity", False, exc.detail))
        return None
    checks.append(
        GateCheck("integrity", True, f"{len(files)} file(s) decrypt and match the manifest")
    )
    return model


def _scan(ctx: Context, info: VersionInfo, model: Path) -> GateCheck:
    results = scan_path(model)
    record_scan(ctx, results)
    verdict = scan_verdict(results)
    summary = scan_summary(results)
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(ModelScan).values(
                version_id=info.id,
                scanned_at=now_text(),
                scanned_by=ctx.principal.actor,
                verdict=str(verdict),
                summary=json.dumps(summary),
            )
        )
    counts = ", ".join(f"{summary[str(v)]} {v}" for v in Verdict)
    return GateCheck("scan", verdict is Verdict.SAFE, f"latest scan is {verdict} ({counts})")


def _signature(
    ctx: Context, info: VersionInfo, model: Path, tmp: Path, policy: GatePolicy
) -> GateCheck:
    if not info.signed or info.signature_blob is None:
        return GateCheck("signature", False, "the version was registered without a signature")
    sig = tmp / (info.signature_name or "model.sig")
    write_blob(ctx.blobs, info.signature_blob, sig)
    attempts: list[dict[str, Any]] = [{"public_key": k} for k in policy.trusted_keys]
    attempts += [{"certificate_chain": chain} for chain in policy.certificate_chains]
    last = "no trusted key matches"
    for kwargs in attempts:
        try:
            check = check_signature(model, sig, **kwargs)
        except (IntegrityError, UsageError) as exc:
            # name the stored copy, not the gate's temporary folder
            last = exc.detail.replace(f"signature {sig} ", f"the stored {sig.name} ")
            last = last.replace(str(sig), f"the stored {sig.name}").replace(
                str(model), str(info.ref)
            )
            continue
        if check.manifest_digest != info.manifest_digest:
            last = "the signature covers a different set of files"
            continue
        ctx.record(
            "models.verified",
            info.ref.subject,
            data={
                "manifest_digest": info.manifest_digest,
                "method": check.method,
                "key_fingerprint": check.key_fingerprint,
            },
        )
        return GateCheck(
            "signature",
            True,
            f"verifies against trusted key {check.key_fingerprint[:16]} ({check.method})",
        )
    ctx.record(
        "models.verified",
        info.ref.subject,
        outcome=Outcome.FAILURE,
        data={"manifest_digest": info.manifest_digest, "trusted": len(attempts)},
    )
    trusted = f"{len(attempts)} trusted key(s)/chain(s) in the policy"
    return GateCheck("signature", False, f"not signed by a trusted key ({trusted}): {last}")


def _bom(ctx: Context, info: VersionInfo) -> GateCheck:
    try:
        record, doc = stored_bom(ctx, info.ref)
    except (NotFoundError, IntegrityError) as exc:
        return GateCheck("bom", False, exc.detail)
    model = next(
        (c for c in doc.get("components", []) if c.get("bom-ref") == f"model:{info.ref}"), None
    )
    hashes = {
        h.get("content") for h in (model or {}).get("hashes", []) if h.get("alg") == "SHA-256"
    }
    if info.manifest_digest not in hashes:
        return GateCheck("bom", False, "the stored AI-BOM does not describe these files")
    vulns = record.vulnerabilities
    if record.vulnerability_count is not None:
        vulns = f"{record.vulnerability_count} known vulnerabilities"
    elif record.note:
        vulns = f"vulnerabilities unchecked: {record.note}"
    return GateCheck("bom", True, f"AI-BOM {record.serial_number} ({vulns})")
