"""Master key rotation: re-wrap every data key, re-encrypt nothing, survive crashes."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.helpers import tamper
from tests.unit.crypto.support import (
    assert_absent,
    events_named,
    key_file_doc,
    master_keys,
    wrapped_keys,
)
from vallum.cli.main import main
from vallum.config import VallumSettings
from vallum.context import Context, initialise, open_context
from vallum.crypto.providers import LocalFileKeyProvider
from vallum.errors import IntegrityError
from vallum.store.models import SealedValue

BIG = os.urandom((1 << 20) + 300_000)  # two chunks


@dataclass
class Planted:
    blobs: dict[str, bytes]
    sealed: dict[str, bytes]
    field_key: str
    field_plain: bytes
    shredded_key: str


def _plant(ctx: Context) -> Planted:
    blobs = {}
    for data in (b"a small blob", BIG):
        blobs[ctx.blobs.put_bytes(data).address] = data
    ctx.keyring.seal("test.rot.sealed", b"sealed secret")
    field_key = ctx.keyring.new_data_key("test.rot.field")
    ct = ctx.keyring.encrypt(b"field plaintext", field_key, b"rot:field")
    ctx.keyring.seal("test.rot.field", ct)
    gone = ctx.keyring.new_data_key("test.rot.gone")
    ctx.keyring.shred(gone)
    return Planted(
        blobs,
        {"test.rot.sealed": b"sealed secret"},
        field_key,
        b"field plaintext",
        gone,
    )


def _check_readable(settings: VallumSettings, planted: Planted) -> None:
    """Everything decrypts in a freshly opened context (cold key cache)."""
    ctx = open_context(settings)
    try:
        for address, data in planted.blobs.items():
            assert ctx.blobs.get_bytes(address) == data
        for name, value in planted.sealed.items():
            assert ctx.keyring.unseal(name) == value
        ct = ctx.keyring.unseal("test.rot.field")
        assert ctx.keyring.key_id_of(ct) == planted.field_key
        assert ctx.keyring.decrypt(ct, b"rot:field") == planted.field_plain
    finally:
        ctx.close()


def _ciphertexts(ctx: Context) -> dict[str, bytes]:
    """Every stored ciphertext: blob files on disk and sealed values in the DB."""
    out: dict[str, bytes] = {}
    root = ctx.settings.data_dir / "blobs"
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[f"file:{path.relative_to(root)}"] = path.read_bytes()
    with ctx.engine.connect() as conn:
        for name, ct in conn.execute(select(SealedValue.name, SealedValue.ciphertext)):
            out[f"sealed:{name}"] = bytes(ct)
    return out


def _cli_env(settings: VallumSettings, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    if settings.database_url is not None:
        monkeypatch.setenv("VALLUM_DATABASE_URL", settings.database_url.get_secret_value())
    return ["--data-dir", str(settings.data_dir)]


def _write_key_file(path: Path, keys: dict[str, bytes], active: str) -> None:
    doc = {
        "version": 1,
        "active": active,
        "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()},
    }
    path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh)


def test_rotation_rewraps_every_key_and_reencrypts_nothing(
    settings: VallumSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    initialise(settings)
    ctx = open_context(settings)
    try:
        planted = _plant(ctx)
        old_id = key_file_doc(settings.key_file)["active"]
        old_raw = master_keys(settings.key_file)[old_id]
        before_keys = wrapped_keys(ctx.engine)
        live = {k for k, (w, _) in before_keys.items() if w is not None}
        before_ct = _ciphertexts(ctx)
        assert len(live) >= 6  # signing key, 2 blobs, 2 sealed values, the field key

        result = ctx.keyring.rotate_master(ctx.record)

        new_id = result.new_master_key_id
        assert new_id != old_id
        assert result.rewrapped == len(live)
        assert result.retired == (old_id,)
        after_keys = wrapped_keys(ctx.engine)
        assert after_keys.keys() == before_keys.keys()
        for key_id in live:
            assert after_keys[key_id][1] == new_id
            assert after_keys[key_id][0] != before_keys[key_id][0], "not re-wrapped"
        assert after_keys[planted.shredded_key] == (None, None)
        # Re-wrap, not re-encrypt: every ciphertext is byte-for-byte the same.
        assert _ciphertexts(ctx) == before_ct

        # The old master key is gone from the key file.
        assert set(master_keys(settings.key_file)) == {new_id}
        assert key_file_doc(settings.key_file)["active"] == new_id
        assert_absent(settings.key_file.read_bytes(), old_raw, "the key file")
        assert oct(settings.key_file.stat().st_mode & 0o777) == oct(0o600)

        rotated = events_named(ctx, "keys.rotated")
        assert len(rotated) == 1
        assert rotated[0].subject == f"master_key:{new_id}"
        assert rotated[0].data_obj() == {"rewrapped": len(live), "retired": [old_id]}
        event_bytes = json.dumps(rotated[0].to_dict()).encode()
        assert_absent(event_bytes, old_raw, "the keys.rotated event")
        assert_absent(event_bytes, master_keys(settings.key_file)[new_id], "the event")
    finally:
        ctx.close()
    _check_readable(settings, planted)

    # A second rotation, through the CLI.
    status = main([*_cli_env(settings, monkeypatch), "keys", "rotate", "--format", "json"])
    out = capsys.readouterr()
    assert status == 0, out.err
    report = json.loads(out.out)
    assert report["master_key_id"] not in (old_id, new_id)
    assert report["rewrapped"] == len(live)
    assert report["retired"] == [new_id]
    assert set(master_keys(settings.key_file)) == {report["master_key_id"]}
    _check_readable(settings, planted)

    ctx = open_context(settings)
    try:
        assert _ciphertexts(ctx) == before_ct
        final = wrapped_keys(ctx.engine)
        assert {final[k][1] for k in live} == {report["master_key_id"]}
        assert [e.subject for e in events_named(ctx, "keys.rotated")] == [
            f"master_key:{new_id}",
            f"master_key:{report['master_key_id']}",
        ]
    finally:
        ctx.close()


def test_crash_after_new_master_key_before_database_commit(settings: VallumSettings) -> None:
    """The key file got the new key, the database never moved: rotate again heals it."""
    initialise(settings)
    ctx = open_context(settings)
    try:
        planted = _plant(ctx)
        before_ct = _ciphertexts(ctx)
    finally:
        ctx.close()
    original = key_file_doc(settings.key_file)["active"]

    orphan = LocalFileKeyProvider(settings.key_file).rotate()  # ...then the crash
    assert set(master_keys(settings.key_file)) == {original, orphan}
    _check_readable(settings, planted)

    ctx = open_context(settings)
    try:
        result = ctx.keyring.rotate_master(ctx.record)
        assert result.retired == tuple(sorted({original, orphan}))
        assert set(master_keys(settings.key_file)) == {result.new_master_key_id}
        keys = wrapped_keys(ctx.engine)
        assert {mk for w, mk in keys.values() if w is not None} == {result.new_master_key_id}
        assert _ciphertexts(ctx) == before_ct
    finally:
        ctx.close()
    _check_readable(settings, planted)


def test_crash_after_database_commit_before_retiring(settings: VallumSettings) -> None:
    """The old key is still in the file though nothing uses it: the next rotation
    must retire it too (it may be the very key the operator rotated away from)."""
    initialise(settings)
    ctx = open_context(settings)
    try:
        planted = _plant(ctx)
    finally:
        ctx.close()
    old_keys = master_keys(settings.key_file)
    (old_id,) = old_keys

    ctx = open_context(settings)
    try:
        first = ctx.keyring.rotate_master()
    finally:
        ctx.close()
    # Put the old key back, as if the process died before retiring it.
    both = {**old_keys, **master_keys(settings.key_file)}
    _write_key_file(settings.key_file, both, first.new_master_key_id)
    _check_readable(settings, planted)

    ctx = open_context(settings)
    try:
        second = ctx.keyring.rotate_master()
    finally:
        ctx.close()
    assert second.retired == tuple(sorted({old_id, first.new_master_key_id}))
    assert set(master_keys(settings.key_file)) == {second.new_master_key_id}
    assert_absent(settings.key_file.read_bytes(), old_keys[old_id], "the key file")
    _check_readable(settings, planted)


def test_running_process_keeps_working_after_a_cli_rotation(
    settings: VallumSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vallum up` holds a context; `vallum keys rotate` runs beside it."""
    initialise(settings)
    writer = open_context(settings)
    try:
        planted = _plant(writer)
    finally:
        writer.close()

    server = open_context(settings)
    try:
        assert main([*_cli_env(settings, monkeypatch), "keys", "rotate"]) == 0
        # Keys the server never cached are wrapped by the new master key now.
        for address, data in planted.blobs.items():
            assert server.blobs.get_bytes(address) == data
        # Keys the server creates now must be wrapped by the new master key...
        ref = server.blobs.put_bytes(b"stored by the server after rotation")
        server.keyring.seal("test.rot.after", b"sealed after rotation")
        active = key_file_doc(settings.key_file)["active"]
        assert {mk for w, mk in wrapped_keys(server.engine).values() if w is not None} == {active}
    finally:
        server.close()
    # ...so that they survive a restart and the next rotation.
    planted.blobs[ref.address] = b"stored by the server after rotation"
    planted.sealed["test.rot.after"] = b"sealed after rotation"
    _check_readable(settings, planted)
    assert main([*_cli_env(settings, monkeypatch), "keys", "rotate"]) == 0
    _check_readable(settings, planted)


def test_rotation_is_all_or_nothing(settings: VallumSettings) -> None:
    """A data key that cannot be unwrapped stops the rotation before anything moves."""
    initialise(settings)
    ctx = open_context(settings)
    try:
        planted = _plant(ctx)
        broken = ctx.keyring.new_data_key("test.rot.broken")
        tamper(
            ctx.engine,
            "UPDATE data_keys SET master_key_id = 'mk-0000000000000000' WHERE id = :id",
            id=broken,
        )
        before = wrapped_keys(ctx.engine)
        with pytest.raises(IntegrityError):
            ctx.keyring.rotate_master(ctx.record)
        assert wrapped_keys(ctx.engine) == before
        assert events_named(ctx, "keys.rotated") == []
    finally:
        ctx.close()
    # The original key is still there: nothing was lost.
    assert {mk for w, mk in before.values() if w is not None} - {"mk-0000000000000000"} <= set(
        master_keys(settings.key_file)
    )
    _check_readable(settings, planted)
