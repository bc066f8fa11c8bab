"""``vallum init`` and ``vallum up``."""

from __future__ import annotations

import ipaddress

import click

from vallum.cli.options import Format, State, emit_json, format_option, pass_state
from vallum.context import initialise, open_context
from vallum.errors import UsageError


@click.command()
@format_option()
@pass_state
def init(state: State, fmt: str) -> int:
    """Create the data directory, master key and database, or migrate them.

    Safe to run again: it only creates what is missing. On first run it prints
    the one-time admin password (shown once, never stored in clear).
    """
    result = initialise(state.settings())
    summary: dict[str, object] = {
        "data_dir": str(result.data_dir),
        "database": "migrated" if result.migrated_from != result.migrated_to else "up to date",
        "schema": result.migrated_to,
        "created_key_file": result.created_key_file,
        "created_instance": result.created_instance,
    }
    if fmt == Format.JSON:
        if result.admin is not None:
            summary["admin"] = {
                "username": result.admin.username,
                "password": result.admin.password,
            }
        emit_json(summary)
        return 0
    click.echo(f"Vallum data directory: {result.data_dir}")
    click.echo(f"Database schema: {result.migrated_to} ({summary['database']})")
    if result.admin is not None:
        click.echo("")
        click.echo("First run: a console administrator was created. Note these now;")
        click.echo("the password is shown only once and must be changed at first login.")
        click.echo(f"  username: {result.admin.username}")
        click.echo(f"  password: {result.admin.password}")
        click.echo("")
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--host", default=None, help="Bind address (loopback only for now).")
@click.option("--port", type=int, default=None, help="Port (default 8600).")
@pass_state
def up(state: State, host: str | None, port: int | None) -> int:
    """Start the API and console (refuses an uninitialised or old database)."""
    import uvicorn

    from vallum.app import create_app

    settings = state.settings(host=host, port=port)
    if not _loopback(settings.host):
        raise UsageError(
            f"refusing to listen on {settings.host}: until authentication is enabled the API "
            "and console listen on loopback only",
            hint="use --host 127.0.0.1",
        )
    # Fail before binding if the installation is not ready (clear message, exit 2).
    open_context(settings).close()
    app = create_app(settings)
    url = f"http://{settings.host}:{settings.port}"
    click.echo(
        f"Vallum is starting: console {url}/  API {url}/api/v1  OpenAPI {url}/openapi.json",
        err=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0
