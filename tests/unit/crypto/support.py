"""Helpers shared by the crypto and store tests: raw views of what is stored."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from vallum.context import Context
from vallum.crypto.keyring import Keyring
from vallum.crypto.providers import provider_for
from vallum.governance import audit
from vallum.ledger.event import Event
from vallum.store.models import DataKey


def fresh_keyring(ctx: Context) -> Keyring:
    """A keyring with an empty data key cache, as a newly started process has."""
    return Keyring(ctx.engine, provider_for(ctx.settings))


def key_row(engine: Engine, key_id: str) -> Any:
    with engine.connect() as conn:
        row = conn.execute(select(DataKey).where(DataKey.id == key_id)).first()
    assert row is not None, f"no data_keys row {key_id}"
    return row


def wrapped_keys(engine: Engine) -> dict[str, tuple[bytes | None, str | None]]:
    """Every data key row: id -> (wrapped, master key id)."""
    with engine.connect() as conn:
        rows = conn.execute(select(DataKey.id, DataKey.wrapped, DataKey.master_key_id)).all()
    return {r.id: (None if r.wrapped is None else bytes(r.wrapped), r.master_key_id) for r in rows}


def events_named(ctx: Context, action: str) -> list[Event]:
    return [e for e in audit.tail(ctx, 10_000) if e.action == action]


def key_file_doc(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def master_keys(path: Path) -> dict[str, bytes]:
    """Master key id -> raw key, read straight from the key file."""
    return {k: base64.b64decode(v) for k, v in key_file_doc(path)["keys"].items()}


def encodings(secret: bytes) -> dict[str, bytes]:
    """The forms a secret could take at rest if something stored it carelessly.

    Base64 is checked at each of the three alignments the secret could start at
    inside a longer encoded value, keeping only the characters that depend on
    the secret alone.
    """
    forms = {
        "raw": secret,
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
    }
    try:
        text = secret.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        forms["utf-16-le"] = text.encode("utf-16-le")
        forms["utf-16-be"] = text.encode("utf-16-be")
    for shift in range(3):
        for name, encode in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
            enc = encode(b"\0" * shift + secret)
            start = 4 if shift else 0
            core = enc[start : len(enc) - 4]
            assert len(core) >= 8, "secret too short to search for its base64 reliably"
            forms[f"{name}+{shift}"] = core
    return forms


def found_forms(haystack: bytes, secret: bytes) -> list[str]:
    """Names of the encodings of ``secret`` that occur in ``haystack``."""
    return [name for name, form in encodings(secret).items() if form in haystack]


def assert_absent(haystack: bytes, secret: bytes, where: str) -> None:
    found = found_forms(haystack, secret)
    if found:
        pytest.fail(f"{secret[:40]!r} found in {where} as {', '.join(found)}")


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)
