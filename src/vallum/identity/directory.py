"""The directory: principals (users, service accounts), roles, grants, permissions.

``Directory`` bundles what identity needs from the kernel (database, keyring,
ledger) and the identity settings; the functions in ``accounts``, ``apikeys``,
``login``, ``jit`` and ``reviews`` take it as their first argument. Every
decision they make is recorded in the ledger by the actor who caused it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from vallum.clock import format_time, now_text, utcnow
from vallum.crypto.keyring import Keyring
from vallum.errors import NotFoundError, UsageError
from vallum.identity.permissions import BUILTIN_ROLES, MFA_REQUIRED_ROLES, Permission
from vallum.ledger.event import Outcome
from vallum.ledger.writer import Ledger
from vallum.store.models import Role, RoleGrant, User

#: How long a verified API key is trusted from memory (revocation elsewhere lands
#: within this), and how often its last-used time is written.
KEY_CACHE_SECONDS = 1.0
KEY_LAST_USED_EVERY = 60.0
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,127}$")
ROLE_RE = re.compile(r"^[a-z][a-z0-9-]{1,63}$")


@dataclass(frozen=True, slots=True)
class IdentityPolicy:
    """Identity settings (from VallumSettings), frozen for one process."""

    session_idle: dt.timedelta = dt.timedelta(minutes=15)
    session_absolute: dt.timedelta = dt.timedelta(hours=12)
    mfa_required_for_all: bool = False
    lockout_threshold: int = 5
    lockout_base: dt.timedelta = dt.timedelta(minutes=1)
    lockout_max: dt.timedelta = dt.timedelta(hours=1)
    api_key_max_days: int = 365
    api_key_warn_days: int = 14
    api_key_unused_days: int = 30
    jit_max: dt.timedelta = dt.timedelta(hours=8)
    break_glass_max: dt.timedelta = dt.timedelta(hours=4)


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    """Who a verified key acts for, and what it may do right now."""

    key_id: str
    owner: Account
    permissions: frozenset[Permission]
    expires_at: str = ""

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_id}"


class KeyCache:
    """Verified keys by id, for a short time; never holds a secret, only its hash."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, str, KeyPrincipal]] = {}
        self._last_used: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, key_id: str) -> tuple[str, KeyPrincipal] | None:
        with self._lock:
            item = self._items.get(key_id)
        if item is None or time.monotonic() - item[0] > KEY_CACHE_SECONDS:
            return None
        return item[1], item[2]

    def put(self, key_id: str, secret_hash: str, principal: KeyPrincipal) -> None:
        with self._lock:
            self._items[key_id] = (time.monotonic(), secret_hash, principal)

    def drop(self, key_id: str) -> None:
        with self._lock:
            self._items.pop(key_id, None)

    def clear(self) -> None:
        """Forget every verified key: an owner's roles or status changed."""
        with self._lock:
            self._items.clear()

    def should_touch(self, key_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last_used.get(key_id, -KEY_LAST_USED_EVERY) < KEY_LAST_USED_EVERY:
                return False
            self._last_used[key_id] = now
            return True


@dataclass(frozen=True, slots=True)
class Directory:
    engine: Engine
    keyring: Keyring
    ledger: Ledger
    policy: IdentityPolicy
    key_cache: KeyCache = field(default_factory=lambda: KeyCache())

    def record(
        self,
        actor: str,
        action: str,
        subject: str,
        *,
        outcome: Outcome | str = Outcome.SUCCESS,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a decision; returns its seq once durable (never holds secrets)."""
        return self.ledger.append(actor, action, subject, outcome=outcome, data=data).seq


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    kind: str
    disabled: bool
    mfa_enabled: bool
    must_change_password: bool
    roles: tuple[str, ...]
    permissions: frozenset[Permission]

    @property
    def actor(self) -> str:
        return f"{'service' if self.kind == 'service' else 'user'}:{self.username}"

    @property
    def mfa_required(self) -> bool:
        return bool(MFA_REQUIRED_ROLES.intersection(self.roles))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "kind": self.kind,
            "disabled": self.disabled,
            "mfa_enabled": self.mfa_enabled,
            "roles": list(self.roles),
            "permissions": sorted(self.permissions),
        }


def ensure_builtin_roles(engine: Engine) -> None:
    """Make sure every built-in role has a row (grants reference roles by name)."""
    with engine.begin() as conn:
        have = {r[0]: r[1] for r in conn.execute(select(Role.name, Role.builtin))}
        for name, perms in BUILTIN_ROLES.items():
            doc = json.dumps(sorted(perms))
            if name not in have:
                conn.execute(
                    insert(Role).values(
                        name=name,
                        description=f"built-in role {name}",
                        permissions=doc,
                        builtin=True,
                        created_at=now_text(),
                    )
                )
            else:
                conn.execute(
                    update(Role).where(Role.name == name).values(permissions=doc, builtin=True)
                )


def role_permissions(conn: Connection, role: str) -> frozenset[Permission]:
    if role in BUILTIN_ROLES:
        return BUILTIN_ROLES[role]
    doc = conn.execute(select(Role.permissions).where(Role.name == role)).scalar()
    if doc is None:
        return frozenset()
    return frozenset(Permission(p) for p in json.loads(doc) if p in Permission._value2member_map_)


def active_roles(conn: Connection, user_id: int, at: dt.datetime | None = None) -> tuple[str, ...]:
    """Roles of grants that are neither revoked nor expired at ``at`` (now)."""
    now = format_time(at or utcnow())
    rows = conn.execute(
        select(RoleGrant.role).where(
            RoleGrant.user_id == user_id,
            RoleGrant.revoked_at.is_(None),
            (RoleGrant.expires_at.is_(None)) | (RoleGrant.expires_at > now),
        )
    )
    return tuple(sorted({r[0] for r in rows}))


def load_account(
    d: Directory, *, username: str | None = None, user_id: int | None = None
) -> Account:
    """The account with its live roles and permissions; NotFoundError otherwise."""
    with d.engine.connect() as conn:
        stmt = select(User)
        stmt = (
            stmt.where(User.username == username)
            if username is not None
            else stmt.where(User.id == user_id)
        )
        row = conn.execute(stmt).first()
        if row is None:
            raise NotFoundError(f"no principal {username or user_id!r}")
        roles = active_roles(conn, row.id)
        perms: set[Permission] = set()
        for role in roles:
            perms |= role_permissions(conn, role)
    return Account(
        id=row.id,
        username=row.username,
        kind=row.kind,
        disabled=row.disabled,
        mfa_enabled=row.mfa_enabled,
        must_change_password=row.must_change_password,
        roles=roles,
        permissions=frozenset(perms),
    )


def check_name(name: str, what: str = "name") -> str:
    if not NAME_RE.match(name):
        raise UsageError(
            f"{what} {name!r} must be 1-128 of a-z 0-9 _ . @ - and start with a letter or digit"
        )
    return name


def check_role_exists(conn: Connection, role: str) -> None:
    if conn.execute(select(Role.name).where(Role.name == role)).first() is None:
        raise NotFoundError(f"no role {role!r}", hint="see `vallum roles list`")


def in_future(delta: dt.timedelta) -> str:
    return format_time(utcnow() + delta)
