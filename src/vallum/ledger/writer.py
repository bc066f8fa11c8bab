"""The ledger writer: durable group commit, hash chain, Merkle checkpoints.

``Ledger.append`` returns only after the event's transaction has committed (on
SQLite with ``synchronous=FULL``), so an append that returned is never lost. Many
callers share one commit: a single writer thread drains the queue into batches
of up to ``batch_size`` events and writes each batch in one transaction, which
is how thousands of durable appends per second fit in a handful of fsyncs.

Each transaction locks the one ``ledger_head`` row (``BEGIN IMMEDIATE`` on
SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL), so several processes can append
to one database and still produce one chain. A checkpoint is signed whenever
``checkpoint_events`` events have accumulated since the last one (so the gap
between checkpoints is never larger), and after ``checkpoint_seconds`` when
there are unsigned events.

If the queue is full the append is refused with ``QueueFullError``: an action
that cannot be recorded must not happen.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import queue
import threading
import time as _time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from vallum.clock import now_text
from vallum.errors import (
    NotInitializedError,
    QueueFullError,
    UnavailableError,
    UsageError,
    VallumError,
)
from vallum.ledger.checkpoint import Checkpoint, CheckpointSigner
from vallum.ledger.event import GENESIS, Outcome, Record, entry_text
from vallum.ledger.merkle import Frontier
from vallum.ledger.witness import read_witness, write_witness
from vallum.store.engine import SQLITE_BEGIN
from vallum.store.models import LedgerCheckpoint, LedgerEvent, LedgerHead

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof of recording: the event's seq and chain hash."""

    seq: int
    hash: str


@dataclass(slots=True)
class _Head:
    size: int
    last_hash: str
    frontier: Frontier
    checkpoint_size: int
    checkpoint_time: float


_Prepared = tuple[Record, str]  # a record and its canonical data text
_Item = tuple[Sequence[_Prepared], "concurrent.futures.Future[list[Receipt]]"]


def initialise_head(engine: Engine) -> None:
    """Create the head row of an empty ledger (idempotent)."""
    with engine.begin() as conn:
        if conn.execute(select(LedgerHead.id)).first() is None:
            conn.execute(
                insert(LedgerHead).values(
                    id=1,
                    size=0,
                    last_hash=GENESIS,
                    frontier=json.dumps(Frontier().to_json()),
                    checkpoint_size=0,
                    checkpoint_time=now_text(),
                )
            )


class Ledger:
    """Append-only, hash-chained, checkpointed record of security events."""

    def __init__(
        self,
        engine: Engine,
        signer: CheckpointSigner,
        *,
        checkpoint_events: int = 1000,
        checkpoint_seconds: float = 60.0,
        batch_size: int = 2000,
        queue_size: int = 100_000,
        witness: Path | None = None,
    ) -> None:
        self._engine = engine
        self._witness = witness
        self._signer = signer
        self.checkpoint_events = checkpoint_events
        self.checkpoint_seconds = checkpoint_seconds
        self._batch_size = batch_size
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._cache: _Head | None = None
        self._appended = False  # only a ledger that wrote signs on close
        self._pg = engine.dialect.name == "postgresql"

    @property
    def public_key(self) -> bytes:
        return self._signer.public_key

    @property
    def origin(self) -> str:
        return self._signer.origin

    # -- public API ------------------------------------------------------
    def append(
        self,
        actor: str,
        action: str,
        subject: str,
        *,
        outcome: Outcome | str = Outcome.SUCCESS,
        data: Mapping[str, Any] | None = None,
    ) -> Receipt:
        """Record one event; returns once it is durable."""
        try:
            kind = Outcome(outcome)
        except ValueError:
            raise UsageError(f"ledger outcome {outcome!r} is not one of {list(Outcome)}") from None
        record = Record(actor, action, subject, kind, dict(data or {}))
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[Record]) -> list[Receipt]:
        """Record several events in order; returns once all are durable."""
        return self.submit(records).result()

    async def append_async(self, records: Sequence[Record]) -> list[Receipt]:
        return await asyncio.wrap_future(self.submit(records))

    def submit(self, records: Sequence[Record]) -> concurrent.futures.Future[list[Receipt]]:
        """Queue records; the future resolves when they are durable."""
        prepared = [(r, r.validated_data()) for r in records]  # fail fast, caller's thread
        fut: concurrent.futures.Future[list[Receipt]] = concurrent.futures.Future()
        if not records:
            fut.set_result([])
            return fut
        if self._closed:
            raise UnavailableError("the ledger is closed")
        self._ensure_thread()
        try:
            self._queue.put_nowait((prepared, fut))
        except queue.Full:
            raise QueueFullError(
                "the audit queue is full; the action was refused, not left unrecorded",
                hint="the database may be slow or down; raise ledger_queue_size if it is not",
            ) from None
        return fut

    def checkpoint_now(self) -> None:
        """Sign a checkpoint over every event so far (if any are unsigned)."""
        self._transaction([], force_checkpoint=True)

    def close(self) -> None:
        """Flush pending appends, sign a final checkpoint, stop the writer."""
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()
        if not self._appended:
            return  # read-only use (verify --no-record, listings) signs nothing
        try:
            self.checkpoint_now()
        except VallumError as exc:
            log.warning("final checkpoint failed: %s", exc.detail)

    # -- writer thread ---------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                t = threading.Thread(target=self._run, name="vallum-ledger-writer", daemon=True)
                t.start()
                self._thread = t

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=min(self.checkpoint_seconds, 1.0))
            except queue.Empty:
                self._maybe_timed_checkpoint()
                continue
            if first is None:
                break
            batch = [first]
            count = len(first[0])
            while count < self._batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                count += len(item[0])
            self._commit_batch(batch)

    def _commit_batch(self, batch: list[_Item]) -> None:
        records = [r for recs, _ in batch for r in recs]
        try:
            receipts = self._transaction(records)
        except BaseException as exc:  # noqa: BLE001 - every waiter must hear of it
            err = (
                exc
                if isinstance(exc, VallumError)
                else UnavailableError(f"the ledger could not commit ({type(exc).__name__})")
            )
            for _, fut in batch:
                fut.set_exception(err)
            return
        i = 0
        for recs, fut in batch:
            fut.set_result(receipts[i : i + len(recs)])
            i += len(recs)

    def _maybe_timed_checkpoint(self) -> None:
        head = self._cache
        if head is None or head.size == head.checkpoint_size:
            return
        if _time.time() - head.checkpoint_time >= self.checkpoint_seconds:
            try:
                self._transaction([])
            except VallumError as exc:
                log.warning("timed checkpoint failed: %s", exc.detail)

    # -- the transaction -------------------------------------------------
    def _load_head(self, row: Any) -> _Head:
        cached = self._cache
        if cached is not None and cached.size == row.size and cached.last_hash == row.last_hash:
            return cached
        from vallum.clock import parse_time

        return _Head(
            size=row.size,
            last_hash=row.last_hash,
            frontier=Frontier.from_json(json.loads(row.frontier)),
            checkpoint_size=row.checkpoint_size,
            checkpoint_time=parse_time(row.checkpoint_time).timestamp(),
        )

    def _transaction(
        self, records: Iterable[_Prepared], *, force_checkpoint: bool = False
    ) -> list[Receipt]:
        try:
            with self._engine.connect() as raw:
                conn = raw.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
                with conn.begin():
                    stmt = select(LedgerHead).where(LedgerHead.id == 1)
                    if self._pg:
                        stmt = stmt.with_for_update()
                    row = conn.execute(stmt).first()
                    if row is None:
                        raise NotInitializedError(
                            "the ledger has no head row", hint="run `vallum init`"
                        )
                    head = self._load_head(row)
                    self._cache = None  # until this transaction commits
                    receipts, events, checkpoints, new_head = self._build(
                        head, records, force_checkpoint
                    )
                    if events:
                        conn.execute(insert(LedgerEvent), events)
                    if checkpoints:
                        conn.execute(insert(LedgerCheckpoint), checkpoints)
                    if events or checkpoints:
                        conn.execute(
                            update(LedgerHead)
                            .where(LedgerHead.id == 1)
                            .values(
                                size=new_head.size,
                                last_hash=new_head.last_hash,
                                frontier=json.dumps(new_head.frontier.to_json()),
                                checkpoint_size=new_head.checkpoint_size,
                                checkpoint_time=_fmt(new_head.checkpoint_time),
                            )
                        )
            self._cache = new_head
            self._appended = self._appended or bool(events)
            if checkpoints and self._witness is not None:
                self._write_witness(checkpoints[-1])
            return receipts
        except SQLAlchemyError as exc:
            raise UnavailableError(
                f"the ledger database refused the write ({type(exc).__name__})",
                hint="check that the database is reachable and migrated",
            ) from exc

    def _build(
        self, head: _Head, records: Iterable[_Prepared], force_checkpoint: bool
    ) -> tuple[list[Receipt], list[dict[str, Any]], list[dict[str, Any]], _Head]:
        frontier = head.frontier.copy()
        size, prev = head.size, head.last_hash
        cp_size, cp_time = head.checkpoint_size, head.checkpoint_time
        receipts: list[Receipt] = []
        events: list[dict[str, Any]] = []
        checkpoints: list[dict[str, Any]] = []
        sha256 = hashlib.sha256
        stamp = now_text()
        every = self.checkpoint_events
        for rec, data in records:
            size += 1
            entry = entry_text(
                size, stamp, rec.actor, rec.action, rec.subject, str(rec.outcome), data, prev
            ).encode("utf-8")
            digest = sha256(entry).hexdigest()
            frontier.append(sha256(b"\x00" + entry).digest())
            events.append(
                {
                    "seq": size,
                    "time": stamp,
                    "actor": rec.actor,
                    "action": rec.action,
                    "subject": rec.subject,
                    "outcome": str(rec.outcome),
                    "data": data,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            receipts.append(Receipt(size, digest))
            prev = digest
            if size - cp_size >= every:
                checkpoints.append(self._checkpoint_row(size, frontier, stamp))
                cp_size, cp_time = size, _time.time()
        timed = _time.time() - cp_time >= self.checkpoint_seconds
        if size > cp_size and (force_checkpoint or timed):
            checkpoints.append(self._checkpoint_row(size, frontier, stamp))
            cp_size, cp_time = size, _time.time()
        return receipts, events, checkpoints, _Head(size, prev, frontier, cp_size, cp_time)

    def _write_witness(self, row: dict[str, Any]) -> None:
        assert self._witness is not None  # noqa: S101 - checked by the caller
        current = read_witness(self._witness)
        if current is not None and current.tree_size < row["tree_size"]:
            # Advance only over a history that still contains the checkpoint on
            # file: otherwise the database was rewritten or truncated, and moving
            # the witness forward would bless it. It stays put, so verify keeps
            # reporting the problem.
            with self._engine.connect() as conn:
                stored = conn.execute(
                    select(LedgerCheckpoint.root_hash).where(
                        LedgerCheckpoint.tree_size == current.tree_size
                    )
                ).scalar()
            if stored != current.root_hash:
                log.error(
                    "ledger witness not advanced: the checkpoint at %d it holds is missing "
                    "from the database or differs; run `vallum audit verify`",
                    current.tree_size,
                )
                return
        try:
            write_witness(self._witness, Checkpoint(origin=self._signer.origin, **row))
        except OSError as exc:
            # The events and checkpoint are committed; a stale witness only weakens
            # one check, so report it rather than fail the appends that succeeded.
            log.error("could not update the ledger witness file: %s", exc.strerror)

    def _checkpoint_row(self, size: int, frontier: Frontier, stamp: str) -> dict[str, Any]:
        cp = self._signer.sign(size, frontier.root().hex(), stamp, self.checkpoint_events)
        return {
            "tree_size": cp.tree_size,
            "root_hash": cp.root_hash,
            "time": cp.time,
            "interval": cp.interval,
            "key_id": cp.key_id,
            "signature": cp.signature,
        }


def _fmt(ts: float) -> str:
    import datetime as dt

    from vallum.clock import format_time

    return format_time(dt.datetime.fromtimestamp(ts, dt.UTC))
