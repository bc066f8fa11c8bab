"""Auditor-facing ledger operations: verify, export, proofs, tail.

These record what they did (``audit.verified``, ``audit.exported``), so the
control catalog can show that the audit trail is checked and shipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import func, select

from vallum.context import Context
from vallum.errors import NotFoundError
from vallum.ledger.event import Event
from vallum.ledger.export import ExportFormat, formatter_for
from vallum.ledger.proofs import build_consistency, build_inclusion
from vallum.ledger.verify import VerifyReport, load_checkpoints, verify_ledger
from vallum.ledger.witness import FILENAME as WITNESS_FILE
from vallum.ledger.witness import read_witness
from vallum.store.models import LedgerEvent

PAGE = 10_000


def verify(
    ctx: Context,
    *,
    public_key: bytes | None = None,
    progress: Callable[[int, int], None] | None = None,
    record: bool = True,
) -> VerifyReport:
    """Verify the whole ledger with the instance key (or a pinned ``public_key``)."""
    report = verify_ledger(
        ctx.engine,
        public_key or ctx.ledger.public_key,
        ctx.ledger.origin,
        checkpoint_events=ctx.settings.ledger_checkpoint_events,
        progress=progress,
        witness=read_witness(ctx.settings.data_dir / WITNESS_FILE),
        require_witness=True,
    )
    if record:
        first = report.first
        ctx.record(
            "audit.verified",
            f"ledger:{ctx.instance_id}",
            outcome="success" if report.ok else "failure",
            data={
                "events": report.events,
                "verified_up_to": report.verified_up_to,
                "first_problem_seq": first.seq if first else None,
            },
        )
    return report


def _rows(ctx: Context, since: int, until: int | None = None) -> Iterator[Event]:
    after = since
    with ctx.engine.connect() as conn:
        while True:
            stmt = select(LedgerEvent).where(LedgerEvent.seq > after)
            if until is not None:
                stmt = stmt.where(LedgerEvent.seq <= until)
            rows = conn.execute(stmt.order_by(LedgerEvent.seq).limit(PAGE)).all()
            if not rows:
                return
            for r in rows:
                yield Event(
                    r.seq,
                    r.time,
                    r.actor,
                    r.action,
                    r.subject,
                    r.outcome,
                    r.data,
                    r.prev_hash,
                    r.hash,
                )
            after = rows[-1].seq


def export(ctx: Context, fmt: ExportFormat, since: int = 0) -> Iterator[str]:
    """Lines of every event after seq ``since``; records the export when done."""
    render = formatter_for(fmt)
    head = last_seq(ctx)
    count = 0
    for event in _rows(ctx, since, head):
        count += 1
        yield render(event.to_dict())
    ctx.record(
        "audit.exported",
        f"ledger:{ctx.instance_id}",
        data={"format": str(fmt), "since": since, "until": head, "events": count},
    )


def last_seq(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(LedgerEvent.seq), 0))).scalar_one())


def events(ctx: Context, *, since: int = 0, limit: int = 100) -> list[Event]:
    out: list[Event] = []
    for event in _rows(ctx, since):
        out.append(event)
        if len(out) >= limit:
            break
    return out


def tail(ctx: Context, count: int) -> list[Event]:
    return events(ctx, since=max(0, last_seq(ctx) - count), limit=count)


def event(ctx: Context, seq: int) -> Event:
    found = events(ctx, since=seq - 1, limit=1) if seq >= 1 else []
    if not found or found[0].seq != seq:
        raise NotFoundError(f"no ledger event with seq {seq}")
    return found[0]


def inclusion_proof(ctx: Context, seq: int, tree_size: int | None = None) -> dict[str, Any]:
    proof = build_inclusion(ctx.engine, ctx.ledger.origin, seq, tree_size)
    proof["public_key"] = ctx.ledger.public_key.hex()
    return proof


def consistency_proof(ctx: Context, first: int, second: int) -> dict[str, Any]:
    proof = build_consistency(ctx.engine, ctx.ledger.origin, first, second)
    proof["public_key"] = ctx.ledger.public_key.hex()
    return proof


def checkpoints(ctx: Context) -> list[dict[str, Any]]:
    return [cp.to_dict() for cp in load_checkpoints(ctx.engine, ctx.ledger.origin)]
