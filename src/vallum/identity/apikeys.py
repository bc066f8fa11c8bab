"""API keys: ``vk_<id>_<secret>``, shown once, stored as SHA-256, scoped, expiring.

The secret is 32 random bytes (base64url), so a plain SHA-256 is the right
hash: there is nothing to brute-force, and checking costs microseconds on the
hot path. Comparison is constant-time. Verified keys are cached in memory for
``KEY_CACHE_SECONDS``; revoking in this process drops the cache entry at once, other
processes see it within ``KEY_CACHE_SECONDS``.

A key's effective permissions are its scopes intersected with what its owner
holds at the moment of use: revoking the owner's role narrows the key too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from vallum.clock import format_time, now_text, parse_time, utcnow
from vallum.errors import AuthError, NotFoundError, PolicyViolation, UsageError
from vallum.identity.directory import (
    Account,
    Directory,
    KeyPrincipal,
    check_name,
    load_account,
)
from vallum.identity.permissions import Permission, parse_permissions
from vallum.store.models import ApiKey, User

PREFIX = "vk_"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    name: str
    owner: str
    scopes: tuple[str, ...]
    created_at: str
    expires_at: str
    last_used_at: str | None
    revoked_at: str | None
    replaced_by: str | None

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now_text():
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "scopes": list(self.scopes),
            "status": self.status,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
            "replaced_by": self.replaced_by,
        }


@dataclass(frozen=True, slots=True)
class IssuedKey:
    info: KeyInfo
    secret: str  # the full vk_ string: shown once, never stored

    def __repr__(self) -> str:
        return f"IssuedKey(id={self.info.id!r}, secret=<hidden>)"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _info(row: Any, owner: str) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        name=row.name,
        owner=owner,
        scopes=tuple(json.loads(row.scopes)),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        replaced_by=row.replaced_by,
    )


def create_key(
    d: Directory,
    actor: str,
    *,
    name: str,
    owner: str,
    scopes: list[str],
    expires_in: dt.timedelta,
    replaces: str | None = None,
    issuer: Account | None = None,
) -> IssuedKey:
    """Issue a key; the returned secret is the only time it exists in clear.

    ``issuer`` is the signed-in person asking (None for the local operator who
    holds the key file): they may only grant scopes they hold themselves, and
    only for themselves or a service account, unless they hold users.manage.
    """
    check_name(name, "key name")
    if expires_in <= dt.timedelta(0) or expires_in > dt.timedelta(days=d.policy.api_key_max_days):
        raise UsageError(f"a key must expire within {d.policy.api_key_max_days} days")
    try:
        perms = parse_permissions(scopes)
    except ValueError as exc:
        raise UsageError(str(exc), hint="see `vallum roles permissions`") from None
    if not perms:
        raise UsageError("a key needs at least one scope (a permission)")
    account = load_account(d, username=owner)
    if account.disabled:
        raise UsageError(f"{owner} is disabled")
    missing = sorted(perms - account.permissions)
    if missing:
        raise UsageError(
            f"{owner} does not hold {', '.join(missing)}; a key cannot exceed its owner"
        )
    if issuer is not None:
        _check_issuer(issuer, account, perms)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    full = f"{PREFIX}{key_id}_{secret}"
    now = utcnow()  # one reading: expires_at - created_at is exactly expires_in
    with d.engine.begin() as conn:
        conn.execute(
            insert(ApiKey).values(
                id=key_id,
                name=name,
                owner_id=account.id,
                secret_hash=_hash(secret),
                scopes=json.dumps(sorted(perms)),
                created_by=actor,
                created_at=format_time(now),
                expires_at=format_time(now + expires_in),
                last_used_at=None,
                revoked_at=None,
                replaced_by=None,
            )
        )
    info = get_key(d, key_id)
    d.record(
        actor,
        "apikeys.rotated" if replaces else "apikeys.created",
        f"apikey:{key_id}",
        data={
            "name": name,
            "owner": account.actor,
            "scopes": sorted(perms),
            "expires_at": info.expires_at,
            **({"replaces": replaces} if replaces else {}),
        },
    )
    return IssuedKey(info, full)


def _check_issuer(issuer: Account, owner: Account, perms: frozenset[Permission]) -> None:
    beyond = sorted(perms - issuer.permissions)
    if beyond:
        raise PolicyViolation(f"you cannot hand out {', '.join(beyond)}: you do not hold it")
    if (
        owner.id != issuer.id
        and owner.kind != "service"
        and Permission.USERS_MANAGE not in issuer.permissions
    ):
        raise PolicyViolation("you may issue keys only for yourself or a service account")


def get_key(d: Directory, key_id: str) -> KeyInfo:
    with d.engine.connect() as conn:
        row = conn.execute(
            select(ApiKey, User.username)
            .join(User, User.id == ApiKey.owner_id)
            .where(ApiKey.id == key_id)
        ).first()
    if row is None:
        raise NotFoundError(f"no API key {key_id!r}")
    # Core rows are flat: every ApiKey column, then the owner's username.
    return _info(row, row.username)


def list_keys(d: Directory) -> list[KeyInfo]:
    with d.engine.connect() as conn:
        rows = conn.execute(
            select(ApiKey, User.username)
            .join(User, User.id == ApiKey.owner_id)
            .order_by(ApiKey.created_at, ApiKey.id)
        ).all()
    return [_info(r, r.username) for r in rows]


def rotate_key(
    d: Directory,
    actor: str,
    key_id: str,
    overlap: dt.timedelta,
    issuer: Account | None = None,
) -> IssuedKey:
    """A new key with the same name, owner and scopes; the old one lives ``overlap`` more."""
    old = get_key(d, key_id)
    if old.status != "active":
        raise UsageError(f"key {key_id} is {old.status}; create a new one instead")
    if overlap < dt.timedelta(0) or overlap > dt.timedelta(days=30):
        raise UsageError("the overlap must be between 0 and 30 days")
    lifetime = parse_time(old.expires_at) - parse_time(old.created_at)
    # Never longer than the policy allows now (it may have been lowered since).
    lifetime = min(lifetime, dt.timedelta(days=d.policy.api_key_max_days))
    new = create_key(
        d,
        actor,
        name=old.name,
        owner=old.owner,
        scopes=list(old.scopes),
        expires_in=max(lifetime, dt.timedelta(days=1)),
        replaces=key_id,
        issuer=issuer,
    )
    old_end = min(old.expires_at, format_time(utcnow() + overlap))
    with d.engine.begin() as conn:
        conn.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(expires_at=old_end, replaced_by=new.info.id)
        )
    d.key_cache.drop(key_id)
    return new


def revoke_key(d: Directory, actor: str, key_id: str, reason: str) -> None:
    old = get_key(d, key_id)
    if old.revoked_at is not None:
        raise UsageError(f"key {key_id} is already revoked")
    with d.engine.begin() as conn:
        conn.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=now_text()))
    d.key_cache.drop(key_id)
    d.record(actor, "apikeys.revoked", f"apikey:{key_id}", data={"reason": reason[:200]})


def warnings(d: Directory) -> list[dict[str, Any]]:
    """Active keys that expire soon or have not been used for a while."""
    now = utcnow()
    soon = format_time(now + dt.timedelta(days=d.policy.api_key_warn_days))
    stale = format_time(now - dt.timedelta(days=d.policy.api_key_unused_days))
    out = []
    for key in list_keys(d):
        if key.status != "active":
            continue
        if key.expires_at <= soon:
            out.append({"id": key.id, "name": key.name, "warning": f"expires {key.expires_at}"})
        last = key.last_used_at or key.created_at
        if last <= stale:
            out.append(
                {
                    "id": key.id,
                    "name": key.name,
                    "warning": f"unused for {d.policy.api_key_unused_days}+ days",
                }
            )
    return out


def _parse(presented: str) -> tuple[str, str] | None:
    if not presented.startswith(PREFIX):
        return None
    parts = presented[len(PREFIX) :].split("_", 1)
    if len(parts) != 2 or len(parts[0]) != 16 or not parts[1]:
        return None
    try:
        int(parts[0], 16)
    except ValueError:
        return None
    return parts[0], parts[1]


def authenticate(d: Directory, presented: str, *, where: str = "api") -> KeyPrincipal:
    """The principal of a presented key, or AuthError (recorded in the ledger)."""
    parsed = _parse(presented)
    if parsed is None:
        d.record("anonymous", "auth.apikey", where, outcome="failure", data={"reason": "malformed"})
        raise AuthError("invalid API key")
    key_id, secret = parsed
    cache = d.key_cache
    digest = _hash(secret)
    hit = cache.get(key_id)
    if (
        hit is not None
        and hmac.compare_digest(hit[0], digest)
        and hit[1].expires_at > now_text()  # a key never outlives its expiry, cached or not
    ):
        principal = hit[1]
    else:
        principal = _load_principal(d, key_id, digest, where)
        cache.put(key_id, digest, principal)
    if cache.should_touch(key_id):
        with d.engine.begin() as conn:
            conn.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now_text()))
    return principal


def authenticate_cached(d: Directory, presented: str) -> KeyPrincipal | None:
    """The principal of a key verified within ``KEY_CACHE_SECONDS``, without any I/O.

    For hot paths (the gateway): None means "not known right now", and the caller
    falls back to :func:`authenticate` (which records failures) off the event loop.
    """
    parsed = _parse(presented)
    if parsed is None:
        return None
    hit = d.key_cache.get(parsed[0])
    if (
        hit is not None
        and hmac.compare_digest(hit[0], _hash(parsed[1]))
        and hit[1].expires_at > now_text()
    ):
        return hit[1]
    return None


def _load_principal(d: Directory, key_id: str, digest: str, where: str) -> KeyPrincipal:
    with d.engine.connect() as conn:
        row = conn.execute(select(ApiKey).where(ApiKey.id == key_id)).first()
    reason = None
    if row is None or not hmac.compare_digest(row.secret_hash, digest):
        reason = "unknown key or wrong secret"
    elif row.revoked_at is not None:
        reason = "revoked"
    elif row.expires_at <= now_text():
        reason = "expired"
    owner = None
    if reason is None:
        assert row is not None  # noqa: S101 - checked above
        owner = load_account(d, user_id=row.owner_id)
        if owner.disabled:
            reason = "owner disabled"
    if reason is not None or owner is None or row is None:
        d.record(
            "anonymous",
            "auth.apikey",
            where,
            outcome="failure",
            data={"key_id": key_id, "reason": reason or "invalid"},
        )
        raise AuthError("invalid, expired or revoked API key")
    scopes = frozenset(Permission(s) for s in json.loads(row.scopes))
    return KeyPrincipal(key_id, owner, scopes & owner.permissions, row.expires_at)
