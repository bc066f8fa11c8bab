"""``vallum controls``: status of every SEC-POL-012 control, and attestations."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from vallum.cli.options import Format, State, emit_json, format_option, parse_duration, pass_state
from vallum.errors import ExitStatus
from vallum.governance.catalog import Framework
from vallum.governance.service import Status, attest, evaluate

_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "red",
    Status.NO_EVIDENCE: "yellow",
    Status.ATTESTATION_DUE: "magenta",
}


@click.group(invoke_without_command=True)
@click.option(
    "--framework",
    type=click.Choice([f.value for f in Framework]),
    default=None,
    help="Only the controls mapped to this framework.",
)
@format_option()
@click.pass_context
def controls(click_ctx: click.Context, framework: str | None, fmt: str) -> int | None:
    """Status per control: pass, fail, no evidence, attestation due.

    Exits 1 when any control fails (its evidence shows it not operating).
    """
    if click_ctx.invoked_subcommand is not None:
        return None
    ctx = click_ctx.find_object(State)
    assert ctx is not None  # noqa: S101 - the root group always sets it
    context = ctx.context()
    try:
        statuses = evaluate(context, Framework(framework) if framework else None)
    finally:
        context.close()
    failing = any(s.status is Status.FAIL for s in statuses)
    if fmt == Format.JSON:
        emit_json({"controls": [s.to_dict() for s in statuses]})
        return int(ExitStatus.VIOLATION if failing else ExitStatus.OK)
    table = Table(box=None)
    for col in ("id", "status", "kind", "title", "evidence seqs"):
        table.add_column(col)
    for s in statuses:
        table.add_row(
            s.control.id,
            f"[{_STYLE[s.status]}]{s.status}[/]",
            str(s.control.kind),
            s.control.title,
            ", ".join(map(str, s.evidence[:5])) or "-",
        )
    Console().print(table)
    counts = {st: sum(1 for s in statuses if s.status is st) for st in Status}
    click.echo(", ".join(f"{n} {st}" for st, n in counts.items()), err=True)
    return int(ExitStatus.VIOLATION if failing else ExitStatus.OK)


@controls.command("attest")
@click.argument("control_id")
@click.option("--statement", required=True, help="What you attest, in your own words.")
@click.option("--expires", default="90d", show_default=True, help="Validity, e.g. 90d, 12w.")
@pass_state
def attest_cmd(state: State, control_id: str, statement: str, expires: str) -> int:
    """Attest an organisational control (recorded in the ledger under your name)."""
    with state.context() as ctx:
        seq = attest(ctx, control_id, statement, parse_duration(expires))
    click.echo(f"attested {control_id} (ledger seq {seq})")
    return 0
