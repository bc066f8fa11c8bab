"""Detectors: the tokenization vault (encrypted surrogate mappings per conversation).

Revision ID: 0005_detect
Revises: 0004_gateway
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_detect"
down_revision = "0004_gateway"  # re-chained after 0004_gateway in the gateway branch
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detect_vault",
        sa.Column("conversation", sa.String(64), primary_key=True),
        sa.Column("data_key_id", sa.String(32), nullable=False),
        sa.Column("mapping", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_detect_vault_expires_at", "detect_vault", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_detect_vault_expires_at", table_name="detect_vault")
    op.drop_table("detect_vault")
