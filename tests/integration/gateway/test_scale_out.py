"""Two gateway processes on one PostgreSQL and one Redis: shared limits, revocation, ledger."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.auth_helpers import role_key
from tests.conftest import make_settings
from tests.integration.gateway.conftest import free_port
from vallum.config import VallumSettings
from vallum.context import initialise, open_context
from vallum.gateway import config
from vallum.gateway.policy import GuardPolicy, Status, Target
from vallum.governance import audit as audit_service
from vallum.identity import apikeys

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def _env(settings: VallumSettings, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALLUM_")}
    env["VALLUM_DATA_DIR"] = str(settings.data_dir)
    env["VALLUM_DATABASE_URL"] = settings.sqlalchemy_url
    env["VALLUM_REDIS_URL"] = redis_url
    return env


def _start(env: dict[str, str], port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    log = Path(env["VALLUM_DATA_DIR"]).parent / f"gateway-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vallum",
                "gateway",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    raise AssertionError(f"gateway on {port} did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def shared(tmp_path: Path, postgres_url: str, redis_url: str) -> tuple[VallumSettings, str]:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    settings = make_settings(tmp_path / "data", postgres_url, redis_url=redis_url)
    initialise(settings)
    return settings, redis_url


def _chat(port: int, key: str, model: str) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )


def test_two_processes_share_limits_revocation_and_one_ledger(
    shared: tuple[VallumSettings, str],
) -> None:
    settings, redis_url = shared
    with open_context(settings) as ctx:
        key = role_key(ctx, "app-developer")
        config.add_route(
            ctx,
            config.RouteSpec(
                "shared",
                (Target("demo", "demo-echo", 100),),
                GuardPolicy.all_off(),
                requests_per_minute=4,
            ),
        )
        config.add_route(
            ctx,
            config.RouteSpec("free", (Target("demo", "demo-echo", 100),), GuardPolicy.all_off()),
        )
    env = _env(settings, redis_url)
    ports = [free_port()]
    while len(ports) < 2:  # a port just released may be handed out again
        if (p := free_port()) not in ports:
            ports.append(p)
    procs = [_start(env, p) for p in ports]
    try:
        # Shared rate limit: 4 per minute for the route, whichever process answers.
        codes = [_chat(ports[i % 2], key, "shared").status_code for i in range(6)]
        assert codes[:4] == [200, 200, 200, 200]
        assert codes[4:] == [429, 429]
        for p in ports:
            assert _chat(p, key, "free").status_code == 200
        # Suspension reaches both at once (Redis pub/sub, before the 0.5 s poll).
        with open_context(settings) as ctx:
            config.set_route_status(ctx, "shared", Status.SUSPENDED, "incident")
        time.sleep(0.15)
        for p in ports:
            assert _chat(p, key, "shared").status_code == 403
        # Shared revocation: revoked here, refused by both within a second.
        with open_context(settings) as ctx:
            apikeys.revoke_key(ctx.directory, "user:admin", key.split("_")[1], "test")
        time.sleep(1.2)
        for p in ports:
            assert _chat(p, key, "free").status_code == 401
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    # One consistent ledger: both processes appended to one chain.
    with open_context(settings) as ctx:
        report = audit_service.verify(ctx)
        assert report.ok, report
        from sqlalchemy import func, select

        from vallum.store.models import LedgerEvent

        with ctx.engine.connect() as conn:
            n = conn.execute(
                select(func.count()).where(LedgerEvent.action == "gateway.request")
            ).scalar()
            limited = conn.execute(
                select(func.count()).where(LedgerEvent.action == "gateway.rate_limited")
            ).scalar()
            blocked = conn.execute(
                select(func.count()).where(LedgerEvent.action == "gateway.blocked")
            ).scalar()
    assert n == 4 + 2 + 2  # six answered, two refused with a bad key (failure)
    assert blocked == 2
    assert limited == 2


def test_workers_flag_starts_several_workers(shared: tuple[VallumSettings, str]) -> None:
    settings, redis_url = shared
    with open_context(settings) as ctx:
        key = role_key(ctx, "app-developer")
        config.add_route(
            ctx,
            config.RouteSpec("free", (Target("demo", "demo-echo", 100),), GuardPolicy.all_off()),
        )
    port = free_port()
    proc = _start(_env(settings, redis_url), port, workers=2)
    try:
        assert all(_chat(port, key, "free").status_code == 200 for _ in range(6))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
