"""Model registry: versions, files, tensor fingerprints, scans and AI-BOMs.

Revision ID: 0003_models
Revises: 0002_identity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_models"
down_revision = "0002_identity"
branch_labels = None
depends_on = None

#: Rows that never change once inserted (a registered version is immutable).
IMMUTABLE = ("model_versions", "model_files", "model_tensors")


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("layout", sa.String(8), nullable=False),
        sa.Column("framework", sa.String(64), nullable=True),
        sa.Column("format", sa.String(64), nullable=False),
        sa.Column("manifest_digest", sa.String(64), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("signature_method", sa.String(32), nullable=True),
        sa.Column("key_fingerprint", sa.String(64), nullable=True),
        sa.Column("signature_name", sa.String(255), nullable=True),
        sa.Column("signature_blob", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("registered_by", sa.String(255), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
    )
    op.create_index("ix_model_versions_manifest_digest", "model_versions", ["manifest_digest"])
    op.create_table(
        "model_files",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(64), nullable=False),
        sa.Column("blob", sa.String(64), nullable=False),
    )
    op.create_index("ix_model_files_version_id", "model_files", ["version_id"])
    op.create_index("ix_model_files_sha256", "model_files", ["sha256"])
    op.create_table(
        "model_tensors",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("file", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_model_tensors_digest", "model_tensors", ["digest"])
    op.create_index("ix_model_tensors_version", "model_tensors", ["version_id"])
    op.create_table(
        "model_scans",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("scanned_at", sa.String(32), nullable=False),
        sa.Column("scanned_by", sa.String(255), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
    )
    op.create_index("ix_model_scans_version_id", "model_scans", ["version_id"])
    op.create_table(
        "model_boms",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("serial_number", sa.String(64), nullable=False),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("components", sa.Integer(), nullable=False),
        sa.Column("vulnerabilities", sa.String(16), nullable=False),
        sa.Column("vulnerability_count", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_model_boms_version_id", "model_boms", ["version_id"])
    _immutable_triggers()


def _immutable_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION vallum_immutable() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION 'vallum: % on % refused: registered versions are immutable',
                TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
            END $$ LANGUAGE plpgsql
            """
        )
        for table in IMMUTABLE:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION vallum_immutable()"
            )
    elif dialect == "sqlite":
        for table in IMMUTABLE:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'vallum: registered versions are immutable'); END"
                )


def downgrade() -> None:
    raise RuntimeError("the model registry cannot be downgraded: registered versions are kept")
