"""The model registry's tables (created by migration ``0003_models``).

A version is immutable once written: its row, its files and its tensor
fingerprints are inserted in one transaction and never updated (database
triggers refuse UPDATE and DELETE on them, as for the ledger). Scans and BOMs
are appended beside a version; the newest one counts.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vallum.store.models import Base

#: Tables whose rows may never change once inserted.
IMMUTABLE_TABLES = ("model_versions", "model_files", "model_tensors")


class ModelVersion(Base):
    """One registered version NAME@VERSION: what was stored, who stored it, how it was signed."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    layout: Mapped[str] = mapped_column(String(8))
    """``file`` (a single-file model) or ``dir`` (a folder)."""
    framework: Mapped[str | None] = mapped_column(String(64), nullable=True)
    format: Mapped[str] = mapped_column(String(64))
    manifest_digest: Mapped[str] = mapped_column(String(64), index=True)
    total_size: Mapped[int] = mapped_column(BigInteger)
    details: Mapped[str] = mapped_column(Text)
    """JSON: ``datasets`` (``[{"name", "version"}]``) and the model ``card``."""
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    signed: Mapped[bool] = mapped_column(Boolean)
    signature_method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    key_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signature_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    signature_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[str] = mapped_column(String(32))
    registered_by: Mapped[str] = mapped_column(String(255))

    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_versions_name_version"),)


class ModelFile(Base):
    """One file of a version: its path inside the model, digest, format and blob."""

    __tablename__ = "model_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(64))
    blob: Mapped[str] = mapped_column(String(64))


class ModelTensor(Base):
    """The SHA-256 of one tensor's raw bytes: a fingerprint shared by derived copies."""

    __tablename__ = "model_tensors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    file: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(1024))
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_model_tensors_digest", "digest"),
        Index("ix_model_tensors_version", "version_id"),
    )


class ModelScan(Base):
    """One scan of a version's files; the gate reads the newest."""

    __tablename__ = "model_scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    scanned_at: Mapped[str] = mapped_column(String(32))
    scanned_by: Mapped[str] = mapped_column(String(255))
    verdict: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    """JSON: files, safe, unsafe, unscannable counts."""


class ModelBom(Base):
    """An AI-BOM (CycloneDX JSON) generated for a version, stored encrypted as a blob."""

    __tablename__ = "model_boms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    created_at: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(255))
    serial_number: Mapped[str] = mapped_column(String(64))
    blob: Mapped[str] = mapped_column(String(64))
    components: Mapped[int] = mapped_column(Integer)
    vulnerabilities: Mapped[str] = mapped_column(String(16))
    """``checked`` or ``unchecked``."""
    vulnerability_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
