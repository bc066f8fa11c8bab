"""Recent gateway traffic from the ledger (for the console's live view)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from vallum.context import Context
from vallum.store.models import LedgerEvent

ACTIONS = ("gateway.request", "gateway.blocked", "gateway.rate_limited")


@dataclass(frozen=True, slots=True)
class TrafficRow:
    seq: int
    time: str
    action: str
    outcome: str
    actor: str
    data: dict[str, Any]


def recent(ctx: Context, limit: int = 50) -> list[TrafficRow]:
    """The newest ``limit`` gateway events, newest first (identifiers and counts only)."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(LedgerEvent)
            .where(LedgerEvent.action.in_(ACTIONS))
            .order_by(LedgerEvent.seq.desc())
            .limit(limit)
        ).all()
    return [
        TrafficRow(r.seq, r.time, r.action, r.outcome, r.actor, json.loads(r.data)) for r in rows
    ]
