"""Identity: principals, roles and grants, API keys, sessions, MFA, JIT, reviews.

Revision ID: 0002_identity
Revises: 0001_kernel
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002_identity"
down_revision = "0001_kernel"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    legacy = op.get_bind().execute(sa.text("SELECT id, roles, created_at FROM users")).all()
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="user"))
        batch.add_column(sa.Column("mfa_secret", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("mfa_last_step", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("mfa_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("locked_until", sa.String(32), nullable=True))
        batch.add_column(sa.Column("last_login_at", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.alter_column("password_hash", existing_type=sa.String(255), nullable=True)
        # Dropped before role_grants exists: on SQLite batch mode rebuilds (drops)
        # users, which a referencing table with rows would forbid.
        batch.drop_column("roles")
    op.create_table(
        "role_grants",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("role", sa.String(64), sa.ForeignKey("roles.name"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("granted_by", sa.String(255), nullable=False),
        sa.Column("granted_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=True),
        sa.Column("revoked_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_role_grants_user", "role_grants", ["user_id"])
    _move_user_roles_to_grants(legacy)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("last_used_at", sa.String(32), nullable=True),
        sa.Column("revoked_at", sa.String(32), nullable=True),
        sa.Column("replaced_by", sa.String(32), nullable=True),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf_hash", sa.String(64), nullable=False),
        sa.Column("mfa_verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("last_seen_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32), nullable=True),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", sa.String(32), nullable=True),
    )
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("role", sa.String(64), sa.ForeignKey("roles.name"), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("break_glass", sa.Boolean(), nullable=False),
        sa.Column("requested_at", sa.String(32), nullable=False),
        sa.Column("decided_by", sa.String(255), nullable=True),
        sa.Column("decided_at", sa.String(32), nullable=True),
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("role_grants.id"), nullable=True),
        sa.Column("reviewed_by", sa.String(255), nullable=True),
        sa.Column("reviewed_at", sa.String(32), nullable=True),
    )
    op.create_table(
        "review_campaigns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("deadline", sa.String(32), nullable=False),
        sa.Column("closed_at", sa.String(32), nullable=True),
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "campaign_id", sa.Integer(), sa.ForeignKey("review_campaigns.id"), nullable=False
        ),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(255), nullable=False),
        sa.Column("detail", sa.String(255), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(255), nullable=True),
        sa.Column("decided_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_review_items_campaign", "review_items", ["campaign_id"])


#: The built-in role names (their permissions live in vallum.identity.permissions).
_BUILTIN = frozenset({"admin", "security", "ml-engineer", "app-developer", "auditor"})


def _move_user_roles_to_grants(users: Sequence[sa.Row[Any]]) -> None:
    """0001 kept roles as a comma list on users; they become standing grants."""
    conn = op.get_bind()
    names = sorted({r.strip() for u in users for r in (u.roles or "").split(",") if r.strip()})
    for name in names:
        conn.execute(
            sa.text(
                "INSERT INTO roles (name, description, permissions, builtin, created_at) "
                "VALUES (:n, :d, :p, :b, :t)"
            ),
            {
                "n": name,
                "d": "migrated",
                "p": json.dumps([]),
                "b": name in _BUILTIN,
                "t": "1970-01-01T00:00:00.000000Z",
            },
        )
    for u in users:
        for role in [r.strip() for r in (u.roles or "").split(",") if r.strip()]:
            conn.execute(
                sa.text(
                    "INSERT INTO role_grants (user_id, role, kind, granted_by, granted_at) "
                    "VALUES (:u, :r, 'standing', 'system:migration', :t)"
                ),
                {"u": u.id, "r": role, "t": u.created_at},
            )


def downgrade() -> None:
    raise RuntimeError("identity tables cannot be downgraded")
