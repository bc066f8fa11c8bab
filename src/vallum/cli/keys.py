"""``vallum keys``: master key rotation and data key shredding."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from vallum.cli.options import Format, State, emit_json, format_option, pass_state


@click.group()
def keys() -> None:
    """Manage the encryption keys (API keys arrive with the identity issue)."""


@keys.command()
@format_option()
@pass_state
def rotate(state: State, fmt: str) -> int:
    """Create a new master key and re-wrap every data key under it.

    No data is re-encrypted; the old master key is retired once every data key
    has moved. Recorded in the ledger as keys.rotated.
    """
    ctx = state.context()
    try:
        result = ctx.keyring.rotate_master(ctx.record)
    finally:
        ctx.close()
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
    ctx = state.context()
    try:
        rows = ctx.keyring.describe(include_destroyed=show_all)
    finally:
        ctx.close()
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
    ctx = state.context()
    try:
        ctx.keyring.shred(key_id, ctx.record, reason=reason)
    finally:
        ctx.close()
    click.echo(f"data key {key_id} destroyed")
    return 0
