"""No plaintext at rest: planted markers never appear in any stored byte.

Unique markers (and a fake PHI line) go into an encrypted blob, a sealed value
and a field ciphertext; then every byte of every file in the data directory is
searched (SQLite database, -wal, -shm, blobs, key file), and on PostgreSQL every
row of every table, as text and as raw bytea. A control string that Vallum is
meant to store in clear (ledger event data) proves the search sees the data.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.unit.crypto.support import assert_absent, encodings, found_forms, master_keys
from vallum.config import VallumSettings
from vallum.context import Context, initialise, open_context
from vallum.store.blobs import CHUNK


def _data_dir_bytes(data_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(data_dir)): p.read_bytes()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file()
    }


def _postgres_dump(url: str) -> tuple[str, bytes, dict[str, int]]:
    """Every row of every public table as text, every bytea value raw, row counts."""
    import psycopg

    texts: list[str] = []
    raw: list[bytes] = []
    counts: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
        for table in tables:
            rows = conn.execute(f'SELECT t::text FROM "{table}" t').fetchall()
            counts[table] = len(rows)
            texts.extend(r[0] for r in rows)
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = 'bytea'"
        ).fetchall()
        for table, column in columns:
            for (value,) in conn.execute(f'SELECT "{column}" FROM "{table}"'):
                if value is not None:
                    raw.append(bytes(value))
    return "\n".join(texts), b"\n--\n".join(raw), counts


def _plant(ctx: Context, markers: list[bytes], upload: Path) -> dict[str, bytes]:
    """Store each marker every encrypted way; returns the plaintext data keys used."""
    deks: dict[str, bytes] = {}
    for i, marker in enumerate(markers):
        small = ctx.blobs.put_bytes(b"note:\n" + marker + b"\n", ctx.record)
        # Straddling the boundary between the first and second chunk.
        big = ctx.blobs.put_bytes(os.urandom(CHUNK - 10) + marker + os.urandom(100))
        upload.write_bytes(marker * 3)
        from_file = ctx.blobs.put_file(upload)
        for ref in (small, big, from_file):
            key_id = ctx.blobs.data_key_of(ref.address)
            deks[key_id] = ctx.keyring.data_key(key_id)

        ctx.keyring.seal(f"test.marker.sealed.{i}", marker)
        field_key = ctx.keyring.new_data_key("test.marker.field")
        field_ct = ctx.keyring.encrypt(marker, field_key, f"test:field:{i}".encode())
        ctx.keyring.seal(f"test.marker.field.{i}", field_ct)
        deks[field_key] = ctx.keyring.data_key(field_key)
    upload.unlink()
    return deks


def _check_files(files: dict[str, bytes], secrets_: list[bytes], when: str) -> None:
    for name, content in files.items():
        for secret in secrets_:
            assert_absent(content, secret, f"{name} ({when})")


def test_no_marker_reaches_disk_in_plaintext(
    settings: VallumSettings, backend: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex
    markers = [
        f"MARKER-{tag}".encode(),
        f"Patient John Q. Markerson MRN 12345678-{tag}".encode(),
    ]
    control = f"CONTROL-{tag}".encode()
    initialise(settings)
    ctx = open_context(settings)
    try:
        deks = _plant(ctx, markers, tmp_path / "upload.txt")
        # Deliberately in clear: the ledger stores event data as JSON text.
        ctx.record("test.control", "test:control", data={"note": control.decode()})
        open_files = _data_dir_bytes(settings.data_dir)
    finally:
        ctx.close()
    closed_files = _data_dir_bytes(settings.data_dir)

    # The search reaches every store.
    assert "master.key" in closed_files
    assert any(name.startswith("blobs/") for name in closed_files)
    if backend == "sqlite":
        assert "vallum.db" in closed_files
        assert "vallum.db-wal" in open_files, "expected the WAL while the database was open"
        seen = b"".join(open_files.values()) + b"".join(closed_files.values())
        assert "raw" in found_forms(seen, control), "the search missed the database"
    else:
        assert not any(name.startswith("vallum.db") for name in closed_files)

    never = [*markers, *deks.values()]
    _check_files(open_files, never, "while open")
    _check_files(closed_files, never, "after close")
    # The master key lives only in its own file.
    raw_master_keys = list(master_keys(settings.key_file).values())
    assert len(raw_master_keys) == 1
    for name, content in closed_files.items():
        if name != "master.key":
            for key in raw_master_keys:
                assert_absent(content, key, name)

    if backend == "postgres":
        assert settings.database_url is not None
        dump, raw, counts = _postgres_dump(settings.database_url.get_secret_value())
        for table in ("blobs", "data_keys", "sealed_values", "ledger_events"):
            assert counts.get(table, 0) > 0, f"{table} should hold rows: {counts}"
        assert control.decode() in dump, "the search missed the database"
        assert raw, "expected bytea values (wrapped keys, sealed ciphertexts)"
        for secret in [*never, *raw_master_keys]:
            assert_absent(dump.encode(), secret, "the PostgreSQL rows as text")
            assert_absent(raw, secret, "the PostgreSQL bytea values")

    # And the markers really were stored: they decrypt.
    ctx = open_context(settings)
    try:
        for i, marker in enumerate(markers):
            assert ctx.keyring.unseal(f"test.marker.sealed.{i}") == marker
            ct = ctx.keyring.unseal(f"test.marker.field.{i}")
            assert ctx.keyring.decrypt(ct, f"test:field:{i}".encode()) == marker
    finally:
        ctx.close()


def test_the_search_would_find_a_marker() -> None:
    """The forms searched for are the ones a careless store would produce."""
    import base64
    import json

    marker = f"Patient John Q. Markerson MRN 12345678-{uuid.uuid4().hex}".encode()
    careless = {
        "raw": b"xx" + marker + b"yy",
        "utf-16": ("zz" + marker.decode()).encode("utf-16-le"),
        "base64 at 0": base64.b64encode(marker + b"tail"),
        "base64 at 1": base64.b64encode(b"a" + marker),
        "base64 at 2": base64.b64encode(b"ab" + marker),
        "json bytea hex": json.dumps({"v": "\\x" + marker.hex()}).encode(),
    }
    for name, stored in careless.items():
        assert found_forms(stored, marker), name
    assert not found_forms(os.urandom(4096), marker)
    assert len(encodings(marker)) >= 9

    with pytest.raises(pytest.fail.Exception):
        assert_absent(b"..." + marker, marker, "a test blob")
