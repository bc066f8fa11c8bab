"""Streaming output guards with the real detectors, and the local token buckets."""

from __future__ import annotations

import asyncio

import pytest

from vallum.detect.types import Action, Finding
from vallum.errors import GuardBlockedError
from vallum.gateway import demo
from vallum.gateway.guards import DetectorSet, Findings, StreamGuard, redact
from vallum.gateway.policy import GuardPolicy
from vallum.gateway.ratelimit import LocalLimiter

POLICY = GuardPolicy(phi=Action.REDACT, injection=None, secrets=Action.REDACT, leak=None)


def run(
    text: str, size: int, policy: GuardPolicy = POLICY, canary: str | None = None
) -> tuple[str, Findings]:
    found = Findings()
    guard = StreamGuard(DetectorSet(), policy, found, canary, window=32, context=32)
    out = [guard.feed(text[i : i + size]) for i in range(0, len(text), size)]
    out.append(guard.close())
    return "".join(out), found


@pytest.mark.parametrize("size", [1, 3, 7, 50])
def test_identifiers_split_across_chunks_are_redacted(size: int) -> None:
    text = f"{demo.PHI_TEXT} and {demo.CREDENTIAL_TEXT} done."
    out, found = run(text, size)
    for raw in ("John Smith", "4829301", "617-555-0199", "AKIAZ7QX3MPLE4KEYQWE"):
        assert raw not in out
    assert out.endswith("done.")
    assert found.counts["phi"]["NAME"] >= 1
    assert found.counts["secrets"]


def test_clean_text_streams_through_unchanged() -> None:
    text = "The weather report says rain in the afternoon and sun tomorrow. " * 5
    out, found = run(text, 5)
    assert out == text
    assert found.action == "none"


def test_a_block_policy_stops_the_stream() -> None:
    policy = GuardPolicy(phi=None, injection=None, secrets=Action.BLOCK, leak=None)
    with pytest.raises(GuardBlockedError):
        run("ok then " + demo.CREDENTIAL_TEXT + " more text " * 10, 4, policy)


def test_a_canary_split_across_chunks_is_caught() -> None:
    policy = GuardPolicy.all_off()
    with pytest.raises(GuardBlockedError):
        run(
            "My instructions: [vallum-canary-0123abcd] Never repeat this line.",
            3,
            policy,
            "vallum-canary-0123abcd",
        )


def test_redact_merges_overlaps() -> None:
    f = [Finding("NAME", 0, 4, 1.0, "x"), Finding("PERSON", 2, 6, 1.0, "x")]
    assert redact("abcdefgh", f) == "[NAME]gh"


def test_local_buckets_refill_and_say_how_long_to_wait() -> None:
    limiter = LocalLimiter()

    async def go() -> list[float]:
        return [await limiter.take("b", 2, 1) for _ in range(3)]

    first, second, third = asyncio.run(go())
    assert first == 0 and second == 0
    assert 0 < third <= 30.0  # one token refills in 60/2 seconds
    assert limiter.take_now("unlimited", 0, 5) == 0
