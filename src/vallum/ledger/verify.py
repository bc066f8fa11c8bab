"""Verify the whole ledger: hash chain, sequence, signed checkpoints.

Reads every event in seq order, recomputes its entry hash and chain link, grows
the Merkle tree and compares its root with every signed checkpoint. Reports the
first problem by seq, saying what is wrong. What each check catches:

- an altered field          -> the event's hash no longer matches its entry
- a deleted row             -> a gap in seq
- rows swapped or reordered -> hash mismatch (seq is inside the hashed entry)
- a truncated tail          -> a signed checkpoint covers more events than exist
- a rewritten, re-chained history -> a signed checkpoint's root no longer matches
- a forged checkpoint       -> its signature does not verify with the instance key
- unsigned events beyond the checkpoint interval -> a checkpoint is missing
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select

from vallum.ledger.checkpoint import Checkpoint
from vallum.ledger.event import GENESIS, entry_text
from vallum.ledger.merkle import Frontier
from vallum.store.models import LedgerCheckpoint, LedgerEvent

PAGE = 20_000


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    what: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.what}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    events: int
    checkpoints: int
    verified_up_to: int
    last_checkpoint: int
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "events": self.events,
            "checkpoints": self.checkpoints,
            "verified_up_to": self.verified_up_to,
            "last_checkpoint": self.last_checkpoint,
            "problems": [{"seq": p.seq, "what": p.what} for p in self.problems],
        }


def _check_witness(
    witness: Checkpoint, public_key: bytes, by_size: dict[int, Checkpoint], count: int
) -> list[Problem]:
    if witness.tree_size < 1 or not witness.verify(public_key):
        return [Problem(1, "the witness file is unreadable or not signed by this instance")]
    stored = by_size.get(witness.tree_size)
    if witness.tree_size > count:
        return [
            Problem(
                count + 1,
                f"the witness file holds a checkpoint of {witness.tree_size} events but only "
                f"{count} exist: the ledger was truncated",
            )
        ]
    if stored is None or stored.root_hash != witness.root_hash:
        return [
            Problem(
                witness.tree_size,
                f"the checkpoint at {witness.tree_size} in the witness file is missing from "
                "the database or differs: checkpoints were deleted or history rewritten",
            )
        ]
    return []


def load_checkpoints(engine: Engine, origin: str) -> list[Checkpoint]:
    with engine.connect() as conn:
        rows = conn.execute(select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size)).all()
    return [
        Checkpoint(origin, r.tree_size, r.root_hash, r.time, r.interval, r.key_id, r.signature)
        for r in rows
    ]


def verify_ledger(
    engine: Engine,
    public_key: bytes,
    origin: str,
    *,
    checkpoint_events: int,
    progress: Callable[[int, int], None] | None = None,
    witness: Checkpoint | None = None,
    require_witness: bool = False,
) -> VerifyReport:
    """Check everything; ``progress(done, total)`` is called every page."""
    problems: list[Problem] = []
    checkpoints = load_checkpoints(engine, origin)
    by_size: dict[int, Checkpoint] = {}
    for cp in checkpoints:
        if not cp.verify(public_key):
            problems.append(Problem(cp.tree_size, "checkpoint signature does not verify"))
        else:
            by_size[cp.tree_size] = cp
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(LedgerEvent)).scalar_one()

    sha256 = hashlib.sha256
    frontier = Frontier()
    prev = GENESIS
    expected = 1
    verified_up_to = 0
    chain_ok = True
    last_cp = 0
    # A raw DB-API cursor: Row objects cost more than the hashing on this path.
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    query = (
        "SELECT seq, time, actor, action, subject, outcome, data, prev_hash, hash "
        f"FROM ledger_events WHERE seq > {mark} ORDER BY seq LIMIT {PAGE}"
    )
    after = 0
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        while True:
            cursor.execute(query, (after,))
            rows = cursor.fetchall()
            if not rows:
                break
            for seq, time, actor, action, subject, outcome, data, prev_hash, digest in rows:
                if seq != expected:
                    problems.append(
                        Problem(expected, f"event missing (next stored seq is {seq})")
                        if seq > expected
                        else Problem(seq, "duplicate or out-of-order seq")
                    )
                    chain_ok = False
                    expected = seq
                entry = entry_text(
                    seq, time, actor, action, subject, outcome, data, prev_hash
                ).encode("utf-8")
                if sha256(entry).hexdigest() != digest:
                    problems.append(Problem(seq, "hash does not match the event (altered)"))
                    chain_ok = False
                if prev_hash != prev:
                    problems.append(Problem(seq, "prev_hash does not link to the previous event"))
                    chain_ok = False
                prev = digest
                frontier.append(sha256(b"\x00" + entry).digest())
                signed = by_size.get(seq)
                if signed is not None:
                    if frontier.root().hex() != signed.root_hash:
                        problems.append(
                            Problem(
                                seq,
                                f"signed checkpoint at {seq} does not match events "
                                f"{last_cp + 1}..{seq}: history was rewritten",
                            )
                        )
                        if chain_ok:
                            verified_up_to = last_cp  # only what a good checkpoint covered
                        chain_ok = False
                    last_cp = seq
                if chain_ok:
                    verified_up_to = seq
                expected += 1
            after = rows[-1][0]
            if progress is not None:
                progress(min(after, total), total)

    count = expected - 1
    for cp in checkpoints:
        if cp.tree_size > count:
            problems.append(
                Problem(
                    count + 1,
                    f"a signed checkpoint covers {cp.tree_size} events but only {count} exist: "
                    "the ledger was truncated",
                )
            )
            break
    # Each signed checkpoint states the interval its writer used, so the largest
    # legitimate gap before it is known; events after the last one may number up
    # to the larger of its interval and the current setting.
    good = sorted(by_size.values(), key=lambda c: c.tree_size)
    ends = [(c.tree_size, c.interval) for c in good if c.tree_size <= count]
    tail_limit = max([checkpoint_events, *(c.interval for c in good[-1:])])
    bounds = [*ends, (count, tail_limit)]
    lo = 0
    for hi, limit in bounds:
        if hi - lo > limit:
            problems.append(
                Problem(
                    lo + limit,
                    f"no signed checkpoint between seq {lo} and {hi} "
                    f"(one is due every {limit} events)",
                )
            )
            break
        lo = hi
    if witness is not None:
        problems.extend(_check_witness(witness, public_key, by_size, count))
    elif require_witness and checkpoints:
        problems.append(Problem(1, "the witness file is missing although signed checkpoints exist"))
    problems.sort(key=lambda p: p.seq)
    signed_up_to = max((s for s in by_size if s <= verified_up_to), default=0)
    return VerifyReport(
        events=count,
        checkpoints=len(checkpoints),
        verified_up_to=verified_up_to,
        last_checkpoint=signed_up_to,
        problems=tuple(problems),
    )
