"""Alembic environment: run with a connection handed over by vallum.store.schema."""

from __future__ import annotations

from alembic import context

from vallum.store import models_detect, models_gateway  # noqa: F401  (register their tables)
from vallum.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
