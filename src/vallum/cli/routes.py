"""``vallum routes``: model aliases, their weighted targets, access and guard policy."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from vallum.cli.options import Format, State, emit_json, format_option, pass_state
from vallum.errors import UsageError
from vallum.gateway import config
from vallum.gateway.policy import GUARDS, GuardPolicy, Status, Target


def _targets(pairs: tuple[str, ...]) -> tuple[Target, ...]:
    out = []
    for p in pairs:
        parts = p.split("=")
        head, weight = (parts[0], parts[1]) if len(parts) == 2 else (p, "100")
        if "/" not in head:
            raise UsageError(f"--target {p!r} should be VENDOR/MODEL or VENDOR/MODEL=WEIGHT")
        vendor, model = head.split("/", 1)
        try:
            out.append(Target(vendor, model, int(weight)))
        except ValueError:
            raise UsageError(f"weight in {p!r} is not an integer") from None
    return tuple(out)


def _guards(items: tuple[str, ...]) -> GuardPolicy:
    raw = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--guard {item!r} should be GUARD=ACTION, e.g. phi=tokenize")
        g, a = item.split("=", 1)
        raw[g] = a
    return GuardPolicy.from_dict(raw)


@click.group()
def routes() -> None:
    """Model aliases the gateway serves: targets, who may call, guard policy, limits."""


@routes.command("add")
@click.argument("alias")
@click.option("--vendor", default=None, help="Vendor of the single target (with --model).")
@click.option("--model", default=None, help="Upstream model of the single target.")
@click.option(
    "--target",
    "targets",
    multiple=True,
    help="VENDOR/MODEL=WEIGHT, repeat for a canary split.",
)
@click.option("--role", "roles", multiple=True, help="Role allowed to call it (repeat).")
@click.option("--key", "keys", multiple=True, help="API key id allowed to call it (repeat).")
@click.option("--region", "regions", multiple=True, help="Allowed vendor region (repeat).")
@click.option(
    "--guard",
    "guards",
    multiple=True,
    help=f"GUARD=ACTION for {', '.join(GUARDS)}; actions off, allow, flag, redact, "
    "tokenize, block (repeat).",
)
@click.option("--rpm", type=int, default=0, help="Requests per minute, whole route (0: none).")
@click.option("--tpm", type=int, default=0, help="Tokens per minute, whole route (0: none).")
@click.option("--no-canary", is_flag=True, help="Do not add a system-prompt canary.")
@format_option()
@pass_state
def add(
    state: State,
    alias: str,
    vendor: str | None,
    model: str | None,
    targets: tuple[str, ...],
    roles: tuple[str, ...],
    keys: tuple[str, ...],
    regions: tuple[str, ...],
    guards: tuple[str, ...],
    rpm: int,
    tpm: int,
    no_canary: bool,
    fmt: str,
) -> int:
    """Create or replace a route. Without --role/--key any gateway.use key may call it."""
    parsed = _targets(targets)
    if (vendor is None) != (model is None):
        raise UsageError("give --vendor and --model together")
    if vendor is not None and model is not None:
        parsed = (Target(vendor, model, 100), *parsed)
    spec = config.RouteSpec(
        alias=alias,
        targets=parsed,
        policy=_guards(guards),
        allowed_roles=roles,
        allowed_keys=keys,
        regions=regions,
        requests_per_minute=rpm,
        tokens_per_minute=tpm,
        canary=not no_canary,
    )
    with state.context() as ctx:
        route = config.add_route(ctx, spec)
    if fmt == Format.JSON:
        emit_json(route.to_dict())
    else:
        click.echo(f"route {route.alias} configured ({len(route.targets)} target(s))")
    return 0


@routes.command("list")
@format_option()
@pass_state
def list_(state: State, fmt: str) -> int:
    """List routes with their targets, weights and guard policy."""
    with state.context() as ctx:
        found = config.list_routes(ctx)
    if fmt == Format.JSON:
        emit_json({"routes": [r.to_dict() for r in found]})
        return 0
    table = Table(box=None)
    for col in ("alias", "targets", "guards", "access", "limits", "status"):
        table.add_column(col, overflow="fold")
    for r in found:
        table.add_row(
            r.alias,
            " ".join(f"{t.vendor}/{t.model}={t.weight}" for t in r.targets),
            " ".join(f"{g}={a}" for g, a in r.policy.to_dict().items()),
            "any"
            if r.open_to_all()
            else " ".join([*sorted(r.allowed_roles), *sorted(r.allowed_keys)]),
            f"{r.requests_per_minute} rpm, {r.tokens_per_minute} tpm",
            r.status.value,
        )
    Console().print(table)
    return 0


@routes.command("set-weights")
@click.argument("alias")
@click.argument("weights", nargs=-1, required=True)
@format_option()
@pass_state
def set_weights(state: State, alias: str, weights: tuple[str, ...], fmt: str) -> int:
    """Shift traffic: VENDOR/MODEL=WEIGHT ... (e.g. openai/gpt-4o=90 openai/gpt-4.1=10)."""
    parsed = {f"{t.vendor}/{t.model}": t.weight for t in _targets(weights)}
    with state.context() as ctx:
        route = config.set_weights(ctx, alias, parsed)
    if fmt == Format.JSON:
        emit_json(route.to_dict())
    else:
        click.echo(
            f"route {route.alias}: "
            + " ".join(f"{t.vendor}/{t.model}={t.weight}" for t in route.targets)
        )
    return 0


@routes.command("suspend")
@click.argument("alias")
@click.option("--reason", required=True, help="Why (recorded in the ledger).")
@click.option("--resume", is_flag=True, help="Approve the route again instead.")
@format_option()
@pass_state
def suspend(state: State, alias: str, reason: str, resume: bool, fmt: str) -> int:
    """Suspend a route: every gateway worker refuses it within a second."""
    status = Status.APPROVED if resume else Status.SUSPENDED
    with state.context() as ctx:
        route = config.set_route_status(ctx, alias, status, reason)
    if fmt == Format.JSON:
        emit_json(route.to_dict())
    else:
        click.echo(f"route {route.alias} is {route.status.value}")
    return 0
