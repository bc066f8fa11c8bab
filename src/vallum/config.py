"""One settings object for all of Vallum.

Precedence, lowest first: field defaults < ``vallum.toml`` < ``VALLUM_*``
environment variables < command-line flags. The TOML file is ``vallum.toml`` in
the current directory, or the file named by ``--config`` / ``VALLUM_CONFIG``.
Settings are built once, in the interface's entry point (``load_settings``),
never at import. Every field is documented in docs/configuration.md (a test
checks it).
"""

from __future__ import annotations

import contextvars
import enum
import os
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from vallum.errors import ConfigError

DEFAULT_PORT = 8600
CONFIG_ENV = "VALLUM_CONFIG"
_toml_path: contextvars.ContextVar[Path | None] = contextvars.ContextVar("toml", default=None)


class KeyProviderKind(enum.StrEnum):
    """Where the master key (which wraps every data key) comes from."""

    LOCAL_FILE = "local-file"
    ENV = "env"
    KMS = "kms"


class VallumSettings(BaseSettings):
    """Every knob Vallum has. See docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix="VALLUM_", extra="forbid", frozen=True, validate_default=True
    )

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("vallum", appauthor=False)),
        description="Folder holding the SQLite database, blob store and local key file.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite at DATA_DIR/vallum.db.",
    )
    host: str = Field(
        default="127.0.0.1",
        description="Address the API and console bind to (loopback by default).",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate to serve HTTPS (with tls_key_file)."
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key for HTTPS.")
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535, description="Port of API/console.")
    key_provider: KeyProviderKind = Field(
        default=KeyProviderKind.LOCAL_FILE, description="Master key provider."
    )
    master_key_file: Path | None = Field(
        default=None, description="Local master key file; default DATA_DIR/master.key."
    )
    master_key: SecretStr | None = Field(
        default=None, description="Base64 master key, used when key_provider is 'env'."
    )
    redis_url: SecretStr | None = Field(
        default=None, description="Redis URL for scale-out state; unset means none."
    )
    ledger_checkpoint_events: int = Field(
        default=1000, ge=1, le=1_000_000, description="Sign a checkpoint every N events."
    )
    ledger_checkpoint_seconds: float = Field(
        default=60.0, gt=0, le=86_400, description="...or every T seconds with new events."
    )
    ledger_batch_size: int = Field(
        default=2000, ge=1, le=100_000, description="Most events per group commit."
    )
    ledger_queue_size: int = Field(
        default=100_000, ge=1, description="Pending appends before the ledger refuses."
    )
    log_level: str = Field(default="warning", description="Python log level name.")
    session_idle_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="Console sessions end after this idle time."
    )
    session_absolute_hours: int = Field(
        default=12, ge=1, le=24 * 7, description="Console sessions end after this lifetime."
    )
    mfa_required_for_all: bool = Field(
        default=False, description="Require MFA of every user, not only admin and security."
    )
    login_lockout_threshold: int = Field(
        default=5, ge=1, le=100, description="Failed logins before the account locks (backoff)."
    )
    jit_max_hours: float = Field(
        default=8, gt=0, le=72, description="Longest just-in-time role grant."
    )
    break_glass_max_hours: float = Field(
        default=4, gt=0, le=24, description="Longest break-glass grant."
    )
    api_key_max_days: int = Field(
        default=365, ge=1, le=3650, description="Longest lifetime an API key may be given."
    )
    api_key_warn_days: int = Field(
        default=14, ge=1, le=365, description="Warn about keys expiring within this many days."
    )
    api_key_unused_days: int = Field(
        default=30, ge=1, le=3650, description="Warn about keys unused for this many days."
    )

    gateway_host: str = Field(
        default="127.0.0.1", description="Address the gateway binds to (loopback by default)."
    )
    gateway_port: int = Field(default=8700, ge=1, le=65535, description="Port of the gateway.")
    gateway_workers: int = Field(
        default=1, ge=1, le=64, description="Gateway worker processes (`vallum gateway`)."
    )
    gateway_demo: bool = Field(
        default=True, description="Serve the built-in offline `demo` model and route."
    )
    gateway_key_requests_per_minute: int = Field(
        default=0, ge=0, description="Requests per minute per API key (0: no limit)."
    )
    gateway_key_tokens_per_minute: int = Field(
        default=0, ge=0, description="Tokens per minute per API key (0: no limit)."
    )
    gateway_upstream_timeout: float = Field(
        default=60.0, gt=0, le=600, description="Seconds to wait for a vendor."
    )
    gateway_max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="Largest request body."
    )
    gateway_config_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, description="How often workers look for route/vendor changes."
    )
    gateway_capture_days: int = Field(
        default=0, ge=0, le=3650, description="Keep encrypted request content N days (0: off)."
    )
    gateway_stream_window: int = Field(
        default=96, ge=16, le=4096, description="Characters held back by streaming output guards."
    )

    @field_validator("database_url")
    @classmethod
    def _no_placeholder(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and "changeme" in v.get_secret_value().lower():
            raise ValueError("database_url still contains a placeholder password")
        return v

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, v: str) -> str:
        if v.lower() not in {"debug", "info", "warning", "error", "critical"}:
            raise ValueError("log_level must be debug, info, warning, error or critical")
        return v.lower()

    @field_validator("data_dir", "master_key_file", "tls_cert_file", "tls_key_file")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return None if v is None else v.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: flags (init kwargs) > VALLUM_* env > vallum.toml > defaults.
        toml = _toml_path.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL to connect to (SQLite in the data directory by default)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'vallum.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"


def _find_toml(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    env = os.environ.get(CONFIG_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}={env} does not name a file")
        return path
    local = Path("vallum.toml")
    return local if local.is_file() else None


#: Environment variables with the VALLUM_ prefix that are not settings.
RESERVED_ENV = frozenset({CONFIG_ENV})
RESERVED_ENV_PREFIX = "VALLUM_TEST_"  # the test suite's own knobs


def _check_environment() -> None:
    """A mistyped VALLUM_* variable is an error, not silently ignored."""
    known = {f"VALLUM_{name.upper()}" for name in VallumSettings.model_fields}
    for key in os.environ:
        upper = key.upper()
        if (
            upper.startswith("VALLUM_")
            and upper not in known
            and upper not in RESERVED_ENV
            and not upper.startswith(RESERVED_ENV_PREFIX)
        ):
            raise ConfigError(
                f"unknown setting {key} in the environment", hint="see docs/configuration.md"
            )


def load_settings(config_file: Path | None = None, **flags: Any) -> VallumSettings:
    """Build the settings once: flags given as keyword arguments (None = not given)."""
    _check_environment()
    toml = _find_toml(config_file)
    if toml is not None:
        try:
            tomllib.loads(toml.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {toml}: {exc}") from exc
    token = _toml_path.set(toml)
    try:
        return VallumSettings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(
            f"invalid setting {where}: {first['msg']}",
            hint="see docs/configuration.md",
        ) from None
    finally:
        _toml_path.reset(token)
