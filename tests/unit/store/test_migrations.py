"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from vallum.config import VallumSettings
from vallum.store import models_detect, models_gateway  # noqa: F401  (register their tables)
from vallum.store.engine import make_engine
from vallum.store.models import Base
from vallum.store.schema import current_revision, head_revision, migrate


def test_migrations_match_models(settings: VallumSettings) -> None:
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        assert current_revision(engine) is None
        before, after = migrate(engine)
        assert (before, after) == (None, head_revision())
        assert migrate(engine) == (head_revision(), head_revision())  # idempotent
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
