"""API keys: format, hashing at rest, scopes, expiry, revocation, rotation, warnings.

Time-dependent behaviour is driven by writing timestamps into the database with
SQL (as the past), never by sleeping. "Another process" is a Directory with its
own, empty key cache over the same database.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy import select, text

from tests.unit.crypto.support import assert_absent, events_named, found_forms
from tests.unit.store.test_no_plaintext_at_rest import _data_dir_bytes, _postgres_dump
from vallum.clock import format_time, parse_time, utcnow
from vallum.context import Context
from vallum.errors import AuthError, NotFoundError, UsageError
from vallum.identity import accounts, apikeys
from vallum.identity.directory import Directory, KeyCache, load_account
from vallum.identity.permissions import Permission
from vallum.store.models import ApiKey

ACTOR = "user:admin"
KEY_RE = re.compile(r"^vk_(?P<id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]+)$")
PAST = "2020-01-01T00:00:00.000000Z"
DAY = dt.timedelta(days=1)


def _issue(
    ctx: Context,
    owner: str = "dev",
    scopes: tuple[str, ...] = ("gateway.use",),
    days: float = 90,
    name: str = "k",
) -> apikeys.IssuedKey:
    return apikeys.create_key(
        ctx.directory,
        ACTOR,
        name=name,
        owner=owner,
        scopes=list(scopes),
        expires_in=dt.timedelta(days=days),
    )


def _secret_part(full: str) -> str:
    m = KEY_RE.match(full)
    assert m is not None, "not a vk_ key"
    return m["secret"]


def _decoded(secret: str) -> bytes:
    return base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))


def _sql(ctx: Context, sql: str, **params: object) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(text(sql), params)


def _row(ctx: Context, key_id: str) -> ApiKey:
    with ctx.engine.connect() as conn:
        row = conn.execute(select(ApiKey).where(ApiKey.id == key_id)).one()
    return row  # type: ignore[return-value]


def _other_process(d: Directory) -> Directory:
    """The same installation as seen by a process that has cached nothing."""
    return dataclasses.replace(d, key_cache=KeyCache())


def _ledger_text(ctx: Context) -> str:
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM ledger_events ORDER BY seq")).all()
    return "\n".join("\t".join(str(v) for v in r) for r in rows)


def _stored_bytes(ctx: Context) -> bytes:
    """Every stored byte: the data directory's files (SQLite and its WAL while
    open, blobs, key file) and, on PostgreSQL, every row as text and every bytea."""
    out = b"\n".join(_data_dir_bytes(ctx.settings.data_dir).values())
    if ctx.engine.dialect.name == "postgresql":
        assert ctx.settings.database_url is not None
        dump, raw, _ = _postgres_dump(ctx.settings.database_url.get_secret_value())
        out += b"\n" + dump.encode() + b"\n" + raw
    return out


def _failures(ctx: Context) -> list[dict[str, object]]:
    return [e.data_obj() for e in events_named(ctx, "auth.apikey") if e.outcome == "failure"]


@pytest.fixture
def dev(ctx: Context) -> str:
    """A service account with app-developer (gateway.use, keys.*, models.read, ...).

    (A service account, not a person: no argon2 hash to compute, which keeps the
    tests fast; a person's keys are checked in the first test.)
    """
    accounts.create_service_account(ctx.directory, ACTOR, "dev", ["app-developer"])
    return "dev"


# -- issuing and using ------------------------------------------------------------


def test_format_shown_once_and_authenticates(ctx: Context, dev: str) -> None:
    d = ctx.directory
    issued = _issue(ctx, dev, ("gateway.use", "models.read"))
    m = KEY_RE.match(issued.secret)
    assert m is not None, issued.secret[:20]
    assert m["id"] == issued.info.id
    secret = m["secret"]
    raw = _decoded(secret)
    assert len(raw) >= 32, "the secret must carry at least 32 random bytes"
    assert issued.secret not in repr(issued)
    assert secret not in repr(issued.info) and secret not in str(issued.info.to_dict())
    assert issued.info.owner == "dev"
    assert issued.info.scopes == ("gateway.use", "models.read")
    assert issued.info.status == "active"
    assert issued.info.last_used_at is None
    expires = parse_time(issued.info.expires_at)
    assert abs(expires - (utcnow() + dt.timedelta(days=90))) < dt.timedelta(minutes=1)
    other = _issue(ctx, dev, name="k2")
    assert other.info.id != issued.info.id
    assert _secret_part(other.secret) != secret
    assert [k.id for k in apikeys.list_keys(d)] == sorted(
        [issued.info.id, other.info.id], key=lambda i: (apikeys.get_key(d, i).created_at, i)
    )

    principal = apikeys.authenticate(d, issued.secret)
    assert principal.key_id == issued.info.id
    assert principal.actor == f"apikey:{issued.info.id}"
    assert principal.owner.username == "dev"
    assert principal.permissions == {Permission.GATEWAY_USE, Permission.MODELS_READ}

    [created, _] = events_named(ctx, "apikeys.created")
    assert created.actor == ACTOR
    assert created.subject == f"apikey:{issued.info.id}"
    data = created.data_obj()
    assert data["owner"] == "service:dev"
    assert data["scopes"] == ["gateway.use", "models.read"]
    assert data["expires_at"] == issued.info.expires_at
    assert "replaces" not in data

    with pytest.raises(NotFoundError):
        apikeys.get_key(d, "0" * 16)

    # last_used_at is written on use, at most once a minute per process.
    issued = _issue(ctx, dev)
    assert _row(ctx, issued.info.id).last_used_at is None
    apikeys.authenticate(d, issued.secret)
    first = _row(ctx, issued.info.id).last_used_at
    assert first is not None
    assert abs(parse_time(first) - utcnow()) < dt.timedelta(minutes=1)
    assert apikeys.get_key(d, issued.info.id).last_used_at == first
    # Within the throttle window this process does not write it again.
    _sql(ctx, "UPDATE api_keys SET last_used_at = NULL WHERE id = :k", k=issued.info.id)
    for _ in range(3):
        apikeys.authenticate(d, issued.secret)
    assert _row(ctx, issued.info.id).last_used_at is None
    # Another process (its own throttle) writes it on first use.
    apikeys.authenticate(_other_process(d), issued.secret)
    assert _row(ctx, issued.info.id).last_used_at is not None

    # People own keys too.
    accounts.create_user(ctx.directory, ACTOR, "pat", ["ml-engineer"])
    issued = _issue(ctx, "pat", ("models.scan", "models.sign"))
    principal = apikeys.authenticate(ctx.directory, issued.secret)
    assert principal.owner.kind == "user"
    assert principal.owner.actor == "user:pat"
    assert principal.permissions == {Permission.MODELS_SCAN, Permission.MODELS_SIGN}


# -- refusing ----------------------------------------------------------------


def test_wrong_secret_and_malformed_keys_fail(ctx: Context, dev: str) -> None:
    d = ctx.directory
    issued = _issue(ctx, dev)
    other = _issue(ctx, dev, name="k2")
    key_id, secret = issued.info.id, _secret_part(issued.secret)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    wrong = [
        f"vk_{key_id}_{flipped}",  # right id, wrong secret
        f"vk_{key_id}_{_secret_part(other.secret)}",  # right id, another key's secret
        f"vk_{key_id}_{secret[:-1]}",  # truncated
        f"vk_{key_id}_{secret}x",  # extended
        f"vk_{'f' * 16}_{secret}",  # unknown id, the real secret
    ]
    # Fail both before and after the right key has been verified (and cached).
    for presented in wrong:
        with pytest.raises(AuthError):
            apikeys.authenticate(d, presented)
    apikeys.authenticate(d, issued.secret)
    for presented in wrong:
        with pytest.raises(AuthError):
            apikeys.authenticate(d, presented)
    apikeys.authenticate(d, issued.secret)  # the right key is unaffected

    malformed = [
        "",
        "vk_",
        secret,
        f"{key_id}_{secret}",
        f"vk_{key_id}",
        f"vk_{key_id}_",
        f"vk_{key_id[:-1]}_{secret}",
        f"vk_{key_id.upper()[:15]}g_{secret}",
        f"VK_{key_id}_{secret}",
        f"Bearer vk_{key_id}_{secret}",
    ]
    for presented in malformed:
        with pytest.raises(AuthError):
            apikeys.authenticate(d, presented, where="GET /test")

    failures = _failures(ctx)
    assert len(failures) == 2 * len(wrong) + len(malformed)
    assert failures[0] == {"key_id": key_id, "reason": "unknown key or wrong secret"}
    assert {"key_id": "f" * 16, "reason": "unknown key or wrong secret"} in failures
    assert failures[-1] == {"reason": "malformed"}
    subjects = {e.subject for e in events_named(ctx, "auth.apikey")}
    assert subjects == {"api", "GET /test"}


def test_scopes_cannot_exceed_owner_and_bad_requests_refused(ctx: Context, dev: str) -> None:
    d = ctx.directory
    bad: list[tuple[dict[str, object], str]] = [
        ({"scopes": ["models.sign"]}, "does not hold models.sign"),
        ({"scopes": ["gateway.use", "users.manage"]}, "users.manage"),
        ({"scopes": ["gateway.everything"]}, "unknown permission"),
        ({"scopes": []}, "at least one scope"),
        ({"expires_in": dt.timedelta(0)}, "must expire"),
        ({"expires_in": -DAY}, "must expire"),
        ({"expires_in": dt.timedelta(days=366)}, "must expire"),
        ({"name": "Bad Name"}, "key name"),
        ({"owner": "nobody"}, "nobody"),
    ]
    for change, match in bad:
        args: dict[str, object] = {
            "name": "k",
            "owner": dev,
            "scopes": ["gateway.use"],
            "expires_in": dt.timedelta(days=30),
            **change,
        }
        with pytest.raises(UsageError, match=match):
            apikeys.create_key(d, ACTOR, **args)  # type: ignore[arg-type]
    accounts.set_disabled(d, ACTOR, dev, True)
    with pytest.raises(UsageError, match="disabled"):
        _issue(ctx, dev)
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 0
    assert events_named(ctx, "apikeys.created") == []
    # The longest allowed lifetime is accepted.
    accounts.set_disabled(d, ACTOR, dev, False)
    _issue(ctx, dev, days=365)


def test_effective_permissions_follow_the_owner_at_once(ctx: Context, dev: str) -> None:
    d = ctx.directory
    grant = accounts.grant_role(d, ACTOR, dev, "ml-engineer")
    issued = _issue(ctx, dev, ("gateway.use", "models.sign"))
    both = {Permission.GATEWAY_USE, Permission.MODELS_SIGN}
    assert apikeys.authenticate(d, issued.secret).permissions == both
    # Revoking the owner's role narrows the key in this process at once...
    accounts.revoke_grant(d, ACTOR, grant, "moved team")
    assert apikeys.authenticate(d, issued.secret).permissions == {Permission.GATEWAY_USE}
    # ...and the owner gaining roles never widens a key beyond its scopes.
    accounts.grant_role(d, ACTOR, dev, "admin")
    assert apikeys.authenticate(d, issued.secret).permissions == both
    assert load_account(d, username=dev).permissions == frozenset(Permission)
    # A disabled owner's keys stop working at once; enabling brings them back.
    accounts.set_disabled(d, ACTOR, dev, True)
    with pytest.raises(AuthError):
        apikeys.authenticate(d, issued.secret)
    assert _failures(ctx)[-1] == {"key_id": issued.info.id, "reason": "owner disabled"}
    accounts.set_disabled(d, ACTOR, dev, False)
    assert apikeys.authenticate(d, issued.secret).permissions == both
    # A role revoked by another process is seen by a process that cached nothing.
    admin_grant = next(
        g["id"]
        for g in accounts.list_grants(d)
        if g["principal"] == "service:dev" and g["role"] == "admin"
    )
    _sql(ctx, "UPDATE role_grants SET revoked_at = :t WHERE id = :g", t=PAST, g=admin_grant)
    fresh = apikeys.authenticate(_other_process(d), issued.secret)
    assert fresh.permissions == {Permission.GATEWAY_USE}


def test_expiry_and_revocation(ctx: Context, dev: str) -> None:
    d = ctx.directory
    issued = _issue(ctx, dev)
    apikeys.authenticate(d, issued.secret)  # now cached in this process
    apikeys.revoke_key(d, ACTOR, issued.info.id, "leaked in a log")
    with pytest.raises(AuthError):
        apikeys.authenticate(d, issued.secret)
    assert _failures(ctx)[-1] == {"key_id": issued.info.id, "reason": "revoked"}
    info = apikeys.get_key(d, issued.info.id)
    assert info.status == "revoked"
    assert info.revoked_at is not None
    with pytest.raises(UsageError, match="already revoked"):
        apikeys.revoke_key(d, ACTOR, issued.info.id, "again")
    with pytest.raises(UsageError, match="revoked"):
        apikeys.rotate_key(d, ACTOR, issued.info.id, DAY)
    with pytest.raises(NotFoundError):
        apikeys.revoke_key(d, ACTOR, "0123456789abcdef", "no such key")
    [event] = events_named(ctx, "apikeys.revoked")
    assert event.actor == ACTOR
    assert event.subject == f"apikey:{issued.info.id}"
    assert event.data_obj() == {"reason": "leaked in a log"}
    # Revoked by another process (a row update): refused wherever nothing is cached.
    second = _issue(ctx, dev, name="k2")
    _sql(ctx, "UPDATE api_keys SET revoked_at = :t WHERE id = :k", t=PAST, k=second.info.id)
    with pytest.raises(AuthError):
        apikeys.authenticate(d, second.secret)

    # Expiry (written as the past) is refused.
    expiring = _issue(ctx, dev, name="k3")
    _sql(ctx, "UPDATE api_keys SET expires_at = :t WHERE id = :k", t=PAST, k=expiring.info.id)
    with pytest.raises(AuthError):
        apikeys.authenticate(d, expiring.secret)
    assert _failures(ctx)[-1] == {"key_id": expiring.info.id, "reason": "expired"}
    assert apikeys.get_key(d, expiring.info.id).status == "expired"
    assert apikeys.warnings(d) == []  # an expired key is not "expiring soon"
    with pytest.raises(UsageError, match="expired"):
        apikeys.rotate_key(d, ACTOR, expiring.info.id, DAY)
    # A few minutes left is still valid (the check is against the clock, not a day).
    soon = format_time(utcnow() + dt.timedelta(minutes=5))
    _sql(ctx, "UPDATE api_keys SET expires_at = :t WHERE id = :k", t=soon, k=expiring.info.id)
    assert apikeys.authenticate(d, expiring.secret).key_id == expiring.info.id


# -- rotation ------------------------------------------------------------------


def test_rotation_keeps_both_valid_during_the_overlap(ctx: Context, dev: str) -> None:
    d = ctx.directory
    old = _issue(ctx, dev, ("gateway.use", "models.read"), days=90, name="svc")
    apikeys.authenticate(d, old.secret)
    new = apikeys.rotate_key(d, "user:rotator", old.info.id, dt.timedelta(hours=6))
    assert new.info.id != old.info.id
    assert new.info.name == "svc"
    assert new.info.owner == "dev"
    assert new.info.scopes == old.info.scopes
    lifetime = parse_time(new.info.expires_at) - parse_time(new.info.created_at)
    assert abs(lifetime - dt.timedelta(days=90)) < dt.timedelta(minutes=1)
    old_info = apikeys.get_key(d, old.info.id)
    assert old_info.replaced_by == new.info.id
    assert old_info.status == "active"
    old_end = parse_time(old_info.expires_at)
    assert abs(old_end - (utcnow() + dt.timedelta(hours=6))) < dt.timedelta(minutes=1)
    # Both work during the overlap.
    assert apikeys.authenticate(d, old.secret).key_id == old.info.id
    assert apikeys.authenticate(d, new.secret).key_id == new.info.id
    [event] = events_named(ctx, "apikeys.rotated")
    assert event.actor == "user:rotator"
    assert event.subject == f"apikey:{new.info.id}"
    assert event.data_obj()["replaces"] == old.info.id
    # Once the overlap has passed only the new key works.
    _sql(ctx, "UPDATE api_keys SET expires_at = :t WHERE id = :k", t=PAST, k=old.info.id)
    later = _other_process(d)
    with pytest.raises(AuthError):
        apikeys.authenticate(later, old.secret)
    assert apikeys.authenticate(later, new.secret).key_id == new.info.id

    for overlap in (-dt.timedelta(seconds=1), dt.timedelta(days=31)):
        with pytest.raises(UsageError, match="overlap"):
            apikeys.rotate_key(d, ACTOR, new.info.id, overlap)

    # Rotation never extends the old key's life.
    old = _issue(ctx, dev, days=90, name="short")
    ends_soon = format_time(utcnow() + dt.timedelta(hours=2))
    _sql(ctx, "UPDATE api_keys SET expires_at = :t WHERE id = :k", t=ends_soon, k=old.info.id)
    apikeys.rotate_key(d, ACTOR, old.info.id, dt.timedelta(days=7))
    assert apikeys.get_key(d, old.info.id).expires_at == ends_soon
    # A zero overlap ends the old key at once, in this process too.
    other = _issue(ctx, dev, name="k2")
    apikeys.authenticate(d, other.secret)
    successor = apikeys.rotate_key(d, ACTOR, other.info.id, dt.timedelta(0))
    with pytest.raises(AuthError):
        apikeys.authenticate(d, other.secret)
    apikeys.authenticate(d, successor.secret)
    # A key issued for api_key_max_days can be rotated (same lifetime again).
    longest = _issue(ctx, dev, days=d.policy.api_key_max_days)
    new = apikeys.rotate_key(d, ACTOR, longest.info.id, DAY)
    lifetime = parse_time(new.info.expires_at) - parse_time(new.info.created_at)
    assert lifetime <= dt.timedelta(days=d.policy.api_key_max_days)
    assert apikeys.authenticate(d, new.secret).key_id == new.info.id


# -- warnings ------------------------------------------------------------------


def test_warnings_for_expiring_and_unused_keys(ctx: Context, dev: str) -> None:
    d = ctx.directory
    long_ago = format_time(utcnow() - dt.timedelta(days=d.policy.api_key_unused_days + 10))
    recent = format_time(utcnow() - dt.timedelta(days=1))
    expiring = _issue(ctx, dev, days=3, name="expiring")
    idle = _issue(ctx, dev, name="idle")
    never = _issue(ctx, dev, name="never-used")
    fine = _issue(ctx, dev, name="fine")
    revoked = _issue(ctx, dev, days=3, name="revoked")
    expired = _issue(ctx, dev, days=3, name="expired")
    _sql(ctx, "UPDATE api_keys SET last_used_at = :t WHERE id = :k", t=long_ago, k=idle.info.id)
    _sql(ctx, "UPDATE api_keys SET created_at = :t WHERE id = :k", t=long_ago, k=idle.info.id)
    _sql(ctx, "UPDATE api_keys SET created_at = :t WHERE id = :k", t=long_ago, k=never.info.id)
    _sql(ctx, "UPDATE api_keys SET last_used_at = :t WHERE id = :k", t=recent, k=fine.info.id)
    apikeys.revoke_key(d, ACTOR, revoked.info.id, "x")
    _sql(ctx, "UPDATE api_keys SET expires_at = :t WHERE id = :k", t=PAST, k=expired.info.id)

    found = {(w["name"], w["warning"].split()[0]) for w in apikeys.warnings(d)}
    assert found == {("expiring", "expires"), ("idle", "unused"), ("never-used", "unused")}
    expiring_warning = next(w for w in apikeys.warnings(d) if w["name"] == "expiring")
    assert expiring_warning["id"] == expiring.info.id
    assert expiring.info.expires_at in expiring_warning["warning"]
    # Using the idle key clears its warning.
    apikeys.authenticate(d, idle.secret)
    assert "idle" not in {w["name"] for w in apikeys.warnings(d)}


# -- no secret at rest or in the ledger -------------------------------------------


def test_no_key_secret_is_stored_or_recorded(ctx: Context, dev: str) -> None:
    d = ctx.directory
    first = _issue(ctx, dev, name="first")
    rotated = apikeys.rotate_key(d, ACTOR, first.info.id, DAY)
    revoked = _issue(ctx, dev, name="revoked")
    apikeys.revoke_key(d, ACTOR, revoked.info.id, "test")
    apikeys.authenticate(d, first.secret)
    apikeys.authenticate(d, rotated.secret)
    with pytest.raises(AuthError):
        apikeys.authenticate(d, revoked.secret)
    # Failed attempts that carry real secret material.
    for presented in (
        f"vk_{first.info.id}_{_secret_part(rotated.secret)}",
        f"vk_{'e' * 16}_{_secret_part(first.secret)}",
        f"xx{first.secret}",
        first.secret + "!",
    ):
        with pytest.raises(AuthError):
            apikeys.authenticate(d, presented)

    stored = _stored_bytes(ctx)
    ledger = _ledger_text(ctx)
    for issued in (first, rotated, revoked):
        secret = _secret_part(issued.secret)
        stored_hash = _row(ctx, issued.info.id).secret_hash
        assert stored_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in stored_hash
        for needle in (issued.secret, secret, stored_hash, secret[:20], secret[-20:]):
            assert needle not in ledger, f"key material in the ledger: {needle[:8]}..."
        assert_absent(stored, issued.secret.encode(), "the database")
        assert_absent(stored, secret.encode(), "the database")
        assert_absent(stored, _decoded(secret), "the database")
    # Control: the search does see the database (key ids are stored in clear).
    assert "raw" in found_forms(stored, first.info.id.encode())
    assert first.info.id in ledger
