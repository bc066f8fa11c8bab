"""An append that returned is never lost: SIGKILL a writer in the middle of a burst."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from vallum.config import VallumSettings
from vallum.context import initialise, open_context
from vallum.governance import audit
from vallum.store.models import LedgerEvent

WRITER = r"""
import sys, threading
from pathlib import Path
from vallum.config import load_settings
from vallum.context import open_context

settings = load_settings(data_dir=Path(sys.argv[1]), database_url=sys.argv[2] or None,
                         ledger_checkpoint_events=50)
ctx = open_context(settings)
lock = threading.Lock()

def burst(tag):
    i = 0
    while True:
        r = ctx.ledger.append("user:burst", "test.burst", f"{tag}:{i}", data={"i": i})
        with lock:
            sys.stdout.write(f"ack {r.seq} {r.hash}\n")
            sys.stdout.flush()
        i += 1

for t in range(8):
    threading.Thread(target=burst, args=(t,), daemon=True).start()
threading.Event().wait()
"""


@pytest.mark.slow
def test_sigkill_during_burst_loses_no_acknowledged_event(
    settings: VallumSettings, tmp_path: Path
) -> None:
    initialise(settings)
    url = settings.database_url.get_secret_value() if settings.database_url else ""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    acked: dict[int, str] = {}
    with subprocess.Popen(
        [sys.executable, str(script), str(settings.data_dir), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        try:
            while len(acked) < 1500 and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                if line.startswith("ack "):
                    _, seq, digest = line.split()
                    acked[int(seq)] = digest
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        # Whatever was still buffered in the pipe was acknowledged before the kill.
        for line in proc.stdout.read().splitlines():
            if line.startswith("ack ") and len(line.split()) == 3:
                _, seq, digest = line.split()
                acked[int(seq)] = digest
        errors = proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= 1000, errors

    ctx = open_context(settings)
    try:
        report = audit.verify(ctx, record=False)
        assert report.ok, report.problems[:3]
        with ctx.engine.connect() as conn:
            stored = {r[0]: r[1] for r in conn.execute(select(LedgerEvent.seq, LedgerEvent.hash))}
        missing = [s for s, h in acked.items() if stored.get(s) != h]
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:5]}"
        # The ledger still takes appends after the crash and stays one chain.
        ctx.ledger.append("user:after", "test.after_crash", "x")
        assert audit.verify(ctx, record=False).ok
    finally:
        ctx.close()
