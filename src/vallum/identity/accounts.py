"""Users, service accounts, custom roles and standing grants."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Connection, insert, select, update

from vallum.clock import now_text
from vallum.errors import NotFoundError, PolicyViolation, UsageError
from vallum.identity.directory import (
    ROLE_RE,
    Account,
    Directory,
    active_roles,
    check_name,
    check_role_exists,
    load_account,
    role_permissions,
)
from vallum.identity.permissions import BUILTIN_ROLES, parse_permissions
from vallum.store.engine import write_transaction
from vallum.store.models import Role, RoleGrant, User

MIN_PASSWORD = 12
HASHER = PasswordHasher()  # argon2id with the library's current parameters


def check_password_strength(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password needs at least {MIN_PASSWORD} characters")
    if username.lower() in password.lower():
        raise UsageError("a password must not contain the username")
    if len(set(password)) < 6:
        raise UsageError("a password needs more variety than that")


@dataclass(frozen=True, slots=True)
class NewUser:
    account: Account
    one_time_password: str

    def __repr__(self) -> str:
        return f"NewUser(account={self.account.username!r}, one_time_password=<hidden>)"


def create_user(d: Directory, actor: str, username: str, roles: list[str]) -> NewUser:
    """A person with a one-time password that must be changed at first login."""
    check_name(username, "username")
    password = secrets.token_urlsafe(18)
    _insert_principal(d, username, "user", HASHER.hash(password), roles, actor)
    d.record(actor, "users.created", f"user:{username}", data={"roles": sorted(roles)})
    return NewUser(load_account(d, username=username), password)


def create_service_account(d: Directory, actor: str, name: str, roles: list[str]) -> Account:
    """A non-human principal: no password, authenticates only with API keys."""
    check_name(name, "service account name")
    _insert_principal(d, name, "service", None, roles, actor)
    d.record(
        actor, "users.created", f"service:{name}", data={"roles": sorted(roles), "kind": "service"}
    )
    return load_account(d, username=name)


def _insert_principal(
    d: Directory, name: str, kind: str, password_hash: str | None, roles: list[str], actor: str
) -> None:
    with write_transaction(d.engine) as conn:
        if conn.execute(select(User.id).where(User.username == name)).first() is not None:
            raise UsageError(f"a principal named {name!r} already exists")
        for role in roles:
            check_role_exists(conn, role)
        now = now_text()
        user_id = conn.execute(
            insert(User)
            .values(
                username=name,
                kind=kind,
                password_hash=password_hash,
                must_change_password=password_hash is not None,
                mfa_secret=None,
                mfa_enabled=False,
                failed_logins=0,
                locked_until=None,
                last_login_at=None,
                disabled=False,
                created_at=now,
            )
            .returning(User.id)
        ).scalar_one()
        for role in sorted(set(roles)):
            conn.execute(
                insert(RoleGrant).values(
                    user_id=user_id, role=role, kind="standing", granted_by=actor, granted_at=now
                )
            )


def grant_role(d: Directory, actor: str, username: str, role: str) -> int:
    """A standing grant; returns its id."""
    account = load_account(d, username=username)
    with write_transaction(d.engine) as conn:
        check_role_exists(conn, role)
        if role in active_roles(conn, account.id):
            raise UsageError(f"{username} already holds {role}")
        grant_id = conn.execute(
            insert(RoleGrant)
            .values(
                user_id=account.id,
                role=role,
                kind="standing",
                granted_by=actor,
                granted_at=now_text(),
            )
            .returning(RoleGrant.id)
        ).scalar_one()
    d.key_cache.clear()  # keys are scopes ∩ the owner's current permissions
    d.record(actor, "access.granted", account.actor, data={"role": role, "grant": grant_id})
    return int(grant_id)


def revoke_grant(d: Directory, actor: str, grant_id: int, reason: str) -> None:
    with write_transaction(d.engine) as conn:
        row = conn.execute(select(RoleGrant).where(RoleGrant.id == grant_id)).first()
        if row is None or row.revoked_at is not None:
            raise NotFoundError(f"no active grant {grant_id}")
        if row.role == "admin":
            _keep_an_admin(conn, except_grant=grant_id)
        conn.execute(
            update(RoleGrant).where(RoleGrant.id == grant_id).values(revoked_at=now_text())
        )
        user = conn.execute(select(User.username, User.kind).where(User.id == row.user_id)).first()
    d.key_cache.clear()  # the owner's keys lose the role's permissions now, not in a second
    assert user is not None  # noqa: S101 - foreign key
    who = f"{'service' if user.kind == 'service' else 'user'}:{user.username}"
    d.record(
        actor,
        "access.revoked",
        who,
        data={"role": row.role, "grant": grant_id, "reason": reason[:200]},
    )


def _keep_an_admin(
    conn: Connection, *, except_grant: int | None = None, except_user: int | None = None
) -> None:
    """Refuse a change that would leave no enabled person holding a standing admin grant."""
    now = now_text()
    stmt = (
        select(RoleGrant.id)
        .join(User, User.id == RoleGrant.user_id)
        .where(
            RoleGrant.role == "admin",
            RoleGrant.kind == "standing",
            RoleGrant.revoked_at.is_(None),
            (RoleGrant.expires_at.is_(None)) | (RoleGrant.expires_at > now),
            User.disabled.is_(False),
            User.kind == "user",
        )
    )
    if except_grant is not None:
        stmt = stmt.where(RoleGrant.id != except_grant)
    if except_user is not None:
        stmt = stmt.where(User.id != except_user)
    if conn.execute(stmt.limit(1)).first() is None:
        raise PolicyViolation(
            "this would leave no enabled administrator", hint="grant admin to someone else first"
        )


def set_disabled(d: Directory, actor: str, username: str, disabled: bool) -> None:
    account = load_account(d, username=username)
    if disabled and actor == account.actor:
        raise PolicyViolation("you cannot disable your own account")
    with write_transaction(d.engine) as conn:
        if disabled and "admin" in account.roles:
            _keep_an_admin(conn, except_user=account.id)
        conn.execute(update(User).where(User.id == account.id).values(disabled=disabled))
    d.key_cache.clear()  # a disabled owner's keys stop at once
    d.record(actor, "users.disabled" if disabled else "users.enabled", account.actor, data={})


def list_accounts(d: Directory) -> list[Account]:
    with d.engine.connect() as conn:
        names = [r[0] for r in conn.execute(select(User.username).order_by(User.username))]
    return [load_account(d, username=n) for n in names]


def list_grants(d: Directory, *, include_inactive: bool = False) -> list[dict[str, Any]]:
    stmt = (
        # Core rows are flat (every RoleGrant column, then these two), not ORM tuples.
        select(RoleGrant, User.username, User.kind.label("principal_kind"))
        .join(User, User.id == RoleGrant.user_id)
        .order_by(RoleGrant.id)
    )
    with d.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = []
    now = now_text()
    for grant in rows:
        username, kind = grant.username, grant.principal_kind
        active = grant.revoked_at is None and (grant.expires_at is None or grant.expires_at > now)
        if active or include_inactive:
            out.append(
                {
                    "id": grant.id,
                    "principal": f"{'service' if kind == 'service' else 'user'}:{username}",
                    "role": grant.role,
                    "kind": grant.kind,
                    "granted_by": grant.granted_by,
                    "granted_at": grant.granted_at,
                    "expires_at": grant.expires_at,
                    "revoked_at": grant.revoked_at,
                    "active": active,
                }
            )
    return out


def create_role(
    d: Directory, actor: str, name: str, permissions: list[str], description: str
) -> None:
    """A custom role: any subset of the named permissions."""
    if not ROLE_RE.match(name):
        raise UsageError(f"role name {name!r} must be 2-64 of a-z 0-9 - starting with a letter")
    if name in BUILTIN_ROLES:
        raise UsageError(f"{name} is a built-in role")
    try:
        perms = parse_permissions(permissions)
    except ValueError as exc:
        raise UsageError(str(exc), hint="see `vallum roles permissions`") from None
    if not perms:
        raise UsageError("a role needs at least one permission")
    with write_transaction(d.engine) as conn:
        if conn.execute(select(Role.name).where(Role.name == name)).first() is not None:
            raise UsageError(f"role {name!r} already exists")
        conn.execute(
            insert(Role).values(
                name=name,
                description=description[:255],
                permissions=json.dumps(sorted(perms)),
                builtin=False,
                created_at=now_text(),
            )
        )
    d.record(actor, "roles.created", f"role:{name}", data={"permissions": sorted(perms)})


def list_roles(d: Directory) -> list[dict[str, Any]]:
    with d.engine.connect() as conn:
        rows = conn.execute(select(Role).order_by(Role.builtin.desc(), Role.name)).all()
        return [
            {
                "name": r.name,
                "builtin": r.builtin,
                "description": r.description,
                "permissions": sorted(role_permissions(conn, r.name)),
            }
            for r in rows
        ]
