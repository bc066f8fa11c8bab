"""Fixtures: a key pair, a second key pair, a small model and a test PKI per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.signing.material import KeyPair, Pki, make_model, make_pki, write_key


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    d = tmp_path / "keys"
    d.mkdir(exist_ok=True)
    return write_key(d, "signer")


@pytest.fixture
def other_keys(tmp_path: Path) -> KeyPair:
    d = tmp_path / "keys"
    d.mkdir(exist_ok=True)
    return write_key(d, "other")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model(tmp_path)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")
