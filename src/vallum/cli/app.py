"""The root ``vallum`` group and its global options."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from vallum import __version__
from vallum.cli.lazy import LazyGroup
from vallum.cli.options import State

#: Each command's module is imported only when that command runs (start-up time).
COMMANDS = {
    "init": "vallum.cli.system:init",
    "up": "vallum.cli.system:up",
    "audit": "vallum.cli.audit:audit",
    "controls": "vallum.cli.controls:controls",
    "keys": "vallum.cli.keys:keys",
    "users": "vallum.cli.users:users",
    "roles": "vallum.cli.users:roles",
    "access": "vallum.cli.access:access",
    "reviews": "vallum.cli.reviews:reviews",
    "scan": "vallum.cli.scan:scan",
    "sign": "vallum.cli.signing:sign",
    "verify": "vallum.cli.signing:verify",
    "models": "vallum.cli.models:models",
    "gate": "vallum.cli.gate:gate_cmd",
    "gateway": "vallum.cli.gateway:gateway",
    "vendors": "vallum.cli.vendors:vendors",
    "routes": "vallum.cli.routes:routes",
    "detect": "vallum.cli.detect:detect",
    "redact": "vallum.cli.redact:redact",
    "tokenize": "vallum.cli.redact:tokenize",
    "detokenize": "vallum.cli.redact:detokenize",
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (else VALLUM_DATA_DIR, else the platform's user data dir).",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Settings file (else VALLUM_CONFIG, else ./vallum.toml if present).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(__version__, prog_name="vallum")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, config: Path | None, debug: bool) -> None:
    """Vallum: enforce, record and prove the controls of your AI security policy.

    Start with `vallum init`, then `vallum up`. Exit codes: 0 ok, 1 policy
    violation or verification failure, 2 usage or input error, 3 internal error.
    """
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING)
    ctx.obj = State(data_dir, config, debug)
