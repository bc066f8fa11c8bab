"""The routes and vendors every worker serves from memory, reloaded on change.

A worker loads every vendor (credentials decrypted, in memory only) and route
once, then polls the one-row ``gateway_config_version`` every
``poll_seconds`` from a background thread; when the version moved it reloads.
With Redis configured, a change also publishes a message that wakes every
worker's poller at once. So a suspended vendor or route is refused by every
worker within milliseconds (Redis) or ``poll_seconds`` (without), with no
database query on the request path.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from redis import RedisError

from vallum.context import Context
from vallum.errors import NotFoundError, PolicyViolation, VallumError
from vallum.gateway import config
from vallum.gateway.policy import DEMO_ROUTE, DEMO_VENDOR, Route, Status, Target, Vendor
from vallum.store.redis import client as redis_client

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    vendors: dict[str, Vendor]
    routes: dict[str, Route]


class RouteTable:
    def __init__(
        self,
        ctx: Context,
        *,
        demo: bool = True,
        poll_seconds: float = 0.5,
        redis_url: str | None = None,
    ) -> None:
        self._ctx = ctx
        self._redis_url = redis_url
        self._demo = demo
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.snapshot = self._load()

    def _load(self) -> Snapshot:
        version = config.config_version(self._ctx.engine)
        vendors = {v.name: v for v in config.list_vendors(self._ctx, with_secret=True)}
        routes = {r.alias: r for r in config.list_routes(self._ctx)}
        if self._demo:
            vendors.setdefault(DEMO_VENDOR.name, DEMO_VENDOR)
            routes.setdefault(DEMO_ROUTE.alias, DEMO_ROUTE)
        return Snapshot(version, vendors, routes)

    def reload(self) -> None:
        self.snapshot = self._load()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="vallum-gw-config", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _wait(self) -> Callable[[], bool]:
        """A wait of up to ``poll_seconds`` that a Redis message ends early."""
        if self._redis_url is None:
            return lambda: not self._stop.wait(self._poll)
        try:
            pubsub = redis_client(self._redis_url).pubsub(  # type: ignore[no-untyped-call]
                ignore_subscribe_messages=True
            )
            pubsub.subscribe(config.CHANNEL)
        except RedisError as exc:
            log.warning("no Redis notifications, polling only: %s", type(exc).__name__)
            return lambda: not self._stop.wait(self._poll)

        def wait() -> bool:
            try:
                pubsub.get_message(timeout=self._poll)
            except RedisError:
                self._stop.wait(self._poll)
            return not self._stop.is_set()

        return wait

    def _loop(self) -> None:
        wait = self._wait()
        while wait():
            try:
                if config.config_version(self._ctx.engine) != self.snapshot.version:
                    self.reload()
            except VallumError as exc:
                log.warning("gateway config reload failed: %s", exc.detail)
            except Exception as exc:  # noqa: BLE001 - keep polling through database hiccups
                log.warning("gateway config reload failed: %s", type(exc).__name__)

    # -- request path -----------------------------------------------------
    def route(self, alias: str) -> Route:
        route = self.snapshot.routes.get(alias)
        if route is None:
            raise NotFoundError(f"the model {alias!r} does not exist or you have no access to it")
        if route.status is not Status.APPROVED:
            raise PolicyViolation(f"the route {alias!r} is suspended")
        return route

    def pick(self, route: Route) -> tuple[Target, Vendor]:
        """A target by weight among those whose vendor is approved and in-region."""
        vendors = self.snapshot.vendors
        usable: list[tuple[Target, Vendor]] = []
        refused = ""
        for t in route.targets:
            v = vendors.get(t.vendor)
            if t.weight <= 0:
                continue
            if v is None or v.status is not Status.APPROVED:
                refused = f"vendor {t.vendor} is suspended or unknown"
                continue
            if route.regions and not route.regions.intersection(v.regions):
                refused = f"vendor {t.vendor} is outside the route's allowed regions"
                continue
            usable.append((t, v))
        if not usable:
            raise PolicyViolation(
                f"no approved vendor can serve {route.alias!r}: {refused or 'no weighted target'}"
            )
        if len(usable) == 1:
            return usable[0]
        weights = [t.weight for t, _ in usable]
        return random.choices(usable, weights=weights)[0]  # noqa: S311 - traffic split, not crypto
