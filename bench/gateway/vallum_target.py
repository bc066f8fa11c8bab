"""Vallum's gateway as a target: a fresh data directory set up through the CLI, one worker.

Two routes to the same mock vendor: ``bench-open`` with every guard off and no
canary, and ``bench-guarded`` with the chosen guards on: PHI (tokenize), injection
(block), secrets (redact), and leak (block, with the system-prompt canary). The
vendor has no BAA, so the PHI guard must run on every prompt before it may be
forwarded.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gateway.loadgen import Target
from gateway.servers import HOST, Server, free_port, start

VALLUM = [str(Path(sys.executable).parent / "vallum")]
MOCK_KEY_ENV = "BENCH_MOCK_UPSTREAM_KEY"
OPEN_ROUTE = "bench-open"
GUARDED_ROUTE = "bench-guarded"
LIMITED_ROUTE = "bench-limited"
#: The action of each guard on the guarded route (the issue's defaults).
GUARD_ACTIONS = {"phi": "tokenize", "injection": "block", "secrets": "redact", "leak": "block"}
GATEWAY_ACTIONS = ("gateway.request", "gateway.blocked", "gateway.rate_limited")


@dataclass(frozen=True)
class Installation:
    data_dir: Path
    api_key: str

    def vallum(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [*VALLUM, "--data-dir", str(self.data_dir), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            cmd = " ".join(args[:3])
            raise SystemExit(f"vallum {cmd} failed ({done.returncode}): {done.stderr[-800:]}")
        return done.stdout


def install(
    workdir: Path,
    mock_port: int,
    guards: tuple[str, ...] = tuple(GUARD_ACTIONS),
    guarded_rpm: int = 0,
) -> Installation:
    """``vallum init``, a vendor for the mock, the two routes, a service account and key.

    ``guards`` are switched on in the guarded route (the others are off there); the
    system-prompt canary is added when the leak guard is on. With ``guarded_rpm`` a
    third route, ``bench-limited``, is the guarded one with that requests-per-minute
    limit.
    """
    data = workdir / "vallum-data"
    inst = Installation(data, "")
    inst.vallum("init")
    inst.vallum(
        "vendors", "add", "mock", "--kind", "openai",
        "--base-url", f"http://{HOST}:{mock_port}/v1",
        "--baa", "no", "--region", "us", "--credential-env", MOCK_KEY_ENV,
    )  # fmt: skip
    unknown = set(guards) - set(GUARD_ACTIONS)
    if unknown:
        raise SystemExit(f"unknown guard(s) {sorted(unknown)}; guards are {list(GUARD_ACTIONS)}")
    on = {g: (a if g in guards else "off") for g, a in GUARD_ACTIONS.items()}
    add_route(inst, OPEN_ROUTE, dict.fromkeys(GUARD_ACTIONS, "off"), canary=False)
    add_route(inst, GUARDED_ROUTE, on, canary="leak" in guards)
    if guarded_rpm:
        add_route(inst, LIMITED_ROUTE, on, canary="leak" in guards, rpm=guarded_rpm)
    inst.vallum("users", "create", "bench-app", "--service", "--role", "app-developer")
    out = inst.vallum(
        "keys", "create", "--name", "bench", "--owner", "bench-app",
        "--scope", "gateway.use", "--format", "json",
    )  # fmt: skip
    key = _find_secret(json.loads(out))
    return Installation(data, key)


def add_route(
    inst: Installation, alias: str, guards: dict[str, str], canary: bool, rpm: int = 0
) -> None:
    args = ["routes", "add", alias, "--vendor", "mock", "--model", "mock-model"]
    args += [a for g, action in guards.items() for a in ("--guard", f"{g}={action}")]
    args += [] if canary else ["--no-canary"]
    args += ["--rpm", str(rpm)] if rpm else []
    inst.vallum(*args)


def _find_secret(payload: object) -> str:
    """The one ``vk_`` string in ``keys create --format json`` output."""
    if isinstance(payload, str) and payload.startswith("vk_") and len(payload) > 20:
        return payload
    items: list[object] = []
    if isinstance(payload, dict):
        items = list(payload.values())
    elif isinstance(payload, list):
        items = list(payload)
    for item in items:
        try:
            return _find_secret(item)
        except LookupError:
            continue
    raise LookupError("no vk_ secret in `vallum keys create` output")


def start_gateway(inst: Installation, workdir: Path, name: str = "vallum") -> Server:
    port = free_port()
    argv = [*VALLUM, "--data-dir", str(inst.data_dir), "gateway", "--host", HOST]
    argv += ["--port", str(port), "--workers", "1"]
    env = {MOCK_KEY_ENV: "sk-mock"}
    return start(name, argv, port, workdir, env=env)


def targets(inst: Installation, port: int) -> tuple[Target, Target]:
    return (
        Target("vallum, guards off", HOST, port, OPEN_ROUTE, api_key=inst.api_key),
        Target("vallum, guards on", HOST, port, GUARDED_ROUTE, api_key=inst.api_key),
    )


def limited_target(inst: Installation, port: int) -> Target:
    return Target("vallum, limited", HOST, port, LIMITED_ROUTE, api_key=inst.api_key)


def ledger_counts(inst: Installation) -> Counter[str]:
    """Gateway events in the ledger, by action (``vallum audit export --format jsonl``)."""
    return ledger_summary(inst)[0]


def ledger_summary(inst: Installation) -> tuple[Counter[str], dict[str, dict[str, float]]]:
    """Gateway events by action, and per route the median time split of its answers.

    The split, from each ``gateway.request`` event's integer microseconds: ``total``
    (``latency_us``, handler entry to the event), ``upstream`` (waiting for the
    vendor), ``guards`` (in the detectors, measured in-process) and ``own`` (the
    rest: the gateway's own work inside the handler). In milliseconds.
    """
    counts: Counter[str] = Counter()
    times: dict[str, dict[str, list[int]]] = {}
    for line in inst.vallum("audit", "export", "--format", "jsonl").splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        action = event.get("action", "")
        if action not in GATEWAY_ACTIONS:
            continue
        counts[action] += 1
        data = event.get("data") or {}
        if action != "gateway.request" or data.get("status") != 200 or "route" not in data:
            continue
        total, up, guard = data["latency_us"], data["upstream_us"], data.get("guard_us", 0)
        t = times.setdefault(data["route"], {"total": [], "upstream": [], "guards": [], "own": []})
        t["total"].append(total)
        t["upstream"].append(up)
        t["guards"].append(guard)
        t["own"].append(total - up - guard)
    split = {
        route: {k: statistics.median(v) / 1000 for k, v in t.items()} for route, t in times.items()
    }
    return counts, split
