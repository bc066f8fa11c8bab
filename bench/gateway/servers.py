"""Start, probe and stop the benchmark's server processes (loopback only)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.loadgen import Connection, Target, request_bytes

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A child process listening on a loopback port, with its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def rss_bytes(self) -> int:
        """Resident memory of the process and its children (uvicorn workers), in bytes."""
        total = 0
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process and its children so far, all threads."""
        total = 0.0
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return total

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``grace`` seconds (a gateway flushes its audit queue), then kill."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(p) for p in text.split()]
    return kids + [g for k in kids for g in _children(k)]


def start(
    name: str,
    argv: list[str],
    port: int,
    logdir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    log = logdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    return Server(name, proc, port, log)


def start_mock(logdir: Path) -> Server:
    port = free_port()
    argv = [sys.executable, str(HERE / "mock_upstream.py"), "--port", str(port)]
    return start("mock", argv, port, logdir)


async def _probe(target: Target, stream: bool) -> tuple[int, bytes]:
    conn = Connection(target)
    try:
        async with asyncio.timeout(30):
            return await conn.send(request_bytes(target, 0, stream))
    finally:
        conn.close()


def wait_ready(server: Server, target: Target, timeout: float = 120.0) -> None:
    """Wait until a chat completion (plain and streamed) succeeds, or fail with its log."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} exited ({server.proc.returncode}):\n{server.tail()}")
        try:
            status, body = asyncio.run(_probe(target, False))
            if status == 200:
                status, body = asyncio.run(_probe(target, True))
                if status == 200 and b"data: [DONE]" in body:
                    return
            last = f"HTTP {status}: {body[:300]!r}"
            if 400 <= status < 500 and status != 429:
                break  # refused for good: no point in waiting
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as e:
            last = type(e).__name__
        time.sleep(0.5)
    server.stop()
    raise SystemExit(f"{server.name} not ready ({last}):\n{server.tail()}")
