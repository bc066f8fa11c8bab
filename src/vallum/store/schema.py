"""Create and migrate the database with Alembic; refuse to run on an old schema."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from vallum.errors import NotInitializedError, UnavailableError


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(Path(str(resources.files("vallum.store"))) / "migrations")
    )
    return cfg


def head_revision() -> str:
    """The newest migration this build knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None  # noqa: S101 - the package always ships migrations
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise UnavailableError(f"cannot reach the database ({type(exc).__name__})") from exc


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Upgrade the database to the head revision; returns (before, after)."""
    before = current_revision(engine)
    cfg = _alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise UnavailableError(f"migration failed ({type(exc).__name__}: {exc.args[0]})") from exc
    return before, head_revision()


def require_migrated(engine: Engine) -> None:
    """Raise NotInitializedError unless the database is at the head revision."""
    current = current_revision(engine)
    head = head_revision()
    if current is None:
        raise NotInitializedError(
            "the database has not been initialised", hint="run `vallum init` first"
        )
    if current != head:
        raise NotInitializedError(
            f"the database is at migration {current}, this Vallum needs {head}",
            hint="run `vallum init` to migrate",
        )
