"""``vallum access``: just-in-time role requests, approvals and break-glass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from vallum.cli.options import Format, State, emit_json, format_option, parse_duration, pass_state
from vallum.identity import jit
from vallum.identity.directory import Directory

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

AS_HELP = (
    "The Vallum user who acts, recorded in the ledger as user:USERNAME. The CLI runs "
    "as the local operator who holds the key file and is trusted to name the right "
    "person; the ledger also records that operator (as 'via')."
)


def as_option() -> Callable[[F], F]:
    return click.option("--as", "as_user", required=True, metavar="USERNAME", help=AS_HELP)


def run(state: State, action: Callable[[Directory, str], T]) -> T:
    """Call ``action(directory, operator)`` on a fresh context, then close it."""
    with state.context() as ctx:
        return action(ctx.directory, ctx.principal.actor)


@click.group()
def access() -> None:
    """Just-in-time roles: request, approve or deny; break-glass; expiry.

    A user asks for a role for a bounded time with a reason; another user holding
    access.approve approves or denies it (never their own). The grant expires on
    its own. Break-glass grants a role at once without approval, for at most
    VALLUM_BREAK_GLASS_MAX_HOURS, raises an alert and must be reviewed afterwards by someone
    else. Every step is recorded in the ledger.

    Commands that act for a person take --as USERNAME: the CLI runs as the local
    operator who holds the key file, so --as names, it does not authenticate;
    the ledger records both the user and the operator.
    """


@access.command("request")
@click.argument("role")
@click.option(
    "--for", "duration", required=True, help="How long, e.g. 30m, 2h (max VALLUM_JIT_MAX_HOURS)."
)
@click.option("--reason", required=True, help="Why, 10-1000 characters (recorded).")
@as_option()
@format_option()
@pass_state
def request_cmd(state: State, role: str, duration: str, reason: str, as_user: str, fmt: str) -> int:
    """Ask for ROLE for a bounded time; someone else must approve it."""
    length = parse_duration(duration)

    def act(d: Directory, via: str) -> jit.RequestInfo:
        return jit.get_request(d, jit.request_role(d, as_user, role, length, reason, via=via))

    req = run(state, act)
    if fmt == Format.JSON:
        emit_json(req.to_dict())
    else:
        click.echo(f"request {req.id}: {req.principal} asks for {req.role} for {length}")
        click.echo(f"pending approval: vallum access approve {req.id} --as APPROVER", err=True)
    return 0


@access.command("approve")
@click.argument("request_id", type=int)
@as_option()
@pass_state
def approve_cmd(state: State, request_id: int, as_user: str) -> int:
    """Approve pending request REQUEST_ID (needs access.approve; not your own)."""

    def act(d: Directory, via: str) -> jit.RequestInfo:
        jit.approve(d, as_user, request_id, via=via)
        return jit.get_request(d, request_id)

    r = run(state, act)
    click.echo(f"request {r.id} approved: {r.principal} holds {r.role} until {r.expires_at}")
    return 0


@access.command("deny")
@click.argument("request_id", type=int)
@click.option("--reason", required=True, help="Why, 10-1000 characters (recorded).")
@as_option()
@pass_state
def deny_cmd(state: State, request_id: int, reason: str, as_user: str) -> int:
    """Deny pending request REQUEST_ID (the requester may withdraw their own)."""
    run(state, lambda d, via: jit.deny(d, as_user, request_id, reason, via=via))
    click.echo(f"request {request_id} denied")
    return 0


@access.command("break-glass")
@click.argument("role")
@click.option(
    "--for", "duration", required=True, help="How long, e.g. 1h (max VALLUM_BREAK_GLASS_MAX_HOURS)."
)
@click.option("--reason", required=True, help="The emergency, 10-1000 characters (recorded).")
@as_option()
@pass_state
def break_glass_cmd(state: State, role: str, duration: str, reason: str, as_user: str) -> int:
    """Emergency: take ROLE now without approval (needs access.break_glass).

    Raises an alert event (access.break_glass) and must be reviewed afterwards
    by someone else holding access.approve: `vallum access review ID`.
    """
    length = parse_duration(duration)
    rid = run(state, lambda d, via: jit.break_glass(d, as_user, role, length, reason, via=via))
    click.echo(f"break-glass {rid}: user:{as_user} holds {role} for {length}")
    click.echo(
        f"ALERT recorded; review required: vallum access review {rid} --notes ... --as REVIEWER",
        err=True,
    )
    return 0


@access.command("review")
@click.argument("request_id", type=int)
@click.option("--notes", required=True, help="What you checked, 10-1000 characters.")
@as_option()
@pass_state
def review_cmd(state: State, request_id: int, notes: str, as_user: str) -> int:
    """Review break-glass REQUEST_ID after the fact (needs access.approve; not your own)."""
    run(state, lambda d, via: jit.review_break_glass(d, as_user, request_id, notes, via=via))
    click.echo(f"break-glass {request_id} reviewed")
    return 0


@access.command("list")
@click.option("--status", type=click.Choice(jit.STATUSES), default=None, help="Only this status.")
@click.option("--review-due", is_flag=True, help="Only break-glass grants not yet reviewed.")
@format_option()
@pass_state
def list_cmd(state: State, status: str | None, review_due: bool, fmt: str) -> int:
    """Access requests and break-glass grants, oldest first."""
    found = run(state, lambda d, _via: jit.list_requests(d, status, review_due=review_due))
    if fmt == Format.JSON:
        emit_json({"requests": [r.to_dict() for r in found]})
        return 0
    table = Table(box=None)
    for col in ("id", "principal", "role", "status", "until", "decided by", "review"):
        table.add_column(col, overflow="fold")
    for r in found:
        review = "due" if r.review_due else (r.reviewed_by or "-") if r.break_glass else "-"
        until = r.expires_at[:16].replace("T", " ") if r.expires_at else "-"
        row = (str(r.id), r.principal, r.role, r.status, until, r.decided_by or "-", review)
        table.add_row(*row)
    Console().print(table)
    return 0


@access.command("expire")
@format_option()
@pass_state
def expire_cmd(state: State, fmt: str) -> int:
    """Record the end of every JIT and break-glass grant past its expiry.

    Expired grants already grant nothing; this closes their requests and records
    access.expired once each. Safe to run from cron at any interval.
    """
    expired = run(state, lambda d, operator: jit.expire_due(d, operator))
    if fmt == Format.JSON:
        emit_json({"expired": expired})
    else:
        click.echo(f"{len(expired)} request(s) expired")
    return 0
