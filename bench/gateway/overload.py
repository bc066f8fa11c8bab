"""Overload: a burst at ``--factor`` times the sustainable rate against one gateway worker.

1. Sustainable rate R: closed loop with ``--concurrency`` connections on the guarded
   route for ``--seconds``.
2. Burst: open loop at factor x R for ``--burst-seconds`` (at most 1,000 requests in
   flight; each waits at most 10 s), while the worker's RSS is sampled every 0.2 s.
3. Recovery: single requests every 0.25 s until one is answered 200 within 3x the
   pre-burst p50 (at most 60 s), then a 1-connection run for ``--seconds`` that must
   be all 200 with a p50 within 3x (+5 ms) of the pre-burst one.
4. The worker is stopped (it flushes its audit queue) and the ledger exported: every
   answer the gateway gave must have its ``gateway.request`` / ``gateway.blocked`` /
   ``gateway.rate_limited`` event.

Shedding means answering 429 or 503 quickly instead of queueing without bound.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gateway import vallum_target
from gateway.loadgen import (
    Connection,
    Result,
    Tally,
    Target,
    closed_loop,
    open_loop,
    percentile,
    request_bytes,
)
from gateway.servers import HOST, Server, start_mock, wait_ready

MB = 1024 * 1024
BURST_TIMEOUT = 10.0
RECOVERY_LIMIT = 60.0


class RssSampler(threading.Thread):
    """Samples a server's resident memory every ``every`` seconds until stopped."""

    def __init__(self, server: Server, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.every = every
        self.samples: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set() and len(self.samples) < 100_000:
            self.samples.append(self.server.rss_bytes())
            self.done.wait(self.every)


@dataclass(frozen=True)
class Recovery:
    """How long until a single request was served about as fast as before the burst."""

    seconds: float | None
    probes: Counter[int]
    abandoned: int
    check: Result | None


async def _recover(target: Target, baseline_p50_ms: float, seconds: float) -> Recovery:
    """Single requests every 0.25 s until one is answered 200 within 3x the baseline p50."""
    started = time.perf_counter()
    conn = Connection(target)
    probes: Counter[int] = Counter()
    abandoned = 0
    good = 3 * baseline_p50_ms / 1000 + 0.005
    took: float | None = None
    try:
        n = 0
        while time.perf_counter() - started < RECOVERY_LIMIT:
            n += 1
            sent = time.perf_counter()
            try:
                async with asyncio.timeout(5):
                    status, _ = await conn.send(request_bytes(target, 10_000_000 + n, False))
                probes[status] += 1
                if status == 200 and time.perf_counter() - sent <= good:
                    took = time.perf_counter() - started
                    break
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                conn.close()
                abandoned += 1
            await asyncio.sleep(0.25)
    finally:
        conn.close()
    if took is None:
        return Recovery(None, probes, abandoned, None)
    check = await closed_loop(target, stream=False, concurrency=1, seconds=seconds, warmup=0)
    return Recovery(took, probes, abandoned, check)


def run_overload(args: argparse.Namespace) -> int:
    guards = tuple(g for g in args.guards.split(",") if g)
    with tempfile.TemporaryDirectory(prefix="vallum-gw-overload-") as tmp:
        work = Path(tmp)
        mock = start_mock(work)
        gw: Server | None = None
        try:
            wait_ready(mock, Target("mock", HOST, mock.port, "mock-model"))
            inst = vallum_target.install(work, mock.port, guards, args.route_rpm)
            gw = vallum_target.start_gateway(inst, work)
            target = vallum_target.targets(inst, gw.port)[1]
            wait_ready(gw, target)
            probes = 2  # wait_ready's plain and streamed requests
            burst_target = target
            if args.route_rpm:
                burst_target = vallum_target.limited_target(inst, gw.port)
                wait_ready(gw, burst_target)
                probes += 2
            baseline = asyncio.run(
                closed_loop(target, stream=False, concurrency=1, seconds=args.seconds, warmup=0)
            )
            sustained = asyncio.run(
                closed_loop(
                    target,
                    stream=False,
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    warmup=args.warmup,
                )
            )
            rate = sustained.rps * args.factor
            rss_before = gw.rss_bytes()
            sampler = RssSampler(gw)
            sampler.start()
            burst_tally = Tally()
            burst_started = time.perf_counter()
            burst = asyncio.run(
                open_loop(
                    burst_target,
                    stream=False,
                    rate=rate,
                    seconds=args.burst_seconds,
                    wait_limit=BURST_TIMEOUT,
                    tally=burst_tally,
                )
            )
            burst_took = time.perf_counter() - burst_started
            recovery = asyncio.run(_recover(target, baseline.p50_ms, args.seconds))
            sampler.done.set()
            sampler.join()
            rss_after = gw.rss_bytes()
            gw.stop()
            counts = vallum_target.ledger_counts(inst)
        finally:
            if gw is not None:
                gw.stop()
            mock.stop()
    answered: Counter[int] = Counter(sustained.statuses)
    answered.update(baseline.statuses)
    answered.update(burst.statuses)
    answered.update(recovery.probes)
    if recovery.check is not None:
        answered.update(recovery.check.statuses)
    answered[200] += probes
    total_answered = sum(answered.values())
    events = sum(counts.values())
    shed = sum(n for s, n in burst.statuses.items() if s in (429, 503))
    refused = sorted(burst_tally.refused)
    peak = max(sampler.samples, default=rss_before)
    print(f"## Gateway overload, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    limit = (
        f"the burst goes to a copy of the route limited to {args.route_rpm} req/min"
        if args.route_rpm
        else "no rate limit set"
    )
    print(f"Guards on: {','.join(guards)}; {limit}; one worker; SQLite ledger.\n")
    print("| measure | value |\n| --- | --- |")
    print(f"| sustainable rate ({args.concurrency} conn) | {sustained.rps:,.0f} req/s |")
    print(
        f"| burst offered | {rate:,.0f} req/s ({args.factor:g}x) for {args.burst_seconds:g} s; "
        f"{burst.skipped:,} not sent (client cap of 1,000 in flight) |"
    )
    print(f"| burst answers by status | {dict(sorted(burst.statuses.items()))} |")
    print(f"| burst client-side failures | {burst.errors or 'none'} |")
    print(
        f"| burst 200s | {burst.completed:,} in the window, p50 {burst.p50_ms:.0f} ms, "
        f"p99 {burst.p99_ms:.0f} ms |"
    )
    if refused:
        r50, r99 = percentile(refused, 0.5) * 1000, percentile(refused, 0.99) * 1000
        print(
            f"| shed answers (429/503) | {shed:,}; answered in p50 {r50:.1f} ms, p99 {r99:.1f} ms |"
        )
    print(f"| burst wall time incl. draining | {burst_took:.1f} s |")
    print(
        f"| worker RSS | {rss_before / MB:.0f} MB before, peak {peak / MB:.0f} MB, "
        f"{rss_after / MB:.0f} MB after recovery |"
    )
    if recovery.seconds is None or recovery.check is None:
        print(f"| recovery | none within {RECOVERY_LIMIT:.0f} s |")
    else:
        c = recovery.check
        print(
            f"| recovery | back to a normal answer time {recovery.seconds:.1f} s after the "
            f"burst; then {c.statuses} p50 {c.p50_ms:.1f} ms (before the burst "
            f"{baseline.p50_ms:.1f} ms), 1 conn |"
        )
    print(f"| answers (whole run) | {total_answered:,} {dict(sorted(answered.items()))} |")
    print(
        f"| ledger gateway events | {events:,} {dict(counts)} (answers the client gave up "
        "on may have theirs too) |"
    )
    ok_shed = shed > 0
    ok_rss = peak - rss_before <= args.rss_growth_mb * MB
    ok_recover = (
        recovery.check is not None
        and recovery.check.completed > 0
        and set(recovery.check.statuses) == {200}
        and recovery.check.p50_ms <= 3 * baseline.p50_ms + 5
    )
    abandoned = sum(burst.errors.values()) + recovery.abandoned
    ok_ledger = total_answered <= events <= total_answered + abandoned
    print()
    for name, ok in (
        ("sheds with 429/503", ok_shed),
        (f"RSS growth <= {args.rss_growth_mb} MB", ok_rss),
        ("recovers by itself", ok_recover),
        ("one ledger event per answer", ok_ledger),
    ):
        print(f"- {name}: {'yes' if ok else 'NO'}")
    return 0 if ok_shed and ok_rss and ok_recover and ok_ledger else 1
