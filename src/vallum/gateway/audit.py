"""One ledger event per gateway request, queued without blocking the event loop.

Events carry identifiers, counts and SHA-256 digests, never content. They are
handed to the ledger's group-commit queue (``Ledger.submit``), which returns at
once; the response does not wait for the commit. If the queue is full the
request is refused (``unavailable.queue_full``, 503), and if a commit fails the
gateway refuses new requests for ``UNHEALTHY_SECONDS`` (``unavailable``, 503):
what cannot be recorded does not happen.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time

from vallum.errors import UnavailableError
from vallum.ledger.event import Outcome, Record
from vallum.ledger.writer import Ledger, Receipt

log = logging.getLogger(__name__)
UNHEALTHY_SECONDS = 1.0


class Auditor:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._unhealthy_until = 0.0
        self.failures = 0
        self.pending = 0

    def check(self) -> None:
        """Refuse work while the ledger is failing (fail closed)."""
        if self._unhealthy_until and time.monotonic() < self._unhealthy_until:
            raise UnavailableError(
                "the audit ledger is failing; the gateway refuses requests it cannot record",
                hint="check the database",
            )

    def submit(
        self, actor: str, action: str, subject: str, outcome: Outcome, data: dict[str, object]
    ) -> concurrent.futures.Future[list[Receipt]]:
        """Queue one event; raises QueueFullError / UnavailableError when it cannot."""
        fut = self._ledger.submit([Record(actor, action, subject, outcome, data)])
        self.pending += 1
        fut.add_done_callback(self._done)
        return fut

    def _done(self, fut: concurrent.futures.Future[list[Receipt]]) -> None:
        self.pending -= 1
        exc = fut.exception()
        if exc is not None:
            self.failures += 1
            self._unhealthy_until = time.monotonic() + UNHEALTHY_SECONDS
            log.error("gateway audit event not recorded: %s", type(exc).__name__)
