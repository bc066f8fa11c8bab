"""Optional forensic capture of request content: encrypted, kept N days, then shredded.

Off by default (``gateway_capture_days = 0``). When on, each answered request's
prompt (as sent by the caller) and answer (as returned) are written, off the event
loop, to ``gateway_captures`` encrypted with AES-256-GCM under a data key per worker
and day. Retention is crypto-shredding: once a day is older than the setting, its
data keys are destroyed (``keys.shredded`` events) and its rows deleted. Capture is
best effort: if its queue is full the content is not kept (counted in
``dropped``); the request's ledger event, which is never optional, says
``captured: true`` only for content that was queued.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading

import orjson
from sqlalchemy import delete, insert, select

from vallum.clock import now_text, utcnow
from vallum.context import Context
from vallum.store.models_gateway import GatewayCapture

log = logging.getLogger(__name__)
PURPOSE = "gateway.capture"
SWEEP_SECONDS = 3600.0


def _aad(request_id: str) -> bytes:
    return f"{PURPOSE}:{request_id}".encode()


class Capture:
    def __init__(self, ctx: Context, days: int, *, queue_size: int = 10_000) -> None:
        self._ctx = ctx
        self._days = days
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=queue_size)
        self._keys: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name="vallum-gw-capture", daemon=True)
        self._last_sweep = 0.0
        self.dropped = 0
        self._thread.start()

    def submit(self, request_id: str, content: dict[str, object]) -> bool:
        try:
            self._queue.put_nowait((request_id, orjson.dumps(content)))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        import time

        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._write(*item)
                if time.monotonic() - self._last_sweep > SWEEP_SECONDS:
                    self._last_sweep = time.monotonic()
                    self.sweep()
            except Exception as exc:  # noqa: BLE001 - capture must not take the worker down
                log.warning("content capture failed: %s", type(exc).__name__)

    def _write(self, request_id: str, plaintext: bytes) -> None:
        day = utcnow().date().isoformat()
        key_id = self._keys.get(day)
        if key_id is None:
            key_id = self._ctx.keyring.new_data_key(f"{PURPOSE}:{day}")
            self._keys = {day: key_id}
        ct = self._ctx.keyring.encrypt(plaintext, key_id, _aad(request_id))
        with self._ctx.engine.begin() as conn:
            conn.execute(
                insert(GatewayCapture).values(
                    request_id=request_id,
                    day=day,
                    key_id=key_id,
                    ciphertext=ct,
                    created_at=now_text(),
                )
            )

    def sweep(self) -> int:
        """Shred the keys of days past retention and delete their rows; returns days gone."""
        return sweep(self._ctx, self._days)


def sweep(ctx: Context, days: int) -> int:
    cutoff = (utcnow() - dt.timedelta(days=days)).date().isoformat()
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(GatewayCapture.day, GatewayCapture.key_id)
            .where(GatewayCapture.day < cutoff)
            .distinct()
        ).all()
    for _day, key_id in rows:
        ctx.keyring.shred(key_id, record=ctx.record, reason="gateway capture retention")
    with ctx.engine.begin() as conn:
        conn.execute(delete(GatewayCapture).where(GatewayCapture.day < cutoff))
    return len({d for d, _ in rows})


def read_capture(ctx: Context, request_id: str) -> dict[str, object]:
    """The captured content of one request (for an investigator holding the keys)."""
    from vallum.errors import NotFoundError

    with ctx.engine.connect() as conn:
        ct = conn.execute(
            select(GatewayCapture.ciphertext).where(GatewayCapture.request_id == request_id)
        ).scalar()
    if ct is None:
        raise NotFoundError(f"no captured content for request {request_id}")
    content: dict[str, object] = orjson.loads(ctx.keyring.decrypt(ct, _aad(request_id)))
    return content
