"""Accounts and roles: built-in roles, custom roles, grants, service accounts, first admin.

Each test runs on SQLite and PostgreSQL (the ``ctx`` fixture); what the code
stored is read back with SQL, not only through the functions under test.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from tests.unit.crypto.support import events_named
from vallum.config import VallumSettings
from vallum.context import Context, initialise, open_context
from vallum.errors import AuthError, NotFoundError, UsageError
from vallum.identity import accounts, login
from vallum.identity.directory import load_account
from vallum.identity.permissions import BUILTIN_ROLES, MFA_REQUIRED_ROLES, Permission
from vallum.store.models import Role, User

ACTOR = "user:root-test"
READ_ONLY_SUFFIXES = (".read", ".export", ".verify")


def _active_grant_ids(ctx: Context, username: str) -> dict[str, int]:
    """Active grant id by role for ``username``, read from the table."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.id, g.role FROM role_grants g JOIN users u ON u.id = g.user_id "
                "WHERE u.username = :u AND g.revoked_at IS NULL"
            ),
            {"u": username},
        ).all()
    return {r.role: r.id for r in rows}


# -- built-in roles ------------------------------------------------------------


def test_builtin_roles_and_a_read_only_auditor(ctx: Context) -> None:
    assert set(BUILTIN_ROLES) == {"admin", "security", "ml-engineer", "app-developer", "auditor"}
    with ctx.engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(select(Role))}
    for name, perms in BUILTIN_ROLES.items():
        assert name in rows, name
        assert rows[name].builtin is True
        assert set(json.loads(rows[name].permissions)) == {str(p) for p in perms}
    listed = {r["name"]: r for r in accounts.list_roles(ctx.directory)}
    assert listed["admin"]["permissions"] == sorted(Permission)

    everything = frozenset(Permission)
    assert BUILTIN_ROLES["admin"] == everything
    for name in ("security", "ml-engineer", "app-developer", "auditor"):
        assert BUILTIN_ROLES[name] < everything, name
    assert Permission.USERS_MANAGE not in BUILTIN_ROLES["security"]
    assert Permission.MODELS_SIGN in BUILTIN_ROLES["ml-engineer"]
    assert Permission.MODELS_SIGN not in BUILTIN_ROLES["app-developer"]
    assert Permission.GATEWAY_USE in BUILTIN_ROLES["app-developer"]
    assert {"admin", "security"} <= MFA_REQUIRED_ROLES

    # The auditor is read-only.
    auditor = BUILTIN_ROLES["auditor"]
    writes = sorted(p for p in auditor if not p.value.endswith(READ_ONLY_SUFFIXES))
    assert writes == [], f"auditor holds permissions that are not read/export/verify: {writes}"
    # The auditor can read the evidence...
    assert {Permission.LEDGER_READ, Permission.LEDGER_EXPORT, Permission.LEDGER_VERIFY} <= auditor
    # ...and what an auditor account gets at run time is exactly that.
    accounts.create_user(ctx.directory, ACTOR, "audrey", ["auditor"])
    account = load_account(ctx.directory, username="audrey")
    assert account.roles == ("auditor",)
    assert account.permissions == auditor
    assert not [p for p in account.permissions if not p.value.endswith(READ_ONLY_SUFFIXES)]


# -- custom roles ----------------------------------------------------------------


def test_custom_role_from_permission_names(ctx: Context) -> None:
    d = ctx.directory
    accounts.create_role(d, ACTOR, "signer", ["models.read", "models.sign"], "signs models")
    roles = {r["name"]: r for r in accounts.list_roles(d)}
    assert roles["signer"]["builtin"] is False
    assert roles["signer"]["permissions"] == ["models.read", "models.sign"]
    [event] = events_named(ctx, "roles.created")
    assert event.actor == ACTOR
    assert event.subject == "role:signer"
    assert event.data_obj()["permissions"] == ["models.read", "models.sign"]

    refused = [
        ("other", ["models.read", "models.launch"], "models.launch"),
        ("other", ["MODELS.READ"], "MODELS.READ"),
        ("other", [" models.read"], "models.read"),
        ("other", [], "at least one permission"),
        ("admin", ["models.read"], "built-in"),
        ("auditor", ["ledger.read"], "built-in"),
        ("Bad Name", ["models.read"], "role name"),
        ("x", ["models.read"], "role name"),
        ("-dash", ["models.read"], "role name"),
        ("signer", ["models.read"], "already exists"),
    ]
    for name, perms, match in refused:
        with pytest.raises(UsageError, match=match):
            accounts.create_role(d, ACTOR, name, perms, "nope")
    roles = {r["name"]: r for r in accounts.list_roles(d)}
    assert {n for n, r in roles.items() if not r["builtin"]} == {"signer"}
    assert roles["signer"]["permissions"] == ["models.read", "models.sign"]
    assert roles["auditor"]["permissions"] == sorted(BUILTIN_ROLES["auditor"])
    assert len(events_named(ctx, "roles.created")) == 1


def test_grants_and_revocation_change_live_permissions(ctx: Context) -> None:
    d = ctx.directory
    accounts.create_role(d, ACTOR, "signer", ["models.sign", "datasets.read"], "x")
    accounts.create_user(d, ACTOR, "dev1", ["app-developer"])
    before = load_account(d, username="dev1")
    assert before.roles == ("app-developer",)
    assert before.permissions == BUILTIN_ROLES["app-developer"]
    assert Permission.MODELS_SIGN not in before.permissions

    grant = accounts.grant_role(d, ACTOR, "dev1", "signer")
    after = load_account(d, username="dev1")
    assert after.roles == ("app-developer", "signer")
    assert after.permissions == BUILTIN_ROLES["app-developer"] | {
        Permission.MODELS_SIGN,
        Permission.DATASETS_READ,
    }
    with pytest.raises(UsageError, match="already holds"):
        accounts.grant_role(d, ACTOR, "dev1", "signer")
    with pytest.raises(NotFoundError):
        accounts.grant_role(d, ACTOR, "dev1", "no-such-role")
    with pytest.raises(NotFoundError):
        accounts.grant_role(d, ACTOR, "nobody", "signer")
    grants = {g["id"]: g for g in accounts.list_grants(d)}
    assert grants[grant]["principal"] == "user:dev1"
    assert grants[grant]["role"] == "signer"
    assert grants[grant]["kind"] == "standing"
    assert grants[grant]["granted_by"] == ACTOR
    assert grants[grant]["active"] is True

    accounts.revoke_grant(d, ACTOR, grant, "no longer signs")
    revoked = load_account(d, username="dev1")
    assert revoked.roles == ("app-developer",)
    assert Permission.MODELS_SIGN not in revoked.permissions
    with pytest.raises(NotFoundError):
        accounts.revoke_grant(d, ACTOR, grant, "twice")

    # Revoking the standing built-in grant leaves nothing at all.
    accounts.revoke_grant(d, ACTOR, _active_grant_ids(ctx, "dev1")["app-developer"], "left")
    gone = load_account(d, username="dev1")
    assert gone.roles == ()
    assert gone.permissions == frozenset()

    [granted] = events_named(ctx, "access.granted")
    assert granted.subject == "user:dev1"
    assert granted.data_obj() == {"role": "signer", "grant": grant}
    revocations = events_named(ctx, "access.revoked")
    assert [e.data_obj()["role"] for e in revocations] == ["signer", "app-developer"]
    assert revocations[0].data_obj()["reason"] == "no longer signs"
    everything = {g["id"]: g for g in accounts.list_grants(d, include_inactive=True)}
    assert everything[grant]["active"] is False
    assert everything[grant]["revoked_at"] is not None
    assert grant not in {g["id"] for g in accounts.list_grants(d)}

    # A grant whose expiry has passed counts for nothing (written as the past).
    temp = accounts.grant_role(d, ACTOR, "dev1", "security")
    assert Permission.CRYPTO_ROTATE in load_account(d, username="dev1").permissions
    with ctx.engine.begin() as conn:
        conn.execute(
            text("UPDATE role_grants SET expires_at = :t WHERE id = :g"),
            {"t": "2020-01-01T00:00:00.000000Z", "g": temp},
        )
    assert load_account(d, username="dev1").permissions == frozenset()
    assert temp not in {g["id"] for g in accounts.list_grants(d)}

    # A custom role's permissions are read at use; unknown names in it grant nothing.
    accounts.grant_role(d, ACTOR, "dev1", "signer")
    with ctx.engine.begin() as conn:
        conn.execute(
            text("UPDATE roles SET permissions = :p WHERE name = 'signer'"),
            {"p": '["monitor.read", "root.everything"]'},
        )
    assert load_account(d, username="dev1").permissions == {Permission.MONITOR_READ}


# -- principals ----------------------------------------------------------------


def test_create_user_and_duplicate_or_bad_names(ctx: Context) -> None:
    d = ctx.directory
    new = accounts.create_user(d, ACTOR, "bob", ["ml-engineer"])
    assert new.account.username == "bob"
    assert new.account.kind == "user"
    assert new.account.actor == "user:bob"
    assert new.account.must_change_password is True
    assert new.account.permissions == BUILTIN_ROLES["ml-engineer"]
    assert new.one_time_password not in repr(new)
    assert len(new.one_time_password) >= 20
    with ctx.engine.connect() as conn:
        row = conn.execute(select(User).where(User.username == "bob")).one()
    assert row.password_hash.startswith("$argon2id$")
    assert new.one_time_password not in row.password_hash
    accounts.HASHER.verify(row.password_hash, new.one_time_password)
    [event] = [e for e in events_named(ctx, "users.created") if e.subject == "user:bob"]
    assert event.actor == ACTOR
    assert event.data_obj() == {"roles": ["ml-engineer"]}
    assert new.one_time_password not in event.data

    with pytest.raises(UsageError, match="already exists"):
        accounts.create_user(d, ACTOR, "bob", [])
    with pytest.raises(UsageError, match="already exists"):
        accounts.create_service_account(d, ACTOR, "bob", [])
    accounts.create_service_account(d, ACTOR, "ci-bot", [])
    with pytest.raises(UsageError, match="already exists"):
        accounts.create_user(d, ACTOR, "ci-bot", [])
    with pytest.raises(UsageError, match="already exists"):
        accounts.create_user(d, ACTOR, "admin", [])  # the first admin, from init
    for bad in ("", "Bob2", "has space", "-lead", "x" * 129, "semi;colon", "tab\t"):
        with pytest.raises(UsageError):
            accounts.create_user(d, ACTOR, bad, [])
    with pytest.raises(NotFoundError):
        accounts.create_user(d, ACTOR, "dave", ["no-such-role"])
    with ctx.engine.connect() as conn:
        names = sorted(r[0] for r in conn.execute(select(User.username)))
    assert names == ["admin", "bob", "ci-bot"]
    assert len(events_named(ctx, "users.created")) == 3  # admin, bob, ci-bot

    listed = {a.username: a for a in accounts.list_accounts(d)}
    assert set(listed) == {"admin", "bob", "ci-bot"}
    assert listed["ci-bot"].to_dict()["kind"] == "service"
    assert listed["bob"].to_dict()["roles"] == ["ml-engineer"]

    # Disabling and enabling.
    accounts.set_disabled(d, ACTOR, "bob", True)
    assert load_account(d, username="bob").disabled is True
    accounts.set_disabled(d, ACTOR, "bob", False)
    assert load_account(d, username="bob").disabled is False
    assert [e.subject for e in events_named(ctx, "users.disabled")] == ["user:bob"]
    assert [e.subject for e in events_named(ctx, "users.enabled")] == ["user:bob"]
    with pytest.raises(NotFoundError):
        accounts.set_disabled(d, ACTOR, "nobody", True)


def test_service_account_has_no_password_and_cannot_log_in(ctx: Context) -> None:
    d = ctx.directory
    svc = accounts.create_service_account(d, ACTOR, "ci-bot", ["app-developer"])
    assert svc.kind == "service"
    assert svc.actor == "service:ci-bot"
    assert svc.must_change_password is False
    assert svc.permissions == BUILTIN_ROLES["app-developer"]
    with ctx.engine.connect() as conn:
        row = conn.execute(select(User).where(User.username == "ci-bot")).one()
    assert row.password_hash is None
    assert row.kind == "service"
    [event] = [e for e in events_named(ctx, "users.created") if e.subject == "service:ci-bot"]
    assert event.data_obj()["kind"] == "service"
    for guess in ("", "password", "ci-bot", "x" * 40):
        with pytest.raises(AuthError):
            login.login(d, "ci-bot", guess)
    failures = [e for e in events_named(ctx, "auth.login") if e.subject == "user:ci-bot"]
    assert len(failures) == 4
    assert all(e.outcome == "failure" for e in failures)
    with ctx.engine.connect() as conn:
        sessions = conn.execute(text("SELECT count(*) FROM sessions")).scalar_one()
    assert sessions == 0


# -- the first admin -------------------------------------------------------------


def test_first_admin_from_initialise(settings: VallumSettings) -> None:
    result = initialise(settings)
    assert result.admin is not None
    assert result.admin.username == "admin"
    password = result.admin.password
    assert password not in repr(result.admin)
    again = initialise(settings)
    assert again.admin is None  # idempotent: no second admin, no new password
    ctx = open_context(settings)
    try:
        admin = load_account(ctx.directory, username="admin")
        assert admin.kind == "user"
        assert admin.roles == ("admin",)
        assert admin.permissions == frozenset(Permission)
        assert admin.must_change_password is True
        assert admin.mfa_required is True
        assert admin.mfa_enabled is False
        with ctx.engine.connect() as conn:
            row = conn.execute(select(User).where(User.username == "admin")).one()
            users = conn.execute(text("SELECT count(*) FROM users")).scalar_one()
        assert users == 1
        assert row.password_hash.startswith("$argon2id$v=19$")
        accounts.HASHER.verify(row.password_hash, password)
        # The one-time password logs in; MFA and a password change are then due.
        new = login.login(ctx.directory, "admin", password)
        assert new.state.needs_mfa is True
        assert new.state.account.must_change_password is True
        created = [e for e in events_named(ctx, "users.created") if e.subject == "user:admin"]
        assert len(created) == 1
        assert password not in created[0].data
    finally:
        ctx.close()


def test_password_strength_rules() -> None:
    accounts.check_password_strength("correct-horse-battery-9", "alice")
    for weak, why in (
        ("short-1A", "at least"),
        ("alice-is-my-password-1", "username"),
        ("ALICE-is-my-password-1", "username"),
        ("aaaaaaaaaaaaaaaaaabbbb", "variety"),
    ):
        with pytest.raises(UsageError, match=why):
            accounts.check_password_strength(weak, "alice")
