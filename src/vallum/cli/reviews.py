"""``vallum reviews``: access review campaigns over every grant and API key."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from vallum.cli.access import as_option, run
from vallum.cli.options import Format, State, emit_json, format_option, parse_duration, pass_state
from vallum.errors import ExitStatus
from vallum.identity import reviews as rv
from vallum.identity.directory import Directory


@click.group()
def reviews() -> None:
    """Access reviews: certify or revoke every grant and API key by a deadline.

    A campaign snapshots every active role grant (people and service accounts,
    standing, JIT and break-glass) and every active API key. Reviewers holding
    reviews.certify certify or revoke each item, never their own; a revocation
    takes effect at once. Closing reports the items nobody reviewed (they are
    never certified by default). Decisions are the evidence for the
    access-review controls (access.reviewed in the ledger).

    certify and revoke take --as USERNAME: the CLI runs as the local operator who
    holds the key file, so --as names, it does not authenticate; the ledger
    records both the user and the operator. start and close act as the operator.
    """


@reviews.command("start")
@click.argument("name")
@click.option("--deadline", default="14d", show_default=True, help="Time to finish, e.g. 14d.")
@format_option()
@pass_state
def start_cmd(state: State, name: str, deadline: str, fmt: str) -> int:
    """Start campaign NAME over every active grant and API key."""
    within = parse_duration(deadline)

    def act(d: Directory, operator: str) -> rv.CampaignStatus:
        return rv.campaign_status(d, rv.start_campaign(d, operator, name, within))

    status = run(state, act)
    c = status.campaign
    if fmt == Format.JSON:
        emit_json(status.to_dict())
    else:
        click.echo(f"campaign {c.id} ({c.name}): {c.counts['total']} items, due {c.deadline}")
    return 0


@reviews.command("list")
@format_option()
@pass_state
def list_cmd(state: State, fmt: str) -> int:
    """Every campaign with its counts; overdue ones are marked."""
    found = run(state, lambda d, _op: rv.list_campaigns(d))
    if fmt == Format.JSON:
        emit_json({"campaigns": [c.to_dict() for c in found]})
        return 0
    table = Table(box=None)
    cols = ("id", "name", "deadline", "closed", "pending", "certified", "revoked", "unreviewed")
    for col in cols:
        table.add_column(col, overflow="fold")
    for c in found:
        late = " (passed)" if c.deadline_passed and c.closed_at is None else ""
        table.add_row(
            str(c.id),
            c.name,
            c.deadline + late,
            c.closed_at or "-",
            *(str(c.counts[k]) for k in ("pending", "certified", "revoked", "unreviewed")),
        )
    Console().print(table)
    return 0


@reviews.command("show")
@click.argument("campaign_id", type=int)
@click.option("--pending", "only_pending", is_flag=True, help="Only items nobody decided yet.")
@format_option()
@pass_state
def show_cmd(state: State, campaign_id: int, only_pending: bool, fmt: str) -> int:
    """One campaign: counts, deadline, and its items (use their ids to decide)."""
    status = run(state, lambda d, _op: rv.campaign_status(d, campaign_id))
    if fmt == Format.JSON:
        emit_json(status.to_dict())
        return 0
    _print(status, status.unreviewed if only_pending else status.items)
    return 0


def _print(status: rv.CampaignStatus, items: tuple[rv.Item, ...]) -> None:
    c = status.campaign
    state = f"closed {c.closed_at}" if c.closed_at else "open"
    passed = ", deadline passed" if c.deadline_passed else ""
    click.echo(f"campaign {c.id} ({c.name}): {state}, due {c.deadline}{passed}")
    counts = ", ".join(f"{c.counts[k]} {k}" for k in ("pending", "certified", "revoked"))
    click.echo(f"{counts}, {c.counts['unreviewed']} unreviewed of {c.counts['total']}")
    table = Table(box=None)
    for col in ("item", "kind", "principal", "detail", "decision", "by"):
        table.add_column(col, overflow="fold")
    for i in items:
        table.add_row(
            str(i.id), i.subject_kind, i.principal, i.detail, i.decision, i.decided_by or "-"
        )
    Console().print(table)


@reviews.command("certify")
@click.argument("item_id", type=int)
@click.option("--reason", default="", help="Optional note (recorded).")
@as_option()
@pass_state
def certify_cmd(state: State, item_id: int, reason: str, as_user: str) -> int:
    """Certify ITEM_ID: the access is still needed (needs reviews.certify)."""
    run(state, lambda d, via: rv.decide(d, as_user, item_id, True, reason, via=via))
    click.echo(f"item {item_id} certified")
    return 0


@reviews.command("revoke")
@click.argument("item_id", type=int)
@click.option("--reason", required=True, help="Why, 10-1000 characters (recorded).")
@as_option()
@pass_state
def revoke_cmd(state: State, item_id: int, reason: str, as_user: str) -> int:
    """Revoke ITEM_ID: the grant or API key is revoked at once (needs reviews.certify)."""
    run(state, lambda d, via: rv.decide(d, as_user, item_id, False, reason, via=via))
    click.echo(f"item {item_id} revoked; the access is gone")
    return 0


@reviews.command("close")
@click.argument("campaign_id", type=int)
@format_option()
@pass_state
def close_cmd(state: State, campaign_id: int, fmt: str) -> int:
    """Close CAMPAIGN_ID and report the items nobody reviewed.

    Undecided items become 'unreviewed' (never certified) and are listed in the
    reviews.closed ledger event. Exits 1 when there are any.
    """
    status = run(state, lambda d, operator: rv.close_campaign(d, operator, campaign_id))
    if fmt == Format.JSON:
        emit_json(status.to_dict())
    else:
        _print(status, status.unreviewed)
    if status.unreviewed:
        click.echo(f"{len(status.unreviewed)} item(s) were not reviewed", err=True)
        return int(ExitStatus.VIOLATION)
    return 0
