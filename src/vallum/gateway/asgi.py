"""The gateway as an ASGI app (Starlette, no validation layer on the hot path).

``create_gateway_app(settings)`` builds one app per worker: it opens a Context,
loads the route table, starts the config poller and the upstream client, and
closes them on shutdown. ``app_from_environment`` is the factory uvicorn calls in
each worker process when ``vallum gateway --workers N`` starts several.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from vallum.config import VallumSettings, load_settings
from vallum.context import open_context
from vallum.detect.types import Detector
from vallum.errors import VallumError
from vallum.gateway import wire
from vallum.gateway.capture import Capture
from vallum.gateway.guards import DetectorSet
from vallum.gateway.ratelimit import Limiter, LocalLimiter, RedisLimiter
from vallum.gateway.service import Answer, Gateway, Limits
from vallum.gateway.table import RouteTable
from vallum.gateway.upstream import Upstreams
from vallum.identity.principal import Principal

JSON = "application/json"
#: Every gateway path and what guards it: the /v1 paths take a gateway.use key
#: (checked in the service); health and metrics are public on the gateway port.
PATHS = {
    "/v1/chat/completions": "gateway.use",
    "/v1/completions": "gateway.use",
    "/v1/embeddings": "gateway.use",
    "/v1/models": "gateway.use",
    "/healthz": "public",
    "/metrics": "public",
}


def _reply(answer: Answer) -> Response:
    return Response(answer.body, answer.status, answer.headers, media_type=JSON)


def create_gateway_app(
    settings: VallumSettings,
    *,
    detector_factories: dict[str, Callable[[], Detector]] | None = None,
    vault_factory: Callable[[Any], Any] | None = None,
) -> Starlette:
    holder: dict[str, Gateway] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx = open_context(settings, Principal.system())
        redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
        table = RouteTable(
            ctx,
            demo=settings.gateway_demo,
            poll_seconds=settings.gateway_config_poll_seconds,
            redis_url=redis_url,
        )
        table.start()
        limiter: Limiter = RedisLimiter(redis_url) if redis_url is not None else LocalLimiter()
        upstreams = Upstreams(settings.gateway_upstream_timeout)
        capture = (
            Capture(ctx, settings.gateway_capture_days) if settings.gateway_capture_days else None
        )
        gw = Gateway(
            ctx,
            table,
            DetectorSet(detector_factories),
            limiter,
            upstreams,
            limits=Limits(
                settings.gateway_key_requests_per_minute, settings.gateway_key_tokens_per_minute
            ),
            max_body=settings.gateway_max_body_bytes,
            stream_window=settings.gateway_stream_window,
            vault_factory=vault_factory,
            capture=capture,
            max_inflight=settings.gateway_max_inflight,
        )
        holder["gw"] = gw
        app.state.gateway = gw
        watcher = asyncio.create_task(gw.watch_loop())
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            gw.auditor.close()  # hand the last events to the ledger before it closes
            table.stop()
            if capture is not None:
                capture.close()
            await upstreams.close()
            await limiter.close()
            ctx.close()

    def endpoint(path: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            gw = holder["gw"]
            body = await request.body()
            result = await gw.handle(path, request.headers.get("authorization"), body)
            if isinstance(result, Answer):
                return _reply(result)
            return StreamingResponse(
                result.chunks,
                media_type="text/event-stream",
                headers={**result.headers, "cache-control": "no-cache"},
            )

        return handler

    async def models(request: Request) -> Response:
        gw = holder["gw"]
        try:
            return _reply(await gw.models(request.headers.get("authorization")))
        except VallumError as exc:
            return Response(wire.error_bytes(exc), exc.http_status, media_type=JSON)

    async def health(_request: Request) -> Response:
        return Response(orjson.dumps({"status": "ok"}), media_type=JSON)

    async def metrics(_request: Request) -> Response:
        return Response(holder["gw"].metrics.render(), media_type="text/plain; version=0.0.4")

    return Starlette(
        routes=[
            Route("/v1/chat/completions", endpoint("chat/completions"), methods=["POST"]),
            Route("/v1/completions", endpoint("completions"), methods=["POST"]),
            Route("/v1/embeddings", endpoint("embeddings"), methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """uvicorn's factory in each worker process: settings from VALLUM_* and vallum.toml."""
    return create_gateway_app(load_settings())
