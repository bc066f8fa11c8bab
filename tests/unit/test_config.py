"""Settings: precedence, validation, and no secrets in error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from vallum.config import KeyProviderKind, load_settings
from vallum.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    s = load_settings()
    assert s.port == 8600
    assert s.host == "127.0.0.1"
    assert s.key_provider is KeyProviderKind.LOCAL_FILE
    assert s.sqlalchemy_url.startswith("sqlite:///")
    assert s.data_dir.is_absolute()


def test_precedence_defaults_toml_env_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """defaults < vallum.toml < VALLUM_* < flags, pinned so a refactor cannot flip it."""
    (tmp_path / "vallum.toml").write_text(
        "port = 9001\nledger_batch_size = 7\nlog_level = 'info'\n"
    )
    s = load_settings()
    assert (s.port, s.ledger_batch_size, s.log_level) == (9001, 7, "info")
    monkeypatch.setenv("VALLUM_PORT", "9002")
    s = load_settings()
    assert (s.port, s.ledger_batch_size) == (9002, 7)
    s = load_settings(port=9003)
    assert s.port == 9003
    assert load_settings(port=None).port == 9002  # a flag not given does not override


def test_config_file_from_flag_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text("port = 9100\n")
    assert load_settings(cfg).port == 9100
    monkeypatch.setenv("VALLUM_CONFIG", str(cfg))
    assert load_settings().port == 9100
    monkeypatch.setenv("VALLUM_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="does not name a file"):
        load_settings()


@pytest.mark.parametrize(
    ("toml", "match"),
    [
        ("port = 0\n", "port"),
        ("port = 'x'\n", "port"),
        ("nonsense = 1\n", "nonsense"),
        ("log_level = 'loud'\n", "log_level"),
        ("key_provider = 'hsm'\n", "key_provider"),
        ("port = [\n", "cannot read"),
        ("ledger_checkpoint_events = 0\n", "ledger_checkpoint_events"),
    ],
)
def test_bad_settings_are_one_clear_error(tmp_path: Path, toml: str, match: str) -> None:
    (tmp_path / "vallum.toml").write_text(toml)
    with pytest.raises(ConfigError, match=match):
        load_settings()


def test_placeholder_password_refused_without_echoing_it() -> None:
    url = "postgresql://vallum:changeme-SECRETMARKER@db/vallum"
    with pytest.raises(ConfigError) as info:
        load_settings(database_url=url)
    assert "SECRETMARKER" not in str(info.value)
    assert "placeholder" in str(info.value)


def test_secret_settings_are_redacted_in_repr() -> None:
    s = load_settings(database_url="postgresql://u:hunter2-MARK@h/db", master_key="TUFSSw==")
    assert "hunter2-MARK" not in repr(s)
    assert "TUFSSw" not in repr(s)


def test_env_bool_and_int_parsing_is_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALLUM_LEDGER_BATCH_SIZE", "12abc")
    with pytest.raises(ConfigError, match="ledger_batch_size"):
        load_settings()


def test_mistyped_environment_setting_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALLUM_PROT", "9000")
    with pytest.raises(ConfigError, match="VALLUM_PROT"):
        load_settings()
