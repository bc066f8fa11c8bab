"""Shared fixtures: a real installation on SQLite and on PostgreSQL.

PostgreSQL and Redis tests run against the real servers. Outside CI they skip
with a visible reason when a server is unreachable; with CI=true they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vallum.config import VallumSettings, load_settings
from vallum.context import Context, initialise, open_context

PG_URL = os.environ.get("VALLUM_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("VALLUM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient VALLUM_* settings leak into a test; cwd has no vallum.toml."""
    for key in list(os.environ):
        if key.startswith("VALLUM_") and not key.startswith("VALLUM_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def _unavailable(what: str, why: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI but unreachable: {why}")
    pytest.skip(f"{what} unreachable ({why}); set CI=true to make this a failure")


def _pg_admin_url() -> str:
    return PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable("PostgreSQL", str(exc).splitlines()[0])
    return PG_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"vallum_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _unavailable("Redis", str(exc))
    return REDIS_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """None means the default (SQLite in the data directory)."""
    if backend == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return None


def make_settings(
    data_dir: Path, database_url: str | None = None, **extra: object
) -> VallumSettings:
    return load_settings(data_dir=data_dir, database_url=database_url, **extra)


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> VallumSettings:
    return make_settings(tmp_path / "data", database_url, ledger_checkpoint_events=10)


@pytest.fixture
def ctx(settings: VallumSettings) -> Iterator[Context]:
    """An initialised installation (SQLite and PostgreSQL) and a context on it."""
    initialise(settings)
    context = open_context(settings)
    try:
        yield context
    finally:
        context.close()
