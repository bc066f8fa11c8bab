"""A real gateway (uvicorn on a free loopback port) on a real installation.

Vendors are real local HTTP servers (Starlette apps under uvicorn) standing in for
the third-party APIs; nothing of Vallum's own is faked.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn

from tests.auth_helpers import role_key
from vallum.config import VallumSettings
from vallum.context import Context, initialise, open_context
from vallum.gateway import config
from vallum.gateway.asgi import create_gateway_app
from vallum.gateway.policy import GuardPolicy, Target

#: Guards whose detectors are on this branch; the others stay off in tests that
#: are not about them (a missing detector blocks everything: fail closed).
NO_GUARDS = GuardPolicy.all_off()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """An ASGI app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@dataclass
class GatewayRig:
    settings: VallumSettings
    ctx: Context
    served: Served
    key: str
    stops: list[Callable[[], None]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"{self.served.url}/v1"

    def sdk(self, key: str | None = None) -> Any:
        """An OpenAI SDK client on this gateway, closed when the test ends."""
        import openai

        client = openai.OpenAI(base_url=self.base_url, api_key=key or self.key, max_retries=0)
        self.stops.append(client.close)
        return client

    def route(
        self, alias: str, *targets: Target, policy: GuardPolicy = NO_GUARDS, **kw: Any
    ) -> None:
        config.add_route(self.ctx, config.RouteSpec(alias, tuple(targets), policy, **kw))
        self.sync()

    def sync(self) -> None:
        """Wait until the gateway's table has the database's version."""
        want = config.config_version(self.ctx.engine)
        deadline = time.monotonic() + 5
        gw = self.served.server.config.loaded_app
        table = _find_table(gw)
        while table.snapshot.version != want:
            if time.monotonic() > deadline:
                raise AssertionError("gateway did not reload its routes")
            time.sleep(0.02)

    def events(self, action: str) -> list[dict[str, Any]]:
        import json

        from sqlalchemy import select

        from vallum.store.models import LedgerEvent

        # The gateway buffers events for a few ms, then the ledger commits them.
        auditor = _find_gateway(self.served.server.config.loaded_app).auditor
        deadline = time.monotonic() + 5
        time.sleep(0.02)
        while auditor.buffered or auditor.pending:
            if time.monotonic() > deadline:
                raise AssertionError("the gateway's audit events were not committed")
            time.sleep(0.01)
        self.ctx.ledger.checkpoint_now()
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                select(LedgerEvent).where(LedgerEvent.action == action).order_by(LedgerEvent.seq)
            ).all()
        return [
            {"actor": r.actor, "subject": r.subject, "outcome": r.outcome, **json.loads(r.data)}
            for r in rows
        ]


def _find_gateway(app: Any) -> Any:
    while not hasattr(app, "state"):
        app = app.app
    return app.state.gateway


def _find_table(app: Any) -> Any:
    return _find_gateway(app).table


@pytest.fixture
def make_gateway(settings: VallumSettings) -> Iterator[Callable[..., GatewayRig]]:
    rigs: list[GatewayRig] = []
    initialise(settings)

    def make(settings_update: dict[str, Any] | None = None, **kwargs: Any) -> GatewayRig:
        ctx = open_context(settings)
        key = role_key(ctx, "app-developer")
        app = create_gateway_app(settings.model_copy(update=settings_update or {}), **kwargs)
        rig = GatewayRig(settings, ctx, Served(app), key)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        for stop in rig.stops:
            stop()
        rig.served.stop()
        rig.ctx.close()


@pytest.fixture
def rig(make_gateway: Callable[..., GatewayRig]) -> GatewayRig:
    return make_gateway()


@pytest.fixture
def backend() -> str:
    """Gateway tests run on SQLite; the scale-out test asks for PostgreSQL itself."""
    return "sqlite"
