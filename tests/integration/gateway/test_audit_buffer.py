"""The gateway's audit buffer: batched hand-over to the ledger, and fail closed when full."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from vallum.context import Context
from vallum.errors import QueueFullError
from vallum.gateway.audit import Auditor
from vallum.ledger.event import Outcome
from vallum.store.models import LedgerEvent


def _count(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(LedgerEvent)).scalar_one())


def test_events_are_batched_and_all_committed(ctx: Context) -> None:
    before = _count(ctx)
    auditor = Auditor(ctx.ledger, flush_seconds=0.01)

    async def burst() -> int:
        for i in range(50):
            auditor.submit("apikey:k", "gateway.request", "route:r", Outcome.SUCCESS, {"n": i})
        held = auditor.buffered  # the first went at once, the rest wait for the timer
        await asyncio.sleep(0.05)
        return held

    assert asyncio.run(burst()) == 49
    assert auditor.buffered == 0
    ctx.ledger.submit([]).result()
    for _ in range(200):
        if auditor.pending == 0:
            break
        asyncio.run(asyncio.sleep(0.01))
    assert auditor.pending == 0 and auditor.failures == 0
    assert _count(ctx) == before + 50


def test_a_full_buffer_refuses_before_answering(ctx: Context) -> None:
    auditor = Auditor(ctx.ledger, flush_seconds=10.0, capacity=3)

    async def fill() -> None:
        for i in range(4):  # the first goes to the ledger at once, three fill the buffer
            auditor.submit("apikey:k", "gateway.request", "route:r", Outcome.SUCCESS, {"n": i})
        with pytest.raises(QueueFullError):
            auditor.check()  # the gateway checks before doing any work
        with pytest.raises(QueueFullError):
            auditor.submit("apikey:k", "gateway.request", "route:r", Outcome.SUCCESS, {"n": 4})
        auditor.close()  # what was accepted is still handed over

    asyncio.run(fill())
    assert auditor.buffered == 0 and auditor.failures == 0
    auditor.check()  # room again
