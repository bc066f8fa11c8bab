"""Master key providers: the local key file, the env key, and what `vallum init` creates."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from tests.unit.crypto.support import key_file_doc, master_keys, wrapped_keys
from vallum.cli.main import main
from vallum.config import VallumSettings
from vallum.context import initialise, open_context
from vallum.crypto.providers import EnvKeyProvider, LocalFileKeyProvider
from vallum.errors import (
    ConfigError,
    IntegrityError,
    NotInitializedError,
    UsageError,
)
from vallum.store.models import DataKey


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# -- vallum init -------------------------------------------------------------


def test_init_creates_private_key_file_and_data_dir(settings: VallumSettings) -> None:
    assert not settings.data_dir.exists()
    result = initialise(settings)

    assert result.created_key_file is True
    assert settings.key_file == settings.data_dir / "master.key"
    assert _mode(settings.data_dir) == 0o700
    assert _mode(settings.key_file) == 0o600
    doc = key_file_doc(settings.key_file)
    assert doc["version"] == 1
    assert list(doc["keys"]) == [doc["active"]]
    assert len(master_keys(settings.key_file)[doc["active"]]) == 32

    # Every data key made by init is wrapped by that master key.
    ctx = open_context(settings)
    try:
        rows = wrapped_keys(ctx.engine)
    finally:
        ctx.close()
    assert rows, "init should have sealed the ledger signing key under a data key"
    assert {mk for _, mk in rows.values()} == {doc["active"]}

    # Running init again creates nothing and keeps the key.
    before = settings.key_file.read_bytes()
    again = initialise(settings)
    assert again.created_key_file is False
    assert again.created_instance is False
    assert settings.key_file.read_bytes() == before
    assert _mode(settings.key_file) == 0o600


def test_init_tightens_an_existing_open_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    initialise(make_settings(data))
    assert _mode(data) == 0o700
    assert _mode(data / "master.key") == 0o600


# -- the local key file --------------------------------------------------------


@pytest.fixture
def installed(tmp_path: Path) -> VallumSettings:
    """An initialised SQLite installation (the key file does not depend on the DB)."""
    s = make_settings(tmp_path / "data")
    initialise(s)
    return s


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o660, 0o602, 0o610])
def test_open_refuses_key_file_others_can_access(installed: VallumSettings, mode: int) -> None:
    key_file = installed.key_file
    before = key_file.read_bytes()
    key_file.chmod(mode)

    with pytest.raises(ConfigError) as caught:
        open_context(installed)
    message = caught.value.one_line()
    assert f"chmod 600 {key_file}" in message
    assert f"{mode:o}" in message
    # Refused, not silently "fixed", and the key was not touched.
    assert _mode(key_file) == mode
    assert key_file.read_bytes() == before

    key_file.chmod(0o600)
    open_context(installed).close()


def test_cli_names_chmod_for_a_readable_key_file(
    installed: VallumSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    installed.key_file.chmod(0o644)
    status = main(["--data-dir", str(installed.data_dir), "keys", "rotate"])
    assert status == 2
    err = capsys.readouterr().err
    assert "[config]" in err
    assert f"chmod 600 {installed.key_file}" in err
    assert len(master_keys(installed.key_file)) == 1, "rotation must not have started"


def test_missing_key_file_means_not_initialised(installed: VallumSettings, tmp_path: Path) -> None:
    installed.key_file.unlink()
    with pytest.raises(NotInitializedError) as caught:
        open_context(installed)
    assert "vallum init" in caught.value.one_line()
    # Opening must never quietly create a new (wrong) master key.
    assert not installed.key_file.exists()

    with pytest.raises(NotInitializedError):
        open_context(make_settings(tmp_path / "never-initialised"))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json at all",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'{"version": 1, "keys": {}}',
        b'{"version": 1, "active": "mk-1", "keys": {}}',
        b'{"version": 1, "active": "mk-1", "keys": ["x"]}',
        b'{"version": 1, "active": "mk-1", "keys": {"mk-1": "%%% not base64"}}',
        b'{"version": 1, "active": "mk-1", "keys": {"mk-1": 42}}',
        json.dumps({"version": 1, "active": "mk-1", "keys": {"mk-1": _b64(b"k" * 16)}}).encode(),
        json.dumps({"version": 1, "active": "mk-2", "keys": {"mk-1": _b64(b"k" * 32)}}).encode(),
    ],
    ids=[
        "empty",
        "text",
        "binary",
        "list",
        "no-active",
        "no-keys",
        "keys-list",
        "bad-base64",
        "not-a-string",
        "short-key",
        "active-missing",
    ],
)
def test_corrupt_key_file_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    s = make_settings(tmp_path / "data")
    s.data_dir.mkdir(mode=0o700)
    fd = os.open(s.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    with pytest.raises(ConfigError) as caught:
        open_context(s)
    assert "corrupt" in caught.value.one_line()
    assert str(s.key_file) in caught.value.one_line()
    assert s.key_file.read_bytes() == content, "a corrupt key file must be left alone"


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    LocalFileKeyProvider.create(path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        LocalFileKeyProvider.create(path)
    assert path.read_bytes() == before
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700


def test_wrap_binds_associated_data_and_master_key(tmp_path: Path) -> None:
    provider = LocalFileKeyProvider.create(tmp_path / "master.key")
    dek = secrets.token_bytes(32)
    master_id, wrapped = provider.wrap(dek, b"vallum-data-key:a")
    assert master_id == provider.active_key_id()
    assert dek not in wrapped
    assert provider.unwrap(master_id, wrapped, b"vallum-data-key:a") == dek

    with pytest.raises(IntegrityError):
        provider.unwrap(master_id, wrapped, b"vallum-data-key:b")
    for i in (0, 12, len(wrapped) - 1):
        tampered = bytearray(wrapped)
        tampered[i] ^= 0x80
        with pytest.raises(IntegrityError):
            provider.unwrap(master_id, bytes(tampered), b"vallum-data-key:a")
    for cut in (b"", wrapped[:5], wrapped[:12], wrapped[:-1]):
        with pytest.raises(IntegrityError):
            provider.unwrap(master_id, cut, b"vallum-data-key:a")
    with pytest.raises(IntegrityError, match="not in"):
        provider.unwrap("mk-0000000000000000", wrapped, b"vallum-data-key:a")

    other = EnvKeyProvider(_b64(secrets.token_bytes(32)))
    with pytest.raises(IntegrityError):
        other.unwrap(master_id, wrapped, b"vallum-data-key:a")


def test_rotate_keeps_the_key_file_private_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    provider = LocalFileKeyProvider.create(path)
    first = provider.active_key_id()
    second = provider.rotate()
    assert second != first
    assert set(master_keys(path)) == {first, second}
    assert key_file_doc(path)["active"] == second
    assert _mode(path) == 0o600
    provider.retire([first, second])  # the active key is never retired
    assert set(master_keys(path)) == {second}
    assert _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.key"]


def test_provider_follows_a_rotation_made_by_another_process(tmp_path: Path) -> None:
    """A server started before `vallum keys rotate` must not keep using the retired key.

    Otherwise the data keys it creates are wrapped by a master key that is no
    longer in the file, and become unreadable at its next restart.
    """
    path = tmp_path / "master.key"
    server = LocalFileKeyProvider.create(path)
    old = server.active_key_id()
    cli = LocalFileKeyProvider(path)
    new = cli.rotate()
    cli.retire([old])

    dek = secrets.token_bytes(32)
    used, wrapped = server.wrap(dek, b"aad")
    assert used == new
    assert LocalFileKeyProvider(path).unwrap(used, wrapped, b"aad") == dek
    _, by_cli = cli.wrap(dek, b"aad")
    assert server.unwrap(new, by_cli, b"aad") == dek

    # Two rotations from processes that loaded the file at different times
    # must not lose each other's keys.
    newer = cli.rotate()
    newest = server.rotate()
    assert {new, newer, newest} <= set(master_keys(path))
    assert key_file_doc(path)["active"] == newest


# -- the env provider ------------------------------------------------------------


def test_env_provider_end_to_end(
    tmp_path: Path,
    database_url: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = _b64(secrets.token_bytes(32))
    data = tmp_path / "data"
    s = make_settings(data, database_url, key_provider="env", master_key=key)
    result = initialise(s)
    assert result.created_key_file is False
    assert not (data / "master.key").exists()
    assert _mode(data) == 0o700

    ctx = open_context(s)
    try:
        ref = ctx.blobs.put_bytes(b"hello env provider")
        ctx.keyring.seal("test.env", b"sealed under env")
        rows = wrapped_keys(ctx.engine)
        with pytest.raises(UsageError, match="cannot rotate"):
            ctx.keyring.rotate_master(ctx.record)
        assert wrapped_keys(ctx.engine) == rows
    finally:
        ctx.close()
    assert {mk for _, mk in rows.values()} == {EnvKeyProvider(key).active_key_id()}

    ctx = open_context(s)
    try:
        assert ctx.blobs.get_bytes(ref.address) == b"hello env provider"
        assert ctx.keyring.unseal("test.env") == b"sealed under env"
    finally:
        ctx.close()

    # The CLI refuses to rotate an env key, with a usage error.
    monkeypatch.setenv("VALLUM_KEY_PROVIDER", "env")
    monkeypatch.setenv("VALLUM_MASTER_KEY", key)
    if database_url is not None:
        monkeypatch.setenv("VALLUM_DATABASE_URL", database_url)
    status = main(["--data-dir", str(data), "keys", "rotate", "--format", "json"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "cannot rotate" in err
    assert key not in err
    monkeypatch.delenv("VALLUM_KEY_PROVIDER")
    monkeypatch.delenv("VALLUM_MASTER_KEY")

    # Another key cannot open the installation...
    other = make_settings(data, database_url, key_provider="env", master_key=_b64(b"o" * 32))
    with pytest.raises(IntegrityError):
        open_context(other)
    # ...and switching to the local file provider does not invent a key.
    with pytest.raises(NotInitializedError):
        open_context(make_settings(data, database_url))
    assert not (data / "master.key").exists()


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ("not base64 at all!", "not valid base64"),
        (_b64(secrets.token_bytes(32))[:-2] + "*=", "not valid base64"),
        (_b64(secrets.token_bytes(16)), "must be 32 bytes"),
        (_b64(secrets.token_bytes(33)), "must be 32 bytes"),
        ("", "must be 32 bytes"),
    ],
    ids=["text", "bad-char", "16-bytes", "33-bytes", "empty"],
)
def test_env_provider_rejects_bad_keys(tmp_path: Path, encoded: str, message: str) -> None:
    s = make_settings(tmp_path / "data", key_provider="env", master_key=encoded)
    with pytest.raises(ConfigError, match=message) as caught:
        initialise(s)
    if encoded:
        assert encoded not in caught.value.one_line()
    assert not (s.data_dir / "vallum.db").exists()
    with pytest.raises(ConfigError, match=message):
        EnvKeyProvider(encoded)


def test_env_provider_without_a_key(tmp_path: Path) -> None:
    s = make_settings(tmp_path / "data", key_provider="env")
    with pytest.raises(ConfigError, match="VALLUM_MASTER_KEY is not set"):
        initialise(s)


def test_kms_provider_is_not_in_this_build(tmp_path: Path) -> None:
    s = make_settings(tmp_path / "data", key_provider="kms")
    with pytest.raises(ConfigError, match="not available in this build") as caught:
        initialise(s)
    assert "local-file" in caught.value.one_line()
    assert not s.key_file.exists()
    assert not (s.data_dir / "vallum.db").exists()
    with pytest.raises(ConfigError, match="not available in this build"):
        open_context(s)


def test_every_data_key_row_names_its_master(installed: VallumSettings) -> None:
    """Sanity of the schema the other tests read: wrapped keys and master ids."""
    ctx = open_context(installed)
    try:
        with ctx.engine.connect() as conn:
            rows = conn.execute(select(DataKey)).all()
        assert rows
        active = json.loads(installed.key_file.read_text())["active"]
        for row in rows:
            assert row.master_key_id == active
            assert row.wrapped is not None
            assert len(row.wrapped) == 12 + 32 + 16
    finally:
        ctx.close()
