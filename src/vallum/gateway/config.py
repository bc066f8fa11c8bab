"""The vendor register and the routes: stored in the database, served from memory.

Every change bumps ``gateway_config_version``; workers poll that one row (see
:class:`~vallum.gateway.table.RouteTable`) and reload, so a suspension reaches
every worker within the poll interval and the changing process at once.
Vendor credentials are encrypted by the keyring (one data key per vendor) or
named by an environment variable; they never appear in events, logs or listings.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from redis import RedisError
from sqlalchemy import Connection, Engine, insert, select, update

from vallum.clock import now_text
from vallum.context import Context
from vallum.errors import NotFoundError, UsageError
from vallum.gateway.policy import (
    ALIAS_RE,
    DATA_CLASSES,
    DEMO_ROUTE,
    DEMO_VENDOR,
    NAME_RE,
    REGION_RE,
    GuardPolicy,
    Route,
    Status,
    Target,
    Vendor,
    VendorKind,
)
from vallum.store.models_gateway import GatewayConfigVersion, GatewayRoute, GatewayVendor
from vallum.store.redis import client as redis_client


def _aad(name: str) -> bytes:
    return b"gateway.vendor:" + name.encode()


def _bump(conn: Connection) -> None:
    conn.execute(
        update(GatewayConfigVersion)
        .where(GatewayConfigVersion.id == 1)
        .values(version=GatewayConfigVersion.version + 1)
    )


CHANNEL = "vallum:gateway:config"


def _notify(ctx: Context) -> None:
    """Tell every worker at once (Redis pub/sub) that routes or vendors changed.

    Best effort: workers also poll the version row, so a lost message costs at most
    ``gateway_config_poll_seconds``.
    """
    if ctx.settings.redis_url is None:
        return
    with contextlib.suppress(RedisError):
        redis_client(ctx.settings.redis_url.get_secret_value()).publish(CHANNEL, b"changed")


def config_version(engine: Engine) -> int:
    with engine.connect() as conn:
        v = conn.execute(select(GatewayConfigVersion.version)).scalar()
    return int(v or 0)


@dataclass(frozen=True, slots=True)
class VendorSpec:
    name: str
    kind: VendorKind
    base_url: str
    baa: bool
    regions: tuple[str, ...]
    data_classes: tuple[str, ...] = ()
    credential: str | None = None
    credential_env: str | None = None
    api_version: str | None = None


def _check_vendor(spec: VendorSpec) -> VendorSpec:
    if not NAME_RE.match(spec.name) or spec.name == DEMO_VENDOR.name:
        raise UsageError(f"{spec.name!r} is not a valid vendor name (a-z, 0-9, _.:-; not 'demo')")
    if spec.kind is VendorKind.DEMO:
        raise UsageError("the demo vendor is built in; choose openai, azure-openai or anthropic")
    if not spec.base_url.startswith(("https://", "http://")):
        raise UsageError("--base-url must be an http(s) URL")
    if not spec.regions or any(not REGION_RE.match(r) for r in spec.regions):
        raise UsageError("give at least one --region such as us or eu-west")
    classes = spec.data_classes or (("public", "pii", "phi") if spec.baa else ("public",))
    unknown = set(classes) - DATA_CLASSES
    if unknown:
        raise UsageError(f"unknown data class(es) {sorted(unknown)}; use {sorted(DATA_CLASSES)}")
    if spec.credential and any(c in spec.credential for c in "\r\n\x00"):
        raise UsageError("the credential contains a line break or NUL; check what was pasted")
    if spec.credential_env and not re.fullmatch(
        r"[A-Za-z_][A-Za-z0-9_]{0,127}", spec.credential_env
    ):
        raise UsageError("--credential-env must name an environment variable")
    if spec.credential and spec.credential_env:
        raise UsageError("give a credential or an environment variable name, not both")
    if spec.kind is VendorKind.AZURE_OPENAI and not spec.api_version:
        spec = replace(spec, api_version="2024-06-01")
    return replace(spec, data_classes=tuple(sorted(set(classes))))


def add_vendor(ctx: Context, spec: VendorSpec) -> Vendor:
    """Register (or re-register) a vendor as approved; records ``vendors.registered``."""
    spec = _check_vendor(spec)
    ciphertext = None
    if spec.credential:
        key_id = ctx.keyring.new_data_key(f"gateway.vendor:{spec.name}")
        ciphertext = ctx.keyring.encrypt(spec.credential.encode(), key_id, _aad(spec.name))
    now = now_text()
    values: dict[str, Any] = {
        "kind": spec.kind.value,
        "base_url": spec.base_url.rstrip("/"),
        "credential": ciphertext,
        "credential_env": spec.credential_env,
        "api_version": spec.api_version,
        "baa": spec.baa,
        "regions": json.dumps(list(spec.regions)),
        "data_classes": json.dumps(list(spec.data_classes)),
        "status": Status.APPROVED.value,
        "updated_at": now,
    }
    with ctx.engine.begin() as conn:
        exists = conn.execute(
            select(GatewayVendor.name).where(GatewayVendor.name == spec.name)
        ).first()
        if exists:
            conn.execute(
                update(GatewayVendor).where(GatewayVendor.name == spec.name).values(values)
            )
        else:
            conn.execute(
                insert(GatewayVendor).values(
                    name=spec.name, created_by=ctx.principal.actor, created_at=now, **values
                )
            )
        _bump(conn)
    _notify(ctx)
    vendor = get_vendor(ctx, spec.name, with_secret=False)
    data = vendor.to_dict()
    data["replaced"] = bool(exists)
    ctx.record("vendors.registered", f"vendor:{spec.name}", data=data)
    return vendor


def set_vendor_status(ctx: Context, name: str, status: Status, reason: str) -> Vendor:
    get_vendor(ctx, name, with_secret=False)
    with ctx.engine.begin() as conn:
        conn.execute(
            update(GatewayVendor)
            .where(GatewayVendor.name == name)
            .values(status=status.value, updated_at=now_text())
        )
        _bump(conn)
    _notify(ctx)
    ctx.record(
        "vendors.registered",
        f"vendor:{name}",
        data={"status": status.value, "reason": reason[:200]},
    )
    return get_vendor(ctx, name, with_secret=False)


def _vendor(ctx: Context | None, row: Any, with_secret: bool) -> Vendor:
    secret = None
    if with_secret and ctx is not None:
        if row.credential is not None:
            secret = ctx.keyring.decrypt(row.credential, _aad(row.name)).decode()
        elif row.credential_env:
            secret = os.environ.get(row.credential_env)
    return Vendor(
        name=row.name,
        kind=VendorKind(row.kind),
        base_url=row.base_url,
        baa=bool(row.baa),
        regions=tuple(json.loads(row.regions)),
        data_classes=frozenset(json.loads(row.data_classes)),
        status=Status(row.status),
        api_version=row.api_version,
        credential=secret,
        credential_env=row.credential_env,
        has_credential=row.credential is not None,
    )


def get_vendor(ctx: Context, name: str, *, with_secret: bool = False) -> Vendor:
    if name == DEMO_VENDOR.name:
        return DEMO_VENDOR
    with ctx.engine.connect() as conn:
        row = conn.execute(select(GatewayVendor).where(GatewayVendor.name == name)).first()
    if row is None:
        raise NotFoundError(f"no vendor {name!r}", hint="see `vallum vendors list`")
    return _vendor(ctx, row, with_secret)


def list_vendors(ctx: Context, *, with_secret: bool = False) -> list[Vendor]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(GatewayVendor).order_by(GatewayVendor.name)).all()
    return [_vendor(ctx, r, with_secret) for r in rows]


# -- routes ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteSpec:
    alias: str
    targets: tuple[Target, ...]
    policy: GuardPolicy = field(default_factory=GuardPolicy)
    allowed_roles: tuple[str, ...] = ()
    allowed_keys: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    canary: bool = True


def _check_targets(ctx: Context, targets: Sequence[Target]) -> None:
    if not targets:
        raise UsageError("a route needs at least one target (--vendor and --model)")
    if sum(t.weight for t in targets) <= 0 or any(t.weight < 0 for t in targets):
        raise UsageError("target weights must be >= 0 and not all zero")
    for t in targets:
        get_vendor(ctx, t.vendor)
        if not t.model or len(t.model) > 256:
            raise UsageError("an upstream model name is 1 to 256 characters")


def add_route(ctx: Context, spec: RouteSpec) -> Route:
    """Create or replace a route; records ``routes.configured``."""
    if not ALIAS_RE.match(spec.alias):
        raise UsageError(f"{spec.alias!r} is not a valid model alias")
    _check_targets(ctx, spec.targets)
    if spec.requests_per_minute < 0 or spec.tokens_per_minute < 0:
        raise UsageError("limits are >= 0 (0 means no limit)")
    if any(not REGION_RE.match(r) for r in spec.regions):
        raise UsageError("regions are short names such as us or eu-west")
    now = now_text()
    values: dict[str, Any] = {
        "targets": json.dumps([t.to_dict() for t in spec.targets]),
        "allowed_roles": json.dumps(sorted(set(spec.allowed_roles))),
        "allowed_keys": json.dumps(sorted(set(spec.allowed_keys))),
        "regions": json.dumps(sorted(set(spec.regions))),
        "policy": json.dumps(spec.policy.to_dict()),
        "requests_per_minute": spec.requests_per_minute,
        "tokens_per_minute": spec.tokens_per_minute,
        "canary": spec.canary,
        "status": Status.APPROVED.value,
        "updated_at": now,
    }
    with ctx.engine.begin() as conn:
        exists = conn.execute(
            select(GatewayRoute.alias).where(GatewayRoute.alias == spec.alias)
        ).first()
        if exists:
            conn.execute(
                update(GatewayRoute).where(GatewayRoute.alias == spec.alias).values(values)
            )
        else:
            conn.execute(
                insert(GatewayRoute).values(
                    alias=spec.alias, created_by=ctx.principal.actor, created_at=now, **values
                )
            )
        _bump(conn)
    _notify(ctx)
    route = get_route(ctx, spec.alias)
    data = route.to_dict()
    data["replaced"] = bool(exists)
    ctx.record("routes.configured", f"route:{spec.alias}", data=data)
    return route


def set_weights(ctx: Context, alias: str, weights: Mapping[str, int]) -> Route:
    """Change target weights (``vendor/model`` -> weight) for a canary split."""
    route = get_route(ctx, alias)
    known = {f"{t.vendor}/{t.model}" for t in route.targets}
    unknown = set(weights) - known
    if unknown:
        raise UsageError(
            f"route {alias} has no target(s) {sorted(unknown)}; it has {sorted(known)}"
        )
    targets = tuple(
        Target(t.vendor, t.model, weights.get(f"{t.vendor}/{t.model}", t.weight))
        for t in route.targets
    )
    _check_targets(ctx, targets)
    with ctx.engine.begin() as conn:
        conn.execute(
            update(GatewayRoute)
            .where(GatewayRoute.alias == alias)
            .values(targets=json.dumps([t.to_dict() for t in targets]), updated_at=now_text())
        )
        _bump(conn)
    _notify(ctx)
    route = get_route(ctx, alias)
    ctx.record(
        "routes.configured",
        f"route:{alias}",
        data={"targets": [t.to_dict() for t in route.targets], "change": "weights"},
    )
    return route


def set_route_status(ctx: Context, alias: str, status: Status, reason: str) -> Route:
    get_route(ctx, alias)
    with ctx.engine.begin() as conn:
        conn.execute(
            update(GatewayRoute)
            .where(GatewayRoute.alias == alias)
            .values(status=status.value, updated_at=now_text())
        )
        _bump(conn)
    _notify(ctx)
    ctx.record(
        "routes.configured",
        f"route:{alias}",
        data={"status": status.value, "reason": reason[:200]},
    )
    return get_route(ctx, alias)


def _route(row: Any) -> Route:
    return Route(
        alias=row.alias,
        targets=tuple(
            Target(t["vendor"], t["model"], int(t["weight"])) for t in json.loads(row.targets)
        ),
        policy=GuardPolicy.from_dict(json.loads(row.policy)),
        allowed_roles=frozenset(json.loads(row.allowed_roles)),
        allowed_keys=frozenset(json.loads(row.allowed_keys)),
        regions=frozenset(json.loads(row.regions)),
        requests_per_minute=row.requests_per_minute,
        tokens_per_minute=row.tokens_per_minute,
        canary=bool(row.canary),
        status=Status(row.status),
    )


def get_route(ctx: Context, alias: str) -> Route:
    with ctx.engine.connect() as conn:
        row = conn.execute(select(GatewayRoute).where(GatewayRoute.alias == alias)).first()
    if row is None:
        if alias == DEMO_ROUTE.alias:
            return DEMO_ROUTE
        raise NotFoundError(f"no route {alias!r}", hint="see `vallum routes list`")
    return _route(row)


def list_routes(ctx: Context) -> list[Route]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(GatewayRoute).order_by(GatewayRoute.alias)).all()
    return [_route(r) for r in rows]
