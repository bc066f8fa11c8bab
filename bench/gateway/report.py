"""Markdown tables for docs/benchmarks.md from the benchmark's results."""

from __future__ import annotations

import datetime as dt
import platform
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from gateway.loadgen import Result

MOCK = "mock (direct)"
LITELLM = "litellm"
GUARDS_ON = "vallum, guards on"
GUARDS_OFF = "vallum, guards off"


@dataclass(frozen=True)
class Row:
    """One target in one mode: the latency run (1 connection) and the throughput run."""

    target: str
    stream: bool
    latency: Result
    throughput: Result


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {platform.python_implementation()} {platform.python_version()}"


def speed_probe() -> float:
    """Microseconds for ``sum(range(1000))``, best of 5 x 2,000: how fast the machine is now."""
    import timeit

    return min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6


def header(versions: dict[str, str]) -> str:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    extra = ", ".join(f"{k} {v}" for k, v in versions.items())
    return f"{today}, {machine()}, SQLite {sqlite3.sqlite_version}, {extra}"


def _ms(x: float) -> str:
    return "n/a" if x != x else f"{x:.2f}"


def table(rows: list[Row], concurrency: int) -> str:
    base = {r.stream: r for r in rows if r.target == MOCK}
    out = [
        f"| target | mode | req/s, {concurrency} conn | p50 / p99 ms, {concurrency} conn "
        "| p50 / p99 ms, 1 conn | added p50 / p99 ms, 1 conn | server CPU ms/req | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        mock = base.get(r.stream)
        if mock is None or r.target == MOCK:
            added = "-"
        else:
            added = (
                f"{_ms(r.latency.p50_ms - mock.latency.p50_ms)} / "
                f"{_ms(r.latency.p99_ms - mock.latency.p99_ms)}"
            )
        bad = sum(r.latency.errors.values()) + sum(r.throughput.errors.values())
        non_2xx = sum(
            n for res in (r.latency, r.throughput) for s, n in res.statuses.items() if s >= 300
        )
        out.append(
            f"| {r.target} | {'stream' if r.stream else 'plain'} | {r.throughput.rps:,.0f} "
            f"| {_ms(r.throughput.p50_ms)} / {_ms(r.throughput.p99_ms)} "
            f"| {_ms(r.latency.p50_ms)} / {_ms(r.latency.p99_ms)} | {added} "
            f"| {_ms(r.throughput.cpu_ms_per_request)} | {bad + non_2xx} |"
        )
    return "\n".join(out)


def verdicts(rows: list[Row]) -> str:
    """The issue's targets: added p50 <= 1.5 ms with guards on; >= 5x LiteLLM's req/s."""
    by = {(r.target, r.stream): r for r in rows}
    lines = []
    for stream in (False, True):
        mode = "streaming" if stream else "plain"
        mock, on, ll = (
            by.get((MOCK, stream)),
            by.get((GUARDS_ON, stream)),
            by.get((LITELLM, stream)),
        )
        off = by.get((GUARDS_OFF, stream))
        if mock and on:
            added = on.latency.p50_ms - mock.latency.p50_ms
            verdict = "met" if added <= 1.5 else f"missed by {added - 1.5:.2f} ms"
            lines.append(
                f"- {mode}: Vallum (guards on) added p50 {added:.2f} ms "
                f"(target <= 1.5 ms: {verdict})"
            )
        if mock and ll:
            added_ll = ll.latency.p50_ms - mock.latency.p50_ms
            lines.append(f"- {mode}: LiteLLM added p50 {added_ll:.2f} ms")
            if on:
                ratio = added_ll / max(on.latency.p50_ms - mock.latency.p50_ms, 1e-9)
                lines.append(
                    f"- {mode}: LiteLLM adds {ratio:.1f}x the latency Vallum (guards on) adds"
                )
        for name, r in (("guards on", on), ("guards off", off)):
            if r and ll and ll.throughput.rps > 0:
                ratio = r.throughput.rps / ll.throughput.rps
                verdict = "met" if ratio >= 5 else f"missed ({ratio:.1f}x of 5x)"
                if name == "guards off":
                    verdict = "for reference"
                cpu_ratio = ll.throughput.cpu_ms_per_request / r.throughput.cpu_ms_per_request
                lines.append(
                    f"- {mode}: Vallum ({name}) {r.throughput.rps:,.0f} req/s vs LiteLLM "
                    f"{ll.throughput.rps:,.0f} req/s = {ratio:.1f}x (target >= 5x: {verdict}); "
                    f"per CPU-second of the server {cpu_ratio:.1f}x"
                )
    return "\n".join(lines)
