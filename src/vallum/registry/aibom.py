"""Generate, store (encrypted) and read back the AI-BOM of a registered version."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from vallum.clock import now_text
from vallum.errors import IntegrityError, NotFoundError
from vallum.registry.bom import SPEC_VERSION, build_bom, installed_distributions
from vallum.registry.depaudit import DEFAULT_TIMEOUT, AuditResult, AuditStatus, audit_environment
from vallum.registry.versions import BomRecord, Ref, files_of, get_version, latest_bom
from vallum.store.models_registry import ModelBom

if TYPE_CHECKING:
    from vallum.context import Context


@dataclass(frozen=True, slots=True)
class GeneratedBom:
    ref: Ref
    text: str
    record: BomRecord
    audit: AuditResult


def generate_bom(
    ctx: Context,
    ref: Ref,
    *,
    audit: bool = True,
    audit_timeout: float = DEFAULT_TIMEOUT,
    audit_command: Sequence[str] | None = None,
) -> GeneratedBom:
    """Build and validate the BOM, store it with the version, record ``models.bom_generated``."""
    info = get_version(ctx.engine, ref)
    with ctx.engine.connect() as conn:
        files = files_of(conn, info.id)
    result = (
        audit_environment(timeout=audit_timeout, command=audit_command)
        if audit
        else AuditResult(AuditStatus.UNCHECKED, "skipped (--no-audit)")
    )
    built = build_bom(info, files, installed_distributions(), result)
    blob = ctx.blobs.put_bytes(built.text.encode("utf-8"), ctx.record)
    count = len(result.vulnerabilities) if result.status is AuditStatus.CHECKED else None
    now = now_text()
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(ModelBom).values(
                version_id=info.id,
                created_at=now,
                created_by=ctx.principal.actor,
                serial_number=built.serial_number,
                blob=blob.address,
                components=built.components,
                vulnerabilities=str(result.status),
                vulnerability_count=count,
                note=result.reason,
            )
        )
    ctx.record(
        "models.bom_generated",
        ref.subject,
        data={
            "spec_version": SPEC_VERSION,
            "serial_number": built.serial_number,
            "sha256": blob.address,
            "components": built.components,
            "vulnerabilities": str(result.status),
            "vulnerability_count": count,
            "reason": result.reason,
        },
    )
    record = BomRecord(
        now,
        built.serial_number,
        blob.address,
        built.components,
        str(result.status),
        count,
        result.reason,
    )
    return GeneratedBom(ref, built.text, record, result)


def stored_bom(ctx: Context, ref: Ref) -> tuple[BomRecord, dict[str, Any]]:
    """The newest stored BOM of ``ref``, decrypted and parsed; NotFoundError if none."""
    info = get_version(ctx.engine, ref)
    with ctx.engine.connect() as conn:
        record = latest_bom(conn, info.id)
    if record is None:
        raise NotFoundError(f"{ref} has no AI-BOM", hint=f"run `vallum models bom {ref}`")
    try:
        doc = json.loads(ctx.blobs.get_bytes(record.blob))
    except ValueError as exc:
        raise IntegrityError(f"the stored AI-BOM of {ref} is not JSON") from exc
    if not isinstance(doc, dict):
        raise IntegrityError(f"the stored AI-BOM of {ref} is not a JSON object")
    return record, doc
