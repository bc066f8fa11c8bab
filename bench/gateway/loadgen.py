"""An HTTP/1.1 load generator for OpenAI-compatible chat completions (raw asyncio).

Closed loop: N connections, each sends its next request as soon as the previous
answer (for streams: the whole SSE stream up to ``data: [DONE]``) has been read.
Open loop: requests start at a fixed rate whatever the answers, up to a cap of
connections in flight (arrivals beyond the cap are counted, not sent).

Every loop is bounded by a duration and a request count; targets are loopback only.
Latency is measured from writing the request to reading the last byte of the answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field

PROMPT_BYTES = 1024
REQUEST_TIMEOUT = 30.0
FILLER = (
    "Please summarise the following discharge instructions in plain language for a "
    "reader with no medical training. Rest as much as you can during the first week, "
    "drink plenty of water, take the prescribed medicine with food, avoid lifting "
    "anything heavy, and call the clinic if the pain gets worse or a fever starts. "
    "Keep the wound clean and dry, change the dressing once a day, and do not bathe "
    "until the stitches are removed at the follow-up visit. Walk a little every day "
    "and increase the distance slowly. "
)


def _letters(n: int, width: int = 7) -> str:
    """``n`` in base 26 with the letters a-z (digits could look like a phone number)."""
    out = []
    for _ in range(width):
        n, r = divmod(n, 26)
        out.append(chr(ord("a") + r))
    return "".join(reversed(out))


_BASE = [0]


def _next_base(count: int) -> int:
    """The first prompt number of a run: runs never reuse each other's prompts.

    The gateway remembers texts its guards found clean; a prompt sent again in a
    later run would skip the detectors and flatter the guarded figures.
    """
    base = _BASE[0]
    _BASE[0] += count
    return base


def prompt_text(n: int, size: int = PROMPT_BYTES) -> str:
    """A benign English prompt of exactly ``size`` bytes, marked so no two are equal.

    It holds nothing a PHI, secrets or injection detector should flag (the bench
    checks that), so every guard runs its full scan and lets the prompt through.
    """
    head = f"[draft {_letters(n)}] "
    text = head + FILLER * (size // len(FILLER) + 1)
    return text[:size]


@dataclass(frozen=True)
class Target:
    """Where to send requests: a loopback host and port, the path, key and model."""

    name: str
    host: str
    port: int
    model: str
    api_key: str = "sk-bench"
    path: str = "/v1/chat/completions"

    def __post_init__(self) -> None:
        if not (self.host.startswith("127.") or self.host in ("localhost", "::1")):
            raise ValueError("benchmark targets must be on the loopback interface")


def request_bytes(target: Target, n: int, stream: bool) -> bytes:
    body = json.dumps(
        {
            "model": target.model,
            "messages": [
                {"role": "system", "content": "You are a careful clinical writing assistant."},
                {"role": "user", "content": prompt_text(n)},
            ],
            "max_tokens": 64,
            "stream": stream,
        },
        separators=(",", ":"),
    ).encode()
    return (
        f"POST {target.path} HTTP/1.1\r\nhost: {target.host}:{target.port}\r\n"
        f"authorization: Bearer {target.api_key}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


class ProtocolError(Exception):
    """The server's answer could not be parsed as HTTP/1.1."""


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closed it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(
                self.target.host, self.target.port, limit=1 << 20
            )
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request; return the status and the whole (de-chunked) body."""
        reader, writer = await self._open()
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolError(lines[0][:80])
        status = int(parts[1])
        length: int | None = None
        chunked = False
        close = parts[0] == "HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                close = value == "close"
        if chunked:
            pieces = []
            while True:
                size = int((await reader.readline()).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                pieces.append((await reader.readexactly(size + 2))[:-2])
            body = b"".join(pieces)
        elif length is not None:
            body = await reader.readexactly(length)
        else:
            body = await reader.read()
            close = True
        if close:
            self.close()
        return status, body


@dataclass
class Tally:
    """What one run saw: per-answer (start, end) times for 2xx, and counts by outcome."""

    spans: list[tuple[float, float]] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    """Seconds each 4xx/5xx answer took (how fast the server sheds)."""
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    skipped: int = 0

    def note(self, started: float, status: int, body: bytes, stream: bool) -> None:
        ended = time.perf_counter()
        self.statuses[status] += 1
        if status >= 400:
            self.refused.append(ended - started)
        if 200 <= status < 300:
            if stream and b"data: [DONE]" not in body:
                self.errors["stream without [DONE]"] += 1
                return
            if not stream and b'"choices"' not in body:
                self.errors["answer without choices"] += 1
                return
            self.spans.append((started, ended))


@dataclass(frozen=True)
class Result:
    """Figures for one target, mode and load."""

    target: str
    stream: bool
    load: str
    seconds: float
    completed: int
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    errors: dict[str, int]
    skipped: int = 0
    latencies: tuple[float, ...] = field(default=(), repr=False)
    cpu_seconds: float = 0.0
    """CPU time the target's server process spent during the run (all threads)."""

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.answered if self.answered else float("nan")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def summarise(
    tally: Tally, target: Target, stream: bool, load: str, window: tuple[float, float]
) -> Result:
    lo, hi = window
    inside = [end - start for start, end in tally.spans if lo <= end <= hi]
    inside.sort()
    seconds = hi - lo
    return Result(
        target=target.name,
        stream=stream,
        load=load,
        seconds=seconds,
        completed=len(inside),
        rps=len(inside) / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(inside, 0.50) * 1000,
        p99_ms=percentile(inside, 0.99) * 1000,
        statuses=dict(tally.statuses),
        errors=dict(tally.errors),
        skipped=tally.skipped,
        latencies=tuple(inside),
    )


def merge(results: list[Result]) -> Result:
    """One result from several runs of the same target, mode and load (rounds)."""
    first = results[0]
    latencies = sorted(x for r in results for x in r.latencies)
    seconds = sum(r.seconds for r in results)
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    for r in results:
        statuses.update(r.statuses)
        errors.update(r.errors)
    return Result(
        target=first.target,
        stream=first.stream,
        load=first.load,
        seconds=seconds,
        completed=len(latencies),
        rps=len(latencies) / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        statuses=dict(statuses),
        errors=dict(errors),
        skipped=sum(r.skipped for r in results),
        latencies=tuple(latencies),
        cpu_seconds=sum(r.cpu_seconds for r in results),
    )


async def _one(
    conn: Connection, raw: bytes, tally: Tally, stream: bool, limit: float = REQUEST_TIMEOUT
) -> None:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit):
            status, body = await conn.send(raw)
    except TimeoutError:
        conn.close()
        tally.errors["timeout"] += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
        conn.close()
        tally.errors[type(e).__name__] += 1
    except ProtocolError:
        conn.close()
        tally.errors["ProtocolError"] += 1
    else:
        tally.note(started, status, body, stream)


async def closed_loop(
    target: Target,
    *,
    stream: bool,
    concurrency: int,
    seconds: float,
    warmup: float = 1.0,
    max_requests: int = 2_000_000,
) -> Result:
    """``concurrency`` connections back to back for ``warmup + seconds``."""
    tally = Tally()
    base = _next_base(max_requests)
    counter = iter(range(base, base + max_requests))
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def worker() -> None:
        conn = Connection(target)
        try:
            for n in counter:
                if time.perf_counter() >= stop_at:
                    return
                await _one(conn, request_bytes(target, n, stream), tally, stream)
                if tally.errors.total() > max(100, n // 10):
                    return  # the target is failing: stop rather than spin
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    window = (measure_from, min(stop_at, time.perf_counter()))
    return summarise(tally, target, stream, f"closed, {concurrency} conn", window)


async def open_loop(
    target: Target,
    *,
    stream: bool,
    rate: float,
    seconds: float,
    max_in_flight: int = 1000,
    wait_limit: float = REQUEST_TIMEOUT,
    tally: Tally | None = None,
) -> Result:
    """Start ``rate`` requests per second for ``seconds``, whatever the answers.

    At most ``max_in_flight`` connections are open; an arrival that finds them all
    busy is counted as skipped (the client, not the server, could not send it).
    Each request waits at most ``wait_limit`` seconds for its answer. Pass a
    ``tally`` to keep the per-answer detail.
    """
    tally = tally if tally is not None else Tally()
    idle: list[Connection] = []
    busy = 0
    tasks: set[asyncio.Task[None]] = set()
    total = int(rate * seconds)
    base = _next_base(total)
    start = time.perf_counter()

    async def fire(n: int) -> None:
        nonlocal busy
        conn = idle.pop() if idle else Connection(target)
        busy += 1
        try:
            await _one(conn, request_bytes(target, n, stream), tally, stream, wait_limit)
        finally:
            busy -= 1
            idle.append(conn)

    sent = 0
    while sent < total:
        now = time.perf_counter()
        if now - start > seconds + 1.0:
            break
        due = min(total, int((now - start) * rate) + 1)
        while sent < due:
            if busy >= max_in_flight:
                tally.skipped += 1
            else:
                task = asyncio.create_task(fire(base + sent))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(0.002)
    window = (start, time.perf_counter())
    if tasks:
        await asyncio.wait(tasks, timeout=wait_limit + 5)
    for conn in idle:
        conn.close()
    return summarise(tally, target, stream, f"open, {rate:.0f}/s", window)
