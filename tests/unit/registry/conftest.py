"""Fixtures for the registry: model folders built from real bytes, and signing keys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from tests.unit.registry import builders as b
from vallum.context import Context
from vallum.store.models import LedgerEvent

WEIGHTS = {
    "layer1.weight": b.values(64, 1),
    "layer1.bias": b.values(8, 2),
    "layer2.weight": b.values(32, 3),
    "layer2.bias": b.values(8, 4),
    "norm.weight": [1.0] * 8,  # constant: trivial, never a fingerprint
}


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


def make_keys(where: Path, name: str = "signer") -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    private = where / f"{name}.pem"
    public = where / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private, public)


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    d = tmp_path / "keys"
    d.mkdir()
    return make_keys(d)


def torch_model(where: Path, weights: b.Tensors = WEIGHTS) -> Path:
    """A folder as a PyTorch project ships it: a zip checkpoint and an extra NumPy array."""
    b.write(where / "model.pt", b.torch_zip(weights))
    b.write(where / "extra" / "embeddings.npz", b.npz({"emb": b.values(48, 9)}))
    return where


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return torch_model(tmp_path / "triage")


def events(ctx: Context, action: str) -> list[dict[str, Any]]:
    """Ledger events of ``action``, oldest first: subject, outcome and data."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(LedgerEvent).where(LedgerEvent.action == action).order_by(LedgerEvent.seq)
        )
        return [{"subject": r.subject, "outcome": r.outcome, **json.loads(r.data)} for r in rows]
