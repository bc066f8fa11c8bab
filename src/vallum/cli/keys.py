"""``vallum keys``: API keys (create, list, rotate-key, revoke) and the encryption keys
(master key rotation, data keys, crypto-shredding)."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from vallum.cli.options import Format, State, emit_json, format_option, parse_duration, pass_state
from vallum.identity import apikeys


@click.group()
def keys() -> None:
    """API keys for applications and service accounts, and the encryption keys."""


@keys.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. triage-app.")
@click.option("--owner", required=True, help="User or service account the key acts for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="A permission the key may use (repeat); never more than the owner holds.",
)
@click.option("--expires", default="90d", show_default=True, help="Lifetime, e.g. 90d, 12w.")
@format_option()
@pass_state
def create_key(
    state: State, name: str, owner: str, scopes: tuple[str, ...], expires: str, fmt: str
) -> int:
    """Create an API key and print it ONCE (only its hash is stored)."""
    lifetime = parse_duration(expires)
    with state.context() as ctx:
        issued = apikeys.create_key(
            ctx.directory,
            ctx.principal.actor,
            name=name,
            owner=owner,
            scopes=list(scopes),
            expires_in=lifetime,
        )
    _print_issued(issued, fmt)
    return 0


def _print_issued(issued: apikeys.IssuedKey, fmt: str) -> None:
    if fmt == Format.JSON:
        emit_json({**issued.info.to_dict(), "key": issued.secret})
        return
    click.echo(f"API key {issued.info.id} ({issued.info.name}), expires {issued.info.expires_at}")
    click.echo("Copy it now; it is shown only once:", err=True)
    click.echo(issued.secret)


@keys.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked and expired keys.")
@format_option()
@pass_state
def list_api_keys(state: State, show_all: bool, fmt: str) -> int:
    """List API keys (never their secrets) and warn about stale or expiring ones."""
    with state.context() as ctx:
        found = [k for k in apikeys.list_keys(ctx.directory) if show_all or k.status == "active"]
        warns = apikeys.warnings(ctx.directory)
    if fmt == Format.JSON:
        emit_json({"keys": [k.to_dict() for k in found], "warnings": warns})
        return 0
    table = Table(box=None)
    for col in ("id", "name", "owner", "status", "scopes", "expires", "last used"):
        table.add_column(col, overflow="fold")
    for k in found:
        table.add_row(
            k.id,
            k.name,
            k.owner,
            k.status,
            " ".join(k.scopes),
            k.expires_at,
            k.last_used_at or "never",
        )
    Console().print(table)
    for w in warns:
        click.echo(f"warning: key {w['id']} ({w['name']}): {w['warning']}", err=True)
    return 0


@keys.command("rotate-key")
@click.argument("key_id")
@click.option(
    "--overlap", default="24h", show_default=True, help="How long the old key stays valid."
)
@format_option()
@pass_state
def rotate_key(state: State, key_id: str, overlap: str, fmt: str) -> int:
    """Replace KEY_ID with a new key; both work until the overlap ends."""
    window = parse_duration(overlap)
    with state.context() as ctx:
        issued = apikeys.rotate_key(ctx.directory, ctx.principal.actor, key_id, window)
    _print_issued(issued, fmt)
    return 0


@keys.command("revoke")
@click.argument("key_id")
@click.option("--reason", required=True, help="Why (recorded in the ledger).")
@pass_state
def revoke_key(state: State, key_id: str, reason: str) -> int:
    """Revoke KEY_ID at once."""
    with state.context() as ctx:
        apikeys.revoke_key(ctx.directory, ctx.principal.actor, key_id, reason)
    click.echo(f"API key {key_id} revoked")
    return 0


@keys.command("rotate")
@format_option()
@pass_state
def rotate(state: State, fmt: str) -> int:
    """Create a new master key and re-wrap every data key under it.

    No data is re-encrypted; the old master key is retired once every data key
    has moved. Recorded in the ledger as keys.rotated.
    """
    with state.context() as ctx:
        result = ctx.keyring.rotate_master(ctx.record)
    if fmt == Format.JSON:
        emit_json(
            {
                "master_key_id": result.new_master_key_id,
                "rewrapped": result.rewrapped,
                "retired": list(result.retired),
            }
        )
    else:
        click.echo(
            f"new master key {result.new_master_key_id}; re-wrapped {result.rewrapped} data keys"
        )
    return 0


@keys.command("data-keys")
@click.option("--all", "show_all", is_flag=True, help="Include destroyed keys.")
@format_option()
@pass_state
def list_keys(state: State, show_all: bool, fmt: str) -> int:
    """List data keys: id, purpose, master key, created, destroyed (never key material).

    Use an id from here with `vallum keys shred`.
    """
    with state.context() as ctx:
        rows = ctx.keyring.describe(include_destroyed=show_all)
    if fmt == Format.JSON:
        emit_json({"keys": [r.to_dict() for r in rows]})
        return 0
    table = Table(box=None)
    for col in ("id", "purpose", "master key", "created", "destroyed"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.id, r.purpose, r.master_key_id or "-", r.created_at, r.destroyed_at or "-")
    Console().print(table)
    return 0


@keys.command()
@click.argument("key_id")
@click.option("--reason", required=True, help="Why (recorded in the ledger).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def shred(state: State, key_id: str, reason: str, yes: bool) -> int:
    """Destroy data key KEY_ID: everything encrypted under it becomes unrecoverable."""
    if not yes:
        click.confirm(f"Destroy data key {key_id}? This cannot be undone", abort=True)
    with state.context() as ctx:
        ctx.keyring.shred(key_id, ctx.record, reason=reason)
    click.echo(f"data key {key_id} destroyed")
    return 0
