"""Ledger benchmarks: durable appends/s on SQLite and PostgreSQL, verify time for 1M events.

    make bench                      # everything (about two minutes on 2 cores)
    python bench/ledger_bench.py --events 200000 --skip-postgres

Each run uses a fresh data directory (and a fresh PostgreSQL database, dropped
afterwards). Appends are durable: SQLite in WAL mode with synchronous=FULL, each
batch committed before the call returns. Results are printed as a Markdown table
with the machine and date, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vallum.config import load_settings
from vallum.context import Context, initialise, open_context
from vallum.ledger.event import Record
from vallum.ledger.verify import verify_ledger

PG_ADMIN = os.environ.get("VALLUM_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


@contextmanager
def installation(database_url: str | None) -> Iterator[Context]:
    with tempfile.TemporaryDirectory(prefix="vallum-bench-") as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", database_url=database_url)
        initialise(settings)
        ctx = open_context(settings)
        try:
            yield ctx
        finally:
            ctx.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg

    name = f"vallum_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def records(n: int) -> list[Record]:
    return [
        Record(
            "apikey:vk_bench",
            "gateway.request",
            f"route:gpt-clinical#{i}",
            data={"tokens": 512, "latency_us": 1834, "prompt_sha256": "ab" * 32, "i": i},
        )
        for i in range(n)
    ]


def batched(ctx: Context, seconds: float, batch: int = 1000) -> float:
    recs = records(batch)
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        ctx.ledger.append_many(recs)
        n += batch
    return n / (time.perf_counter() - start)


def concurrent(ctx: Context, threads: int = 64, each: int = 200) -> float:
    def work() -> None:
        for i in range(each):
            ctx.ledger.append("apikey:vk_bench", "gateway.request", f"route:x#{i}", data={"i": i})

    pool = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return threads * each / (time.perf_counter() - start)


def fill_and_verify(ctx: Context, n: int) -> tuple[float, float]:
    recs = records(5000)
    start = time.perf_counter()
    while ctx.ledger.append_many(recs)[-1].seq < n:
        pass
    fill = time.perf_counter() - start
    start = time.perf_counter()
    report = verify_ledger(
        ctx.engine,
        ctx.ledger.public_key,
        ctx.ledger.origin,
        checkpoint_events=ctx.settings.ledger_checkpoint_events,
    )
    took = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"verification failed: {report.first}")
    return fill, took


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="Duration of each append run.")
    ap.add_argument("--events", type=int, default=1_000_000, help="Ledger size to verify.")
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()

    rows: list[tuple[str, str, str]] = []
    print(f"# Ledger benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# {machine()}")

    with installation(None) as ctx:
        rows.append(
            (
                "SQLite",
                "append_many, 1000 events per call",
                f"{batched(ctx, args.seconds):,.0f} events/s",
            )
        )
        rows.append(
            ("SQLite", "64 threads, one append each call", f"{concurrent(ctx):,.0f} events/s")
        )
    with installation(None) as ctx:
        fill, took = fill_and_verify(ctx, args.events)
        rows.append(("SQLite", f"fill {args.events:,} events (append_many 5000)", f"{fill:.1f} s"))
        rows.append(("SQLite", f"`audit verify` of {args.events:,} events", f"{took:.2f} s"))
    if not args.skip_postgres:
        import psycopg

        with psycopg.connect(PG_ADMIN) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        label = f"PostgreSQL {version[0] if version else '?'}"
        with postgres_database() as url, installation(url) as ctx:
            rows.append(
                (
                    label,
                    "append_many, 1000 events per call",
                    f"{batched(ctx, args.seconds):,.0f} events/s",
                )
            )
            rows.append(
                (label, "64 threads, one append each call", f"{concurrent(ctx):,.0f} events/s")
            )
        with postgres_database() as url, installation(url) as ctx:
            fill, took = fill_and_verify(ctx, args.events)
            rows.append((label, f"fill {args.events:,} events (append_many 5000)", f"{fill:.1f} s"))
            rows.append((label, f"`audit verify` of {args.events:,} events", f"{took:.2f} s"))
    print()
    print("| engine | measurement | result |")
    print("| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
