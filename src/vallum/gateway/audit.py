"""One ledger event per gateway request, queued without blocking the event loop.

Events carry identifiers, counts and SHA-256 digests, never content. The first
event of a window goes to the ledger's group-commit queue (``Ledger.submit``) at
once; the events that follow within ``FLUSH_SECONDS`` (20 ms) are buffered on the event
loop and handed over in one batch: one queue item and one transaction for many
requests instead of one each, which keeps the ledger writer thread from
competing with the event loop for the interpreter on every request. The response
does not wait for the commit.

Fail closed: if the ledger's queue is full or closed the first event of a window
raises, and if the buffer is full (the ledger refused earlier batches, which are
kept and retried) the request is refused (``unavailable.queue_full``, 503) before
it is answered; if a commit fails the gateway refuses new requests
for ``UNHEALTHY_SECONDS`` (``unavailable``, 503): what cannot be recorded does
not happen.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time

from vallum.errors import QueueFullError, UnavailableError
from vallum.ledger.event import Outcome, Record
from vallum.ledger.writer import Ledger, Receipt

log = logging.getLogger(__name__)
UNHEALTHY_SECONDS = 1.0
#: How long an event may wait in the buffer before it is handed to the ledger.
FLUSH_SECONDS = 0.02
#: Events the buffer holds at most; beyond, requests are refused (503).
BUFFER_EVENTS = 20_000


class Auditor:
    def __init__(
        self,
        ledger: Ledger,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        capacity: int = BUFFER_EVENTS,
    ) -> None:
        self._ledger = ledger
        self._flush_seconds = flush_seconds
        self._capacity = capacity
        self._buffer: list[Record] = []
        self._timer: asyncio.TimerHandle | None = None
        self._unhealthy_until = 0.0
        self.failures = 0
        self.pending = 0  # events handed to the ledger, not yet committed

    @property
    def buffered(self) -> int:
        """Events waiting in the buffer."""
        return len(self._buffer)

    def check(self) -> None:
        """Refuse work while the ledger is failing or the buffer is full (fail closed)."""
        if self._unhealthy_until and time.monotonic() < self._unhealthy_until:
            raise UnavailableError(
                "the audit ledger is failing; the gateway refuses requests it cannot record",
                hint="check the database",
            )
        if len(self._buffer) >= self._capacity:
            raise QueueFullError(
                "the audit queue is full; the request was refused, not left unrecorded",
                hint="the database may be slow or down",
            )

    def submit(
        self, actor: str, action: str, subject: str, outcome: Outcome, data: dict[str, object]
    ) -> None:
        """Queue one event; raises QueueFullError / UnavailableError when it cannot.

        The first event of a window goes to the ledger at once, so a full or
        closed ledger refuses that request; events that follow within
        ``flush_seconds`` are buffered and handed over together.
        """
        record = Record(actor, action, subject, outcome, data)
        if self._timer is not None:
            if len(self._buffer) >= self._capacity:
                raise QueueFullError(
                    "the audit queue is full; the request was refused, not left unrecorded",
                    hint="the database may be slow or down",
                )
            self._buffer.append(record)
            return
        self._hand_over([record])  # raises: the caller refuses the request
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a synchronous caller): no window
            return
        self._timer = loop.call_later(self._flush_seconds, self.flush)

    def _hand_over(self, batch: list[Record]) -> None:
        fut = self._ledger.submit(batch)
        n = len(batch)
        self.pending += n
        fut.add_done_callback(lambda f: self._done(f, n))

    def flush(self) -> None:
        """Hand the buffered events to the ledger in one batch (kept and retried if refused)."""
        self._timer = None
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        try:
            self._hand_over(batch)
        except QueueFullError:
            self._buffer = batch + self._buffer  # still ours: retried, new requests refused
            log.warning("ledger queue full; %d gateway events wait", len(self._buffer))
            self._retry()
        except UnavailableError as exc:  # the ledger closed (shutdown) within the window
            self.failures += len(batch)
            self._unhealthy_until = time.monotonic() + UNHEALTHY_SECONDS
            log.error("%d gateway audit events not recorded: %s", len(batch), exc.code)

    def _retry(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is None:
            self._timer = loop.call_later(max(self._flush_seconds, 0.05), self.flush)

    def _done(self, fut: concurrent.futures.Future[list[Receipt]], n: int) -> None:
        self.pending -= n
        exc = fut.exception()
        if exc is not None:
            self.failures += n
            self._unhealthy_until = time.monotonic() + UNHEALTHY_SECONDS
            log.error("%d gateway audit events not recorded: %s", n, type(exc).__name__)

    def close(self) -> None:
        """Flush what is buffered (called before the ledger closes)."""
        if self._timer is not None:
            self._timer.cancel()
        self.flush()
