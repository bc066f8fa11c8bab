"""Migration 0002: the 0001 ``users.roles`` column becomes standing role grants.

The database is built with Alembic up to ``0001_kernel`` only, given users the
way 0001 stored them (a comma list of roles), then migrated to head; the result
must hold the same people with the same roles, as grants, and match the models.
"""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from argon2 import PasswordHasher
from sqlalchemy import Engine, inspect, text

from vallum.config import VallumSettings
from vallum.context import initialise, open_context
from vallum.identity import login
from vallum.identity.directory import load_account
from vallum.identity.permissions import BUILTIN_ROLES, Permission
from vallum.store.engine import make_engine
from vallum.store.models import Base
from vallum.store.schema import _alembic_config, current_revision, head_revision, migrate

PASSWORD = "legacy-Password-from-0001"
LEGACY_USERS = [
    # username, roles as 0001 stored them, must_change_password, created_at
    ("alice", "admin", False, "2025-01-02T03:04:05.000006Z"),
    ("bob", "security, auditor", True, "2025-02-03T04:05:06.000007Z"),
    ("carol", "", False, "2025-03-04T05:06:07.000008Z"),
]


def _to_0001(engine: Engine) -> None:
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001_kernel")


def _grants(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT u.username, g.role, g.kind, g.granted_by, g.granted_at, g.expires_at, "
                "g.revoked_at FROM role_grants g JOIN users u ON u.id = g.user_id "
                "ORDER BY u.username, g.role"
            )
        ).all()
    return [tuple(r) for r in rows]


def test_legacy_roles_become_standing_grants(settings: VallumSettings) -> None:
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        _to_0001(engine)
        assert current_revision(engine) == "0001_kernel"
        assert "roles" in {c["name"] for c in inspect(engine).get_columns("users")}
        legacy_hash = PasswordHasher().hash(PASSWORD)
        with engine.begin() as conn:
            for username, roles, must_change, created in LEGACY_USERS:
                conn.execute(
                    text(
                        "INSERT INTO users (username, password_hash, must_change_password, "
                        "roles, created_at) VALUES (:u, :h, :m, :r, :c)"
                    ),
                    {"u": username, "h": legacy_hash, "m": must_change, "r": roles, "c": created},
                )

        assert migrate(engine) == ("0001_kernel", head_revision())

        created_at = {u: c for u, _, _, c in LEGACY_USERS}
        assert _grants(engine) == [
            ("alice", "admin", "standing", "system:migration", created_at["alice"], None, None),
            ("bob", "auditor", "standing", "system:migration", created_at["bob"], None, None),
            ("bob", "security", "standing", "system:migration", created_at["bob"], None, None),
        ]
        assert "roles" not in {c["name"] for c in inspect(engine).get_columns("users")}
        with engine.connect() as conn:
            users = conn.execute(
                text(
                    "SELECT username, kind, password_hash, must_change_password, mfa_secret, "
                    "mfa_enabled, failed_logins, locked_until, disabled, created_at "
                    "FROM users ORDER BY username"
                )
            ).all()
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [tuple(u) for u in users] == [
            (name, "user", legacy_hash, must_change, None, False, 0, None, False, created)
            for name, _, must_change, created in LEGACY_USERS
        ]
        assert diff == [], diff
    finally:
        engine.dispose()

    # The migrated database initialises (no second admin: people exist) and works.
    result = initialise(settings)
    assert result.admin is None
    ctx = open_context(settings)
    try:
        d = ctx.directory
        alice = load_account(d, username="alice")
        assert alice.roles == ("admin",)
        assert alice.permissions == frozenset(Permission)
        bob = load_account(d, username="bob")
        assert bob.roles == ("auditor", "security")
        assert bob.permissions == BUILTIN_ROLES["security"] | BUILTIN_ROLES["auditor"]
        assert bob.must_change_password is True
        carol = load_account(d, username="carol")
        assert (carol.roles, carol.permissions) == ((), frozenset())
        # Every built-in role is a row with its real permissions (not the migration's []).
        with ctx.engine.connect() as conn:
            roles = dict(conn.execute(text("SELECT name, permissions FROM roles")).all())
        assert set(roles) == set(BUILTIN_ROLES)
        assert roles["admin"] != "[]"
        # The 0001 password hash still logs in.
        new = login.login(d, "alice", PASSWORD)
        assert new.state.account.username == "alice"
        assert new.state.needs_mfa is True  # an admin: MFA enrolment is now due
    finally:
        ctx.close()
