"""Registered versions as values, and reading them back from the database."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, desc, select

from vallum.errors import NotFoundError, UsageError
from vallum.store.models_registry import ModelBom, ModelFile, ModelScan, ModelVersion

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Ref:
    """NAME@VERSION."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def subject(self) -> str:
        """How ledger events name this version."""
        return f"model:{self}"

    @classmethod
    def of(cls, name: str, version: str) -> Ref:
        if not NAME.match(name):
            raise UsageError(
                f"model name {name!r} is not valid",
                hint="use letters, digits, '.', '_' and '-' (at most 128), starting alphanumeric",
            )
        if not VERSION.match(version):
            raise UsageError(
                f"version {version!r} is not valid",
                hint="use letters, digits, '.', '_', '+' and '-' (at most 64)",
            )
        return cls(name, version)

    @classmethod
    def parse(cls, text: str, what: str = "model") -> Ref:
        name, sep, version = text.rpartition("@")
        if not sep or not name:
            raise UsageError(f"{text!r} is not NAME@VERSION", hint=f"name the {what} as NAME@V")
        return cls.of(name, version)


@dataclass(frozen=True, slots=True)
class StoredFile:
    path: str
    sha256: str
    size: int
    format: str
    blob: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "format": self.format}


@dataclass(frozen=True, slots=True)
class ScanRecord:
    scanned_at: str
    scanned_by: str
    verdict: str
    summary: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "scanned_at": self.scanned_at,
            "scanned_by": self.scanned_by,
            "verdict": self.verdict,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class BomRecord:
    created_at: str
    serial_number: str
    blob: str
    components: int
    vulnerabilities: str
    vulnerability_count: int | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "created_at": self.created_at,
            "serial_number": self.serial_number,
            "sha256": self.blob,
            "components": self.components,
            "vulnerabilities": self.vulnerabilities,
            "vulnerability_count": self.vulnerability_count,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    version: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}


@dataclass(frozen=True, slots=True)
class ModelCard:
    """What people know about the model (all optional), for the AI-BOM's model card."""

    task: str | None = None
    architecture: str | None = None
    description: str | None = None
    use_cases: tuple[str, ...] = ()
    limitations: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "architecture": self.architecture,
            "description": self.description,
            "use_cases": list(self.use_cases),
            "limitations": list(self.limitations),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ModelCard:
        return cls(
            doc.get("task"),
            doc.get("architecture"),
            doc.get("description"),
            tuple(doc.get("use_cases") or ()),
            tuple(doc.get("limitations") or ()),
        )


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One registered version, as recorded (immutable)."""

    id: int
    ref: Ref
    layout: str
    framework: str | None
    format: str
    manifest_digest: str
    total_size: int
    datasets: tuple[Dataset, ...]
    card: ModelCard
    owner: str | None
    signed: bool
    signature_method: str | None
    key_fingerprint: str | None
    signature_name: str | None
    signature_blob: str | None
    created_at: str
    registered_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.ref.name,
            "version": self.ref.version,
            "layout": self.layout,
            "framework": self.framework,
            "format": self.format,
            "manifest_digest": self.manifest_digest,
            "size": self.total_size,
            "datasets": [d.to_dict() for d in self.datasets],
            "card": self.card.to_dict(),
            "owner": self.owner,
            "signed": self.signed,
            "signature_method": self.signature_method,
            "key_fingerprint": self.key_fingerprint,
            "created_at": self.created_at,
            "registered_by": self.registered_by,
        }


@dataclass(frozen=True, slots=True)
class VersionDetail:
    """A version with its files, newest scan and newest BOM."""

    info: VersionInfo
    files: tuple[StoredFile, ...]
    scan: ScanRecord | None
    bom: BomRecord | None
    tensors: int

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.info.to_dict(),
            "files": [f.to_dict() for f in self.files],
            "tensors": self.tensors,
            "scan": None if self.scan is None else self.scan.to_dict(),
            "bom": None if self.bom is None else self.bom.to_dict(),
        }


def _info(row: Any) -> VersionInfo:
    meta = json.loads(row.details)
    return VersionInfo(
        id=row.id,
        ref=Ref(row.name, row.version),
        layout=row.layout,
        framework=row.framework,
        format=row.format,
        manifest_digest=row.manifest_digest,
        total_size=row.total_size,
        datasets=tuple(Dataset(d["name"], d["version"]) for d in meta.get("datasets", [])),
        card=ModelCard.from_dict(meta.get("card", {})),
        owner=row.owner,
        signed=bool(row.signed),
        signature_method=row.signature_method,
        key_fingerprint=row.key_fingerprint,
        signature_name=row.signature_name,
        signature_blob=row.signature_blob,
        created_at=row.created_at,
        registered_by=row.registered_by,
    )


def find_version(conn: Connection, ref: Ref) -> VersionInfo | None:
    row = conn.execute(
        select(ModelVersion).where(
            ModelVersion.name == ref.name, ModelVersion.version == ref.version
        )
    ).first()
    return None if row is None else _info(row)


def get_version(engine: Engine, ref: Ref) -> VersionInfo:
    with engine.connect() as conn:
        info = find_version(conn, ref)
    if info is None:
        raise NotFoundError(f"no registered model {ref}", hint="see `vallum models list`")
    return info


def versions_by_id(conn: Connection, ids: set[int]) -> dict[int, VersionInfo]:
    if not ids:
        return {}
    rows = conn.execute(select(ModelVersion).where(ModelVersion.id.in_(sorted(ids)))).all()
    return {r.id: _info(r) for r in rows}


def list_versions(engine: Engine, name: str | None = None) -> list[VersionInfo]:
    stmt = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.id)
    if name is not None:
        stmt = stmt.where(ModelVersion.name == name)
    with engine.connect() as conn:
        return [_info(r) for r in conn.execute(stmt).all()]


def files_of(conn: Connection, version_id: int) -> tuple[StoredFile, ...]:
    rows = conn.execute(
        select(ModelFile).where(ModelFile.version_id == version_id).order_by(ModelFile.path)
    ).all()
    return tuple(StoredFile(r.path, r.sha256, r.size, r.format, r.blob) for r in rows)


def latest_scan(conn: Connection, version_id: int) -> ScanRecord | None:
    row = conn.execute(
        select(ModelScan)
        .where(ModelScan.version_id == version_id)
        .order_by(desc(ModelScan.id))
        .limit(1)
    ).first()
    if row is None:
        return None
    return ScanRecord(row.scanned_at, row.scanned_by, row.verdict, json.loads(row.summary))


def latest_bom(conn: Connection, version_id: int) -> BomRecord | None:
    row = conn.execute(
        select(ModelBom)
        .where(ModelBom.version_id == version_id)
        .order_by(desc(ModelBom.id))
        .limit(1)
    ).first()
    if row is None:
        return None
    return BomRecord(
        row.created_at,
        row.serial_number,
        row.blob,
        row.components,
        row.vulnerabilities,
        row.vulnerability_count,
        row.note,
    )


def detail(engine: Engine, ref: Ref) -> VersionDetail:
    from sqlalchemy import func

    from vallum.store.models_registry import ModelTensor

    with engine.connect() as conn:
        info = find_version(conn, ref)
        if info is None:
            raise NotFoundError(f"no registered model {ref}", hint="see `vallum models list`")
        tensors = conn.execute(
            select(func.count()).select_from(ModelTensor).where(ModelTensor.version_id == info.id)
        ).scalar_one()
        return VersionDetail(
            info,
            files_of(conn, info.id),
            latest_scan(conn, info.id),
            latest_bom(conn, info.id),
            int(tensors),
        )
