"""Entry point: error translation and exit codes; the commands live beside it.

Exit codes: 0 ok, 1 policy violation or verification failure, 2 usage or input
error, 3 internal error. Errors are one line on stderr; ``--debug`` adds the
traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

import click

from vallum.cli.app import cli
from vallum.errors import ExitStatus, VallumError


def _debug_requested(argv: Sequence[str]) -> bool:
    return "--debug" in argv


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    try:
        status = cli.main(args=args, prog_name="vallum", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("vallum: aborted", err=True)
        return int(ExitStatus.USAGE)
    except click.ClickException as exc:
        exc.show()
        return int(ExitStatus.USAGE)
    except VallumError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"vallum: error [{exc.code}]: {exc.one_line()}", err=True)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        click.echo("vallum: interrupted", err=True)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        logging.getLogger("vallum").debug("internal error", exc_info=True)
        click.echo(
            f"vallum: internal error ({type(exc).__name__}); rerun with --debug for details",
            err=True,
        )
        return int(ExitStatus.INTERNAL)
    return int(status or 0)


def run() -> NoReturn:
    sys.exit(main())
