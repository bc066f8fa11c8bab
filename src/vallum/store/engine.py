"""Database engines: SQLite (WAL, durable) by default, PostgreSQL to scale out."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from vallum.errors import ConfigError

#: Execution option naming the SQLite BEGIN mode; the ledger writer uses IMMEDIATE
#: so that two writers serialise on the write lock instead of failing to upgrade.
SQLITE_BEGIN = "vallum_sqlite_begin"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs that name no driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool: bool = True) -> Engine:
    """An engine for ``url``; SQLite gets WAL, synchronous=FULL and a busy timeout."""
    url = normalise_url(url)
    kwargs: dict[str, Any] = {}
    if not pool:
        kwargs["poolclass"] = NullPool
    try:
        if url.startswith("sqlite"):
            engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
            )
            _configure_sqlite(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True, **kwargs)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigError(
            "database_url is not a usable SQLAlchemy URL",
            hint="use sqlite:///PATH or postgresql://HOST/DB",
        ) from exc
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # Autocommit at the driver level; SQLAlchemy's "begin" hook below issues
        # BEGIN itself, so we control DEFERRED vs IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed transaction survives power loss, not just a crash.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        if mode not in {"DEFERRED", "IMMEDIATE"}:
            raise ValueError(f"bad SQLite begin mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that reads, then writes.

    On SQLite it takes the write lock up front (BEGIN IMMEDIATE), so concurrent
    writers wait for each other (busy_timeout) instead of failing to upgrade a
    read lock with "database is locked". On PostgreSQL it is a plain transaction.
    """
    with engine.connect() as raw:
        conn = raw.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with conn.begin():
            yield conn
