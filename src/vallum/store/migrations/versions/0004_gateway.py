"""Gateway: vendors, routes and the configuration version workers poll.

Revision ID: 0004_gateway
Revises: 0002_identity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_gateway"
down_revision = "0002_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_vendors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("base_url", sa.String(512), nullable=False),
        sa.Column("credential", sa.LargeBinary(), nullable=True),
        sa.Column("credential_env", sa.String(128), nullable=True),
        sa.Column("api_version", sa.String(64), nullable=True),
        sa.Column("baa", sa.Boolean(), nullable=False),
        sa.Column("regions", sa.Text(), nullable=False),
        sa.Column("data_classes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "gateway_routes",
        sa.Column("alias", sa.String(128), primary_key=True),
        sa.Column("targets", sa.Text(), nullable=False),
        sa.Column("allowed_roles", sa.Text(), nullable=False),
        sa.Column("allowed_keys", sa.Text(), nullable=False),
        sa.Column("regions", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("requests_per_minute", sa.Integer(), nullable=False),
        sa.Column("tokens_per_minute", sa.Integer(), nullable=False),
        sa.Column("canary", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "gateway_config_version",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO gateway_config_version (id, version) VALUES (1, 0)")
    op.create_table(
        "gateway_captures",
        sa.Column("request_id", sa.String(32), primary_key=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_gateway_captures_day", "gateway_captures", ["day"])


def downgrade() -> None:
    op.drop_index("ix_gateway_captures_day", table_name="gateway_captures")
    op.drop_table("gateway_captures")
    op.drop_table("gateway_config_version")
    op.drop_table("gateway_routes")
    op.drop_table("gateway_vendors")
