"""``vallum gateway``: serve the OpenAI-compatible security gateway."""

from __future__ import annotations

import os

import click

from vallum.cli.options import State, pass_state
from vallum.cli.system import _loopback
from vallum.config import CONFIG_ENV
from vallum.context import open_context
from vallum.errors import UsageError


@click.command()
@click.option("--host", "gateway_host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", "gateway_port", type=int, default=None, help="Port (default 8700).")
@click.option(
    "--workers", "gateway_workers", type=int, default=None, help="Worker processes (default 1)."
)
@pass_state
def gateway(
    state: State, gateway_host: str | None, gateway_port: int | None, gateway_workers: int | None
) -> int:
    """Serve the OpenAI-compatible gateway at /v1 (chat, completions, embeddings).

    Applications keep the OpenAI SDK and change only base_url and the key (a vk_
    key with gateway.use). Several workers need PostgreSQL and Redis to share
    limits and one ledger. The built-in `demo` model works offline.
    """
    import uvicorn

    settings = state.settings(
        gateway_host=gateway_host, gateway_port=gateway_port, gateway_workers=gateway_workers
    )
    open_context(settings).close()  # fail before binding on an uninitialised install
    if settings.gateway_workers > 1 and settings.is_sqlite:
        click.echo(
            "warning: several workers on SQLite share one database file; use PostgreSQL "
            "(VALLUM_DATABASE_URL) and Redis (VALLUM_REDIS_URL) to scale out",
            err=True,
        )
    if settings.gateway_workers > 1 and settings.redis_url is None:
        click.echo("warning: without Redis each worker keeps its own rate limits", err=True)
    if not _loopback(settings.gateway_host):
        click.echo(
            f"warning: the gateway listens on {settings.gateway_host} without TLS; put a TLS "
            "proxy in front so API keys never cross the network in clear",
            err=True,
        )
    # Worker processes rebuild the settings: hand them what the command line chose.
    if state.data_dir is not None:
        os.environ["VALLUM_DATA_DIR"] = str(state.data_dir)
    if state.config is not None:
        os.environ[CONFIG_ENV] = str(state.config)
    url = f"http://{settings.gateway_host}:{settings.gateway_port}/v1"
    click.echo(
        f"Vallum gateway is starting: {url} ({settings.gateway_workers} worker(s))", err=True
    )
    if settings.gateway_workers == 1:
        from vallum.gateway.asgi import create_gateway_app

        app = create_gateway_app(settings)
        uvicorn.run(
            app,
            host=settings.gateway_host,
            port=settings.gateway_port,
            log_level=settings.log_level,
            access_log=False,
        )
        return 0
    if gateway_host is not None:
        os.environ["VALLUM_GATEWAY_HOST"] = gateway_host
    if gateway_port is not None:
        os.environ["VALLUM_GATEWAY_PORT"] = str(gateway_port)
    if gateway_workers is None and settings.gateway_workers < 1:
        raise UsageError("--workers must be at least 1")
    uvicorn.run(
        "vallum.gateway.asgi:app_from_environment",
        factory=True,
        host=settings.gateway_host,
        port=settings.gateway_port,
        workers=settings.gateway_workers,
        log_level=settings.log_level,
        access_log=False,
    )
    return 0
