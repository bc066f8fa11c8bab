"""The gateway benchmark's harness: the mock upstream, the load generator, and a
small overload run against a real `vallum gateway` process (bench/gateway/)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway import vallum_target
from gateway.loadgen import (
    Connection,
    Tally,
    Target,
    closed_loop,
    open_loop,
    prompt_text,
    request_bytes,
)
from gateway.servers import HOST, Server, start_mock, wait_ready


async def _one(target: Target) -> tuple[int, bytes]:
    conn = Connection(target)
    try:
        return await conn.send(request_bytes(target, 0, False))
    finally:
        conn.close()


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[Server]:
    server = start_mock(tmp_path)
    try:
        wait_ready(server, Target("mock", HOST, server.port, "mock-model"), timeout=30)
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_load_generator_reads_every_answer_to_the_end(mock: Server, stream: bool) -> None:
    target = Target("mock", HOST, mock.port, "mock-model")
    result = asyncio.run(closed_loop(target, stream=stream, concurrency=2, seconds=0.5, warmup=0.1))
    assert result.errors == {}
    assert set(result.statuses) == {200}
    assert result.completed > 10
    assert 0 < result.p50_ms <= result.p99_ms
    assert result.rps == pytest.approx(result.completed / result.seconds)


def test_mock_answers_the_openai_shapes_and_refuses_broken_json(mock: Server) -> None:
    target = Target("mock", HOST, mock.port, "mock-model")

    async def exchange() -> list[tuple[int, bytes]]:
        conn = Connection(target)
        try:
            answers = [
                await conn.send(request_bytes(target, 1, stream)) for stream in (False, True)
            ]
            bad = b"{not json"
            head = (
                f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
                f"content-length: {len(bad)}\r\n\r\n"
            ).encode()
            answers.append(await conn.send(head + bad))
            return answers
        finally:
            conn.close()

    (plain_status, plain), (stream_status, stream), (bad_status, _) = asyncio.run(exchange())
    assert (plain_status, stream_status, bad_status) == (200, 200, 400)
    assert b'"chat.completion"' in plain and b'"usage"' in plain
    events = [e for e in stream.split(b"\n\n") if e.startswith(b"data: ")]
    assert events[-1] == b"data: [DONE]"
    assert all(b"chat.completion.chunk" in e for e in events[:-1])
    assert len(prompt := request_bytes(target, 7, False)) > 1024 and b"[draft " in prompt


def test_targets_are_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Target("elsewhere", "192.0.2.10", 80, "m")


@pytest.mark.slow
def test_overload_sheds_recovers_and_every_answer_has_its_ledger_event(
    tmp_path: Path, mock: Server
) -> None:
    """A burst at ~3x a 60/min route limit: 429s, bounded memory, recovery, one event each."""
    inst = vallum_target.install(tmp_path, mock.port, guards=(), guarded_rpm=60)
    gw = vallum_target.start_gateway(inst, tmp_path)
    try:
        target = vallum_target.limited_target(inst, gw.port)
        wait_ready(gw, target, timeout=90)
        rss_before = gw.rss_bytes()
        tally = Tally()
        burst = asyncio.run(
            open_loop(target, stream=False, rate=120, seconds=1.5, max_in_flight=64, tally=tally)
        )
        rss_after = gw.rss_bytes()
        assert burst.errors == {} and burst.skipped == 0
        assert burst.statuses.get(429, 0) > 30, burst.statuses  # shed, not queued
        assert 0 < burst.statuses.get(200, 0) <= 62, burst.statuses  # the bucket, no more
        assert set(burst.statuses) <= {200, 429}
        assert max(tally.refused) < 5.0  # refusals are answered, not left waiting
        assert rss_after - rss_before < 100 * 1024 * 1024

        time.sleep(1.2)  # the bucket refills at one request per second
        status, _ = asyncio.run(_one(target))
        assert status == 200
    finally:
        gw.stop()
    answered: Counter[int] = Counter(burst.statuses)
    answered[200] += 3  # wait_ready's plain and streamed probes, and the recovery
    events = vallum_target.ledger_counts(inst)
    assert events["gateway.request"] == answered[200]
    assert events["gateway.rate_limited"] == answered[429]
    assert sum(events.values()) == sum(answered.values())


def test_bench_prompts_are_clean_so_every_guard_scans_and_passes() -> None:
    """A prompt a guard flags would measure tokenization or a refusal, not the scan."""
    from vallum.detect.injection import InjectionDetector
    from vallum.detect.phi import PhiDetector
    from vallum.detect.secrets import SecretsDetector

    detectors = [PhiDetector(), SecretsDetector(), InjectionDetector()]
    for n in (0, 1, 25, 26, 12_345, 987_654_321):
        text = prompt_text(n)
        assert len(text.encode()) == 1024
        for detector in detectors:
            assert detector.detect(text).outcome.value == "clean", (detector.name, n)
    assert prompt_text(1) != prompt_text(2)
