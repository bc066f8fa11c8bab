"""The root ``vallum`` group and its global options."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from vallum import __version__
from vallum.cli.access import access
from vallum.cli.audit import audit
from vallum.cli.controls import controls
from vallum.cli.detect import detect
from vallum.cli.gateway import gateway
from vallum.cli.keys import keys
from vallum.cli.options import State
from vallum.cli.redact import detokenize, redact, tokenize
from vallum.cli.reviews import reviews
from vallum.cli.routes import routes
from vallum.cli.scan import scan
from vallum.cli.system import init, up
from vallum.cli.users import roles, users
from vallum.cli.vendors import vendors


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


cli.add_command(init)
cli.add_command(up)
cli.add_command(audit)
cli.add_command(controls)
cli.add_command(keys)
cli.add_command(users)
cli.add_command(roles)
cli.add_command(access)
cli.add_command(reviews)
cli.add_command(scan)
cli.add_command(gateway)
cli.add_command(vendors)
cli.add_command(routes)
cli.add_command(detect)
cli.add_command(redact)
cli.add_command(tokenize)
cli.add_command(detokenize)
