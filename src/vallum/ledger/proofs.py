"""Inclusion and consistency proofs, and the standalone checks for them.

A proof document is plain JSON that anyone can check with only the instance's
public key: ``check_inclusion(doc, public_key)`` and
``check_consistency(doc, public_key)`` need nothing else from Vallum (no
database, no settings). The documents:

    {"type": "vallum.inclusion/v1", "seq": 5, "entry": "<canonical entry>",
     "leaf_index": 4, "tree_size": 1000, "proof": ["<hex>", ...],
     "checkpoint": {"origin", "tree_size", "root_hash", "time", "interval", "key_id",
                    "signature"}}

    {"type": "vallum.consistency/v1", "first": {checkpoint}, "second": {checkpoint},
     "proof": ["<hex>", ...]}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select

from vallum.errors import IntegrityError, NotFoundError
from vallum.ledger.checkpoint import Checkpoint
from vallum.ledger.event import entry_text
from vallum.ledger.merkle import (
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from vallum.ledger.verify import load_checkpoints
from vallum.store.models import LedgerEvent

INCLUSION = "vallum.inclusion/v1"
CONSISTENCY = "vallum.consistency/v1"


def _leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def _entries(engine: Engine, upto: int) -> list[bytes]:
    out: list[bytes] = []
    after = 0
    with engine.connect() as conn:
        while after < upto:
            rows = conn.execute(
                select(
                    LedgerEvent.seq,
                    LedgerEvent.time,
                    LedgerEvent.actor,
                    LedgerEvent.action,
                    LedgerEvent.subject,
                    LedgerEvent.outcome,
                    LedgerEvent.data,
                    LedgerEvent.prev_hash,
                )
                .where(LedgerEvent.seq > after, LedgerEvent.seq <= upto)
                .order_by(LedgerEvent.seq)
                .limit(50_000)
            ).all()
            if not rows:
                break
            out.extend(entry_text(*r).encode("utf-8") for r in rows)
            after = rows[-1][0]
    if len(out) != upto:
        raise IntegrityError(f"the ledger has {len(out)} events, the checkpoint says {upto}")
    return out


def _pick_checkpoint(engine: Engine, origin: str, min_size: int, size: int | None) -> Checkpoint:
    cps = load_checkpoints(engine, origin)
    if size is not None:
        for cp in cps:
            if cp.tree_size == size:
                return cp
        raise NotFoundError(f"no signed checkpoint at tree size {size}")
    if not cps or cps[-1].tree_size < min_size:
        raise NotFoundError(
            f"no signed checkpoint covers seq {min_size} yet",
            hint="wait for the next checkpoint or run `vallum audit checkpoint`",
        )
    return cps[-1]


def build_inclusion(
    engine: Engine, origin: str, seq: int, tree_size: int | None = None
) -> dict[str, Any]:
    """The inclusion proof of event ``seq`` in a signed checkpoint (latest by default)."""
    if seq < 1:
        raise NotFoundError(f"no event with seq {seq}")
    cp = _pick_checkpoint(engine, origin, seq, tree_size)
    if seq > cp.tree_size:
        raise NotFoundError(f"event {seq} is not covered by the checkpoint at {cp.tree_size}")
    entries = _entries(engine, cp.tree_size)
    leaves = [_leaf(e) for e in entries]
    proof = inclusion_proof(seq - 1, leaves)
    return {
        "type": INCLUSION,
        "seq": seq,
        "entry": entries[seq - 1].decode("utf-8"),
        "leaf_index": seq - 1,
        "tree_size": cp.tree_size,
        "proof": [p.hex() for p in proof],
        "checkpoint": cp.to_dict(),
    }


def build_consistency(engine: Engine, origin: str, first: int, second: int) -> dict[str, Any]:
    """Proof that the checkpoint at ``second`` extends the one at ``first``."""
    if not 0 < first <= second:
        raise NotFoundError("need two checkpoint sizes with 0 < first <= second")
    a = _pick_checkpoint(engine, origin, first, first)
    b = _pick_checkpoint(engine, origin, second, second)
    leaves = [_leaf(e) for e in _entries(engine, b.tree_size)]
    proof = consistency_proof(a.tree_size, leaves)
    return {
        "type": CONSISTENCY,
        "first": a.to_dict(),
        "second": b.to_dict(),
        "proof": [p.hex() for p in proof],
    }


# -- standalone checks: only the public key and the document ---------------


def _checkpoint(raw: Any) -> Checkpoint:
    try:
        return Checkpoint.from_dict(dict(raw) if isinstance(raw, Mapping) else raw)
    except ValueError:
        raise IntegrityError("proof checkpoint is missing or malformed") from None


def _hashes(raw: Any) -> list[bytes]:
    if not isinstance(raw, list):
        raise IntegrityError("proof path is not a list")
    try:
        out = [bytes.fromhex(h) for h in raw]
    except (TypeError, ValueError):
        raise IntegrityError("proof path holds a non-hex hash") from None
    if any(len(h) != 32 for h in out):
        raise IntegrityError("proof path holds a hash that is not 32 bytes")
    return out


def check_inclusion(doc: Mapping[str, Any], public_key: bytes) -> dict[str, Any]:
    """Check an inclusion proof; returns the proven event; raises IntegrityError."""
    if doc.get("type") != INCLUSION:
        raise IntegrityError("not a vallum inclusion proof")
    cp = _checkpoint(doc.get("checkpoint"))
    if not cp.verify(public_key):
        raise IntegrityError("the checkpoint signature does not verify with this key")
    entry = doc.get("entry")
    index = doc.get("leaf_index")
    if not isinstance(entry, str) or not isinstance(index, int):
        raise IntegrityError("proof lacks its entry or leaf index")
    try:
        event = json.loads(entry)
    except ValueError:
        raise IntegrityError("proof entry is not JSON") from None
    if not isinstance(event, dict) or event.get("seq") != index + 1:
        raise IntegrityError("proof entry does not match its leaf index")
    root = bytes.fromhex(cp.root_hash) if len(cp.root_hash) == 64 else b""
    leaf = _leaf(entry.encode("utf-8"))
    if doc.get("tree_size") != cp.tree_size or not verify_inclusion(
        leaf, index, cp.tree_size, _hashes(doc.get("proof")), root
    ):
        raise IntegrityError("the inclusion proof does not lead to the signed root")
    return event


def check_consistency(doc: Mapping[str, Any], public_key: bytes) -> tuple[int, int]:
    """Check a consistency proof; returns (first size, second size)."""
    if doc.get("type") != CONSISTENCY:
        raise IntegrityError("not a vallum consistency proof")
    a, b = _checkpoint(doc.get("first")), _checkpoint(doc.get("second"))
    for cp in (a, b):
        if not cp.verify(public_key):
            raise IntegrityError(f"checkpoint at {cp.tree_size} does not verify with this key")
    try:
        ra, rb = bytes.fromhex(a.root_hash), bytes.fromhex(b.root_hash)
    except ValueError:
        raise IntegrityError("checkpoint root is not hex") from None
    if not verify_consistency(a.tree_size, b.tree_size, ra, rb, _hashes(doc.get("proof"))):
        raise IntegrityError(
            f"the checkpoint at {b.tree_size} does not extend the one at {a.tree_size}"
        )
    return a.tree_size, b.tree_size
