"""Tokenization vault: round trip, consistency, expiry, shred, streaming, no plaintext."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import pytest
from sqlalchemy import select, text

from vallum.context import Context
from vallum.detect import Finding
from vallum.detect.phi import PhiDetector
from vallum.detect.tokenize import Vault
from vallum.errors import NotFoundError
from vallum.store.models import Base, LedgerEvent

MARKER = "Zqxjvorth"
NOTE = f"Patient: {MARKER} Okafor, MRN: 7731904. Dr. {MARKER} Okafor saw him 3/14/2024."


def _findings(note: str) -> tuple[Finding, ...]:
    return PhiDetector().detect(note).findings


def _ledger(ctx: Context) -> list[tuple[str, str]]:
    with ctx.engine.connect() as conn:
        return [(r.action, r.data) for r in conn.execute(select(LedgerEvent)).all()]


def test_round_trip_is_consistent_and_typed(ctx: Context) -> None:
    vault = Vault(ctx)
    out = vault.tokenize("conv-1", NOTE, _findings(NOTE))
    assert MARKER not in out and "7731904" not in out
    assert out.count("[NAME_1]") == 2  # the same value, the same surrogate
    assert "[MRN_1]" in out and "[DATE_1]" in out
    assert vault.detokenize("conv-1", out) == NOTE
    name = Finding("NAME", 0, len(MARKER) + 7, 0.9, "phi")
    again = vault.tokenize("conv-1", f"{MARKER} Okafor is stable.", [name])
    assert again.startswith("[NAME_1]")


def test_conversations_are_separate(ctx: Context) -> None:
    vault = Vault(ctx)
    out = vault.tokenize("a", NOTE, _findings(NOTE))
    with pytest.raises(NotFoundError):
        vault.detokenize("b", out)


def test_planted_marker_never_reaches_db_ledger_or_logs(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vault = Vault(ctx)
    vault.tokenize("conv-secret", NOTE, _findings(NOTE))
    dump = []
    with ctx.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            dump.extend(repr(tuple(row)) for row in conn.execute(select(table)).all())
    blob = "\n".join(dump)
    assert MARKER not in blob and MARKER.encode().hex() not in blob
    assert "7731904" not in blob and "conv-secret" not in blob
    assert MARKER not in caplog.text
    events = [(a, json.loads(d)) for a, d in _ledger(ctx) if a == "detect.phi_tokenized"]
    assert events and events[-1][1]["counts"] == {"DATE": 1, "MRN": 1, "NAME": 2}


def test_expiry_shreds_the_key(ctx: Context) -> None:
    vault = Vault(ctx, ttl=dt.timedelta(milliseconds=1))
    out = vault.tokenize("short", NOTE, _findings(NOTE))
    time.sleep(0.01)
    with pytest.raises(NotFoundError):
        vault.detokenize("short", out)
    assert any(a == "keys.shredded" for a, _ in _ledger(ctx))


def test_purge_expired(ctx: Context) -> None:
    Vault(ctx, ttl=dt.timedelta(milliseconds=1)).tokenize("p1", NOTE, _findings(NOTE))
    time.sleep(0.01)
    assert Vault(ctx).purge_expired() == 1
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM detect_vault")).scalar() == 0


def test_shred_makes_restore_impossible(ctx: Context) -> None:
    vault = Vault(ctx)
    out = vault.tokenize("gone", NOTE, _findings(NOTE))
    vault.shred("gone")
    vault.shred("gone")  # idempotent
    with pytest.raises(NotFoundError):
        vault.detokenize("gone", out)
    shredded = [d for a, d in _ledger(ctx) if a == "keys.shredded"]
    assert shredded and MARKER not in "".join(shredded)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_streaming_detokenizer_holds_partial_tokens(ctx: Context, size: int) -> None:
    vault = Vault(ctx)
    out = vault.tokenize("stream", NOTE, _findings(NOTE))
    stream = vault.detokenizer("stream")
    emitted = []
    for i in range(0, len(out), size):
        part = stream.feed(out[i : i + size])
        assert "[NAM" not in part or ("[NAME_" in part and "]" in part)
        emitted.append(part)
    emitted.append(stream.close())
    assert "".join(emitted) == NOTE


def test_fake_surrogates_are_realistic_and_reversible(ctx: Context) -> None:
    vault = Vault(ctx, surrogates="fake")
    out = vault.tokenize("fake", NOTE, _findings(NOTE))
    assert MARKER not in out and "[" not in out
    assert vault.detokenize("fake", out) == NOTE
    stream = vault.detokenizer("fake")
    pieces = [stream.feed(out[i : i + 4]) for i in range(0, len(out), 4)]
    assert "".join(pieces) + stream.close() == NOTE


@pytest.mark.redis
def test_redis_backend(ctx: Context, redis_url: str) -> None:
    vault = Vault(ctx, redis_url=redis_url)
    out = vault.tokenize("redis-conv", NOTE, _findings(NOTE))
    assert vault.detokenize("redis-conv", out) == NOTE
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM detect_vault")).scalar() == 0
    vault.shred("redis-conv")
    with pytest.raises(NotFoundError):
        vault.detokenize("redis-conv", out)
