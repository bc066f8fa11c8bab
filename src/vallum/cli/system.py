"""``vallum init`` and ``vallum up``."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vallum.cli.options import Format, State, emit_json, format_option, pass_state
from vallum.context import initialise, open_context
from vallum.errors import UsageError

if TYPE_CHECKING:
    import uvicorn


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
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8600).")
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PEM certificate: serve HTTPS.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PEM private key for --tls-cert.",
)
@pass_state
def up(
    state: State, host: str | None, port: int | None, tls_cert: Path | None, tls_key: Path | None
) -> int:
    """Start the API, console and gateway (refuses an uninitialised or old database).

    Listens on loopback unless --host says otherwise. Session cookies are Secure:
    beyond loopback, serve HTTPS (--tls-cert/--tls-key, or a TLS proxy in front).
    """
    import uvicorn

    from vallum.app import create_app
    from vallum.gateway.asgi import create_gateway_app

    settings = state.settings(host=host, port=port, tls_cert_file=tls_cert, tls_key_file=tls_key)
    tls = settings.tls_cert_file is not None
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        raise UsageError("give both --tls-cert and --tls-key, or neither")
    for path in (settings.tls_cert_file, settings.tls_key_file):
        if path is not None and not path.is_file():
            raise UsageError(f"{path} does not exist")
    if not _loopback(settings.host) and not tls:
        click.echo(
            f"warning: listening on {settings.host} without TLS; browsers send the Secure "
            "session cookie only over HTTPS, and API keys would cross the network in clear. "
            "Use --tls-cert/--tls-key or a TLS proxy.",
            err=True,
        )
    # Fail before binding if the installation is not ready (clear message, exit 2).
    open_context(settings).close()
    app = create_app(settings)
    gateway_app = create_gateway_app(settings)
    url = f"{'https' if tls else 'http'}://{settings.host}:{settings.port}"
    gw_url = f"http://{settings.gateway_host}:{settings.gateway_port}/v1"
    click.echo(
        f"Vallum is starting: console {url}/  API {url}/api/v1  OpenAPI {url}/openapi.json  "
        f"gateway {gw_url}",
        err=True,
    )
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_level=settings.log_level,
                ssl_certfile=str(settings.tls_cert_file) if tls else None,
                ssl_keyfile=str(settings.tls_key_file) if tls else None,
            )
        ),
        uvicorn.Server(
            uvicorn.Config(
                gateway_app,
                host=settings.gateway_host,
                port=settings.gateway_port,
                log_level=settings.log_level,
                access_log=False,
            )
        ),
    ]
    asyncio.run(_serve_all(servers))
    return 0


async def _serve_all(servers: list[uvicorn.Server]) -> None:
    """Run the servers until one stops (a signal, a bind error), then stop the rest."""
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for s in servers:
        s.should_exit = True
    await asyncio.gather(*pending)
