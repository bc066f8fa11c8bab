"""The witness file: the newest signed checkpoint, kept outside the database.

Someone who controls only the database (a DBA, a stolen backup restored over the
live one) could delete every checkpoint and rewrite the events behind them. The
writer therefore also keeps its newest checkpoint in ``ledger-witness.json`` in
the data directory, and ``verify`` requires that checkpoint to be present, with
the same root, among the database's checkpoints. A witness only ever moves
forward: a checkpoint smaller than the one on file is not written over it.
"""

from __future__ import annotations

import json
from pathlib import Path

from vallum.ledger.checkpoint import Checkpoint
from vallum.store.files import atomic_write

FILENAME = "ledger-witness.json"


def read_witness(path: Path) -> Checkpoint | None:
    """The checkpoint on file, or None when there is none or it is unreadable."""
    try:
        return Checkpoint.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Unreadable is reported by verify as a problem of its own.
        return Checkpoint("", -1, "", "", 0, "", "")


def write_witness(path: Path, cp: Checkpoint) -> None:
    """Replace the witness atomically, only with a larger checkpoint."""
    current = read_witness(path)
    if current is not None and current.tree_size >= cp.tree_size:
        return
    atomic_write(path, json.dumps(cp.to_dict()).encode("utf-8"))
