"""``vallum gate``: may this registered model version be deployed?"""

from __future__ import annotations

from pathlib import Path

import click

from vallum.cli.options import Format, State, emit_json, format_option, pass_state
from vallum.errors import ConfigError, ExitStatus
from vallum.registry import Ref, gate, load_policy


@click.command("gate")
@click.argument("ref", metavar="NAME@V")
@click.option(
    "--policy",
    "model_gate_policy",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Gate policy: trusted keys and chains (else VALLUM_MODEL_GATE_POLICY).",
)
@format_option()
@pass_state
def gate_cmd(state: State, ref: str, model_gate_policy: Path | None, fmt: str) -> int:
    """Check NAME@V before deployment: integrity, scan, signature and AI-BOM.

    Exit 0 when every check passes, 1 when any fails, 2 when the policy is
    missing, empty or unreadable. Each decision is recorded in the ledger.
    """
    settings = state.settings(model_gate_policy=model_gate_policy)
    if settings.model_gate_policy is None:
        raise ConfigError(
            "no gate policy", hint="give --policy FILE or set VALLUM_MODEL_GATE_POLICY"
        )
    policy = load_policy(settings.model_gate_policy.expanduser())
    with state.context() as ctx:
        result = gate(ctx, Ref.parse(ref), policy)
    if fmt == Format.JSON:
        emit_json(result.to_dict())
    else:
        for check in result.checks:
            click.echo(f"{'PASS' if check.passed else 'FAIL'}  {check.name:<10} {check.reason}")
        click.echo(f"{result.ref}: {'passed' if result.passed else 'refused'}")
    return int(ExitStatus.OK if result.passed else ExitStatus.VIOLATION)
