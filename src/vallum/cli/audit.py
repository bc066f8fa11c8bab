"""``vallum audit``: verify, export, prove and read the ledger."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TextIO

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from vallum.cli.options import Format, State, emit_json, format_option, pass_state
from vallum.errors import ExitStatus, IntegrityError, UsageError
from vallum.governance import audit as audit_service
from vallum.ledger.checkpoint import key_id_of
from vallum.ledger.event import Event
from vallum.ledger.export import ExportFormat
from vallum.ledger.proofs import check_consistency, check_inclusion


@click.group()
def audit() -> None:
    """Verify, export and prove the tamper-evident ledger."""


@audit.command()
@click.option(
    "--public-key",
    default=None,
    help="Pin the instance public key (hex) instead of trusting this installation's.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--no-record",
    is_flag=True,
    help="Do not record the verification in the ledger (read-only, e.g. on a snapshot).",
)
@format_option()
@pass_state
def verify(state: State, public_key: str | None, quiet: bool, no_record: bool, fmt: str) -> int:
    """Check the hash chain, sequence and every signed checkpoint.

    Exit 0 when intact; exit 1 naming the first bad seq and what is wrong.
    """
    pinned = _hex_key(public_key) if public_key else None
    with state.context() as ctx:
        console = Console(stderr=True)
        show = not quiet and fmt == Format.TABLE and console.is_terminal
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,} events"),
            TimeRemainingColumn(),
            console=console,
            disable=not show,
        ) as bar:
            task = bar.add_task("verify", total=None)
            report = audit_service.verify(
                ctx,
                public_key=pinned,
                record=not no_record,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    if fmt == Format.JSON:
        emit_json(report.to_dict())
    elif report.ok:
        click.echo(
            f"ledger intact: {report.events} events, {report.checkpoints} signed checkpoints, "
            f"last checkpoint at seq {report.last_checkpoint}"
        )
    else:
        first = report.first
        assert first is not None  # noqa: S101 - not ok means a problem exists
        click.echo(f"ledger NOT intact: first bad seq {first.seq}: {first.what}", err=True)
        for p in report.problems[1:10]:
            click.echo(f"  also: {p}", err=True)
    return int(ExitStatus.OK if report.ok else ExitStatus.VIOLATION)


def _hex_key(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise UsageError("--public-key must be 64 hex characters") from None
    if len(raw) != 32:
        raise UsageError("--public-key must be 64 hex characters (an Ed25519 key)")
    return raw


@audit.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in ExportFormat]),
    default=ExportFormat.JSONL.value,
    show_default=True,
    help="JSON Lines, OCSF 1.x JSON lines, or ArcSight CEF lines.",
)
@click.option("--since", type=click.IntRange(min=0), default=0, help="Only events after this seq.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (only on success) instead of stdout.",
)
@pass_state
def export(state: State, fmt: str, since: int, output: Path | None) -> int:
    """Export events for a SIEM or an auditor, one per line."""
    with state.context() as ctx:
        lines = audit_service.export(ctx, ExportFormat(fmt), since)
        if output is None:
            for line in lines:
                click.echo(line)
        else:
            tmp = output.with_name(output.name + ".partial")
            try:
                with tmp.open("w", encoding="utf-8") as fh:
                    for line in lines:
                        fh.write(line + "\n")
                tmp.replace(output)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
    return 0


@audit.command()
@click.argument("seq", type=int)
@click.option("--tree-size", type=int, default=None, help="Prove against this checkpoint.")
@pass_state
def proof(state: State, seq: int, tree_size: int | None) -> int:
    """Print the inclusion proof of event SEQ in a signed checkpoint, as JSON."""
    with state.context() as ctx:
        emit_json(audit_service.inclusion_proof(ctx, seq, tree_size))
    return 0


@audit.command()
@click.argument("first", type=int)
@click.argument("second", type=int)
@pass_state
def consistency(state: State, first: int, second: int) -> int:
    """Print the proof that checkpoint SECOND extends checkpoint FIRST, as JSON."""
    with state.context() as ctx:
        emit_json(audit_service.consistency_proof(ctx, first, second))
    return 0


@audit.command("check-proof")
@click.argument("proof_file", type=click.File("r"))
@click.option("--public-key", required=True, help="The instance public key, hex.")
def check_proof(proof_file: TextIO, public_key: str) -> int:
    """Check a proof file offline, with nothing but the public key."""
    try:
        doc = json.load(proof_file)
    except ValueError:
        raise UsageError("the proof file is not JSON") from None
    if not isinstance(doc, dict):
        raise UsageError("the proof file is not a JSON object")
    key = _hex_key(public_key)
    try:
        if str(doc.get("type", "")).startswith("vallum.consistency"):
            a, b = check_consistency(doc, key)
            click.echo(f"consistent: checkpoint {b} extends checkpoint {a}")
        else:
            event = check_inclusion(doc, key)
            click.echo(
                f"included: seq {event.get('seq')} ({event.get('action')}) is in the signed log"
            )
    except IntegrityError as exc:
        click.echo(f"proof does NOT verify: {exc.detail}", err=True)
        return int(ExitStatus.VIOLATION)
    return 0


@audit.command()
@format_option()
@pass_state
def instance(state: State, fmt: str) -> int:
    """Show this instance's id and ledger public key (pin it to check proofs offline)."""
    with state.context() as ctx:
        info = {
            "instance_id": ctx.instance_id,
            "public_key": ctx.ledger.public_key.hex(),
            "key_id": key_id_of(ctx.ledger.public_key),
        }
    if fmt == Format.JSON:
        emit_json(info)
    else:
        for k, v in info.items():
            click.echo(f"{k}: {v}")
    return 0


@audit.command()
@pass_state
def checkpoint(state: State) -> int:
    """Sign a checkpoint over every event recorded so far."""
    with state.context() as ctx:
        ctx.ledger.checkpoint_now()
        cps = audit_service.checkpoints(ctx)
    click.echo(f"checkpoint at tree size {cps[-1]['tree_size'] if cps else 0}")
    return 0


def _table(events: list[Event]) -> Table:
    table = Table(box=None)
    for col in ("seq", "time", "actor", "action", "subject", "outcome"):
        table.add_column(col)
    for e in events:
        table.add_row(str(e.seq), e.time, e.actor, e.action, e.subject, e.outcome)
    return table


@audit.command()
@click.option(
    "-n", "--lines", "count", type=click.IntRange(1, 10_000), default=20, show_default=True
)
@click.option("--follow", is_flag=True, help="Keep printing new events (Ctrl-C to stop).")
@format_option()
@pass_state
def tail(state: State, count: int, follow: bool, fmt: str) -> int:
    """Show the newest events."""
    with state.context() as ctx:
        batch = audit_service.tail(ctx, count)
        last = batch[-1].seq if batch else audit_service.last_seq(ctx)
        while True:
            if fmt == Format.JSON:
                for e in batch:
                    click.echo(json.dumps(e.to_dict(), ensure_ascii=False))
            elif batch:
                Console().print(_table(batch))
            if not follow:
                break
            time.sleep(1.0)
            batch = audit_service.events(ctx, since=last, limit=1000)
            if batch:
                last = batch[-1].seq
    return 0
