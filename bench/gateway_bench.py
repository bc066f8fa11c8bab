"""Gateway benchmark: Vallum's gateway against a fast mock upstream and LiteLLM's proxy.

    make bench                                      # ledger and gateway benchmarks
    python bench/gateway_bench.py                   # all four targets, 5 s per run, 2 rounds
    python bench/gateway_bench.py --seconds 2 --rounds 1 --skip-litellm
    python bench/gateway_bench.py --overload        # 10x burst: shedding, memory, recovery, ledger

One run measures, with the same load generator (bench/gateway/loadgen.py):

(a) the mock upstream directly, (b) Vallum's gateway with every guard off, (c) Vallum
with the PHI, injection and secrets guards on (``--guards``), (d) LiteLLM's proxy with its
defaults (its own venv, bench/.venv-litellm, created on first use). One worker each,
on loopback. Each request carries a 1 KB prompt; streaming runs read the SSE stream
to ``data: [DONE]``.

For each target and mode: a latency run with one connection (added latency = the
target's p50/p99 minus the mock's, same run) and a throughput run with
``--concurrency`` connections (req/s). Targets are interleaved and every run is
repeated ``--rounds`` times, so background load on a shared machine falls on all of
them alike. Afterwards the ledger of the Vallum install is exported and its gateway
events are compared with the number of answers Vallum gave.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import replace
from importlib.metadata import version as pkg_version
from pathlib import Path

from gateway import report
from gateway.loadgen import Result, Target, closed_loop, merge
from gateway.servers import HOST, Server, start_mock, wait_ready

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0, help="Measured seconds per run.")
    p.add_argument("--warmup", type=float, default=1.0, help="Unmeasured seconds before each.")
    p.add_argument("--rounds", type=int, default=2, help="Repeat every run this many times.")
    p.add_argument("--concurrency", type=int, default=32, help="Connections, throughput runs.")
    p.add_argument("--skip-litellm", action="store_true", help="Leave out LiteLLM's proxy.")
    p.add_argument("--skip-vallum", action="store_true", help="Leave out Vallum's gateway.")
    p.add_argument(
        "--guards",
        default="phi,injection,secrets",
        help="Guards on in Vallum's guarded route (comma-separated).",
    )
    p.add_argument("--overload", action="store_true", help="Run the overload test instead.")
    p.add_argument("--burst-seconds", type=float, default=10.0, help="Overload burst length.")
    p.add_argument("--factor", type=float, default=10.0, help="Overload: times sustainable rate.")
    p.add_argument(
        "--route-rpm", type=int, default=0, help="Overload: requests/min limit on the route."
    )
    p.add_argument(
        "--rss-growth-mb", type=int, default=256, help="Overload: allowed RSS growth of the worker."
    )
    args = p.parse_args(argv)
    if not (0 < args.seconds <= 120 and 0 <= args.warmup <= 30 and 1 <= args.rounds <= 10):
        p.error("--seconds in (0, 120], --warmup in [0, 30], --rounds in [1, 10]")
    if not 1 <= args.concurrency <= 512:
        p.error("--concurrency in [1, 512]")
    return args


def measure(
    targets: list[tuple[Target, Server]], args: argparse.Namespace
) -> dict[tuple[str, bool, str], Result]:
    """Latency (1 connection) and throughput runs for every target, interleaved, in rounds.

    Besides wall-clock figures, each run records the CPU time the target's server
    process used, which the machine's other load inflates far less.
    """
    runs: dict[tuple[str, bool, str], list[Result]] = {}
    for round_ in range(args.rounds):
        for stream in (False, True):
            for phase, conns in (("latency", 1), ("throughput", args.concurrency)):
                for target, server in targets:
                    cpu = server.cpu_seconds()
                    result = asyncio.run(
                        closed_loop(
                            target,
                            stream=stream,
                            concurrency=conns,
                            seconds=args.seconds,
                            warmup=args.warmup,
                        )
                    )
                    result = replace(result, cpu_seconds=server.cpu_seconds() - cpu)
                    runs.setdefault((target.name, stream, phase), []).append(result)
                    print(
                        f"round {round_ + 1} {target.name:20} {'stream' if stream else 'plain':6} "
                        f"{phase:10} {result.rps:9,.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                        f"p99 {result.p99_ms:7.2f} ms  "
                        f"cpu {result.cpu_ms_per_request:6.2f} ms/req  "
                        f"{result.statuses} {result.errors or ''}",
                        file=sys.stderr,
                    )
    return {k: merge(v) for k, v in runs.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.overload:
        from gateway.overload import run_overload

        return run_overload(args)
    servers: list[Server] = []
    versions = {"vallum": pkg_version("vallum")}
    with tempfile.TemporaryDirectory(prefix="vallum-gw-bench-") as tmp:
        work = Path(tmp)
        try:
            mock = start_mock(work)
            servers.append(mock)
            mock_target = Target(report.MOCK, HOST, mock.port, "mock-model")
            wait_ready(mock, mock_target)
            targets = [(mock_target, mock)]
            inst = None
            if not args.skip_vallum:
                from gateway import vallum_target

                guards = tuple(g for g in args.guards.split(",") if g)
                inst = vallum_target.install(work, mock.port, guards)
                gw = vallum_target.start_gateway(inst, work)
                servers.append(gw)
                vallum_targets = vallum_target.targets(inst, gw.port)
                for t in vallum_targets:
                    wait_ready(gw, t)
                targets += [(t, gw) for t in vallum_targets]
            if not args.skip_litellm:
                from gateway import litellm_peer

                ll, ll_target = litellm_peer.start_litellm(mock.port, work)
                servers.append(ll)
                wait_ready(ll, ll_target, timeout=180)
                targets.append((ll_target, ll))
                versions["LiteLLM"] = litellm_peer.version()
            probe_before = report.speed_probe()
            started = time.time()
            results = measure(targets, args)
            took = time.time() - started
            probe_after = report.speed_probe()
        finally:
            for s in reversed(servers):
                s.stop()
        rows = [
            report.Row(t.name, stream, results[(t.name, stream, "latency")],
                       results[(t.name, stream, "throughput")])
            for stream in (False, True)
            for t, _ in targets
        ]  # fmt: skip
        ledger = ""
        if inst is not None:
            from gateway import vallum_target

            counts, split = vallum_target.ledger_summary(inst)
            answered = sum(r.latency.answered + r.throughput.answered for r in rows
                           if r.target.startswith("vallum"))  # fmt: skip
            ledger = (
                f"Ledger: {sum(counts.values()):,} gateway events ({dict(counts)}) for "
                f"{answered:,} measured answers plus the readiness probes.\n\n"
                "Median time split of Vallum's answers, from their ledger events (ms; "
                "`own` = in the handler minus the vendor and the detectors):\n\n"
                "| route | in handler | waiting for the vendor | detectors | own |\n"
                "| --- | --- | --- | --- | --- |\n"
                + "\n".join(
                    f"| {route} | {t['total']:.3f} | {t['upstream']:.3f} | "
                    f"{t['guards']:.3f} | {t['own']:.3f} |"
                    for route, t in sorted(split.items())
                )
            )
    cmd = "python bench/gateway_bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"### {report.header(versions)}\n")
    print(
        f"`{cmd.strip()}`: {args.seconds:g} s per run after {args.warmup:g} s warm-up, "
        f"{args.rounds} round(s), 1 KB prompts, one worker per target; {took:.0f} s in all. "
        f"Speed probe (`sum(range(1000))`, best of 5): {probe_before:.1f} us before, "
        f"{probe_after:.1f} us after.\n"
    )
    if not args.skip_vallum:
        print(f"Guards on in `vallum, guards on`: {args.guards}.\n")
    print(report.table(rows, args.concurrency))
    print()
    print(report.verdicts(rows))
    if ledger:
        print(f"\n{ledger}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"gateway-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            [
                {
                    "target": r.target, "stream": r.stream, "phase": phase,
                    "rps": res.rps, "p50_ms": res.p50_ms, "p99_ms": res.p99_ms,
                    "completed": res.completed, "seconds": res.seconds,
                    "cpu_ms_per_request": res.cpu_ms_per_request,
                    "statuses": res.statuses, "errors": res.errors,
                }
                for r in rows
                for phase, res in (("latency", r.latency), ("throughput", r.throughput))
            ],
            indent=1,
        )
    )  # fmt: skip
    print(f"\n(raw figures: {out})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
