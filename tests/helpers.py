"""Test helpers that act as an attacker with direct database access."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

LEDGER_TABLES = ("ledger_events", "ledger_checkpoints")


def tamper(engine: Engine, sql: str, **params: Any) -> None:
    """Run ``sql`` with the append-only triggers out of the way, as a DBA could."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for t in LEDGER_TABLES:
                conn.execute(text(f"ALTER TABLE {t} DISABLE TRIGGER USER"))
            conn.execute(text(sql), params)
            for t in LEDGER_TABLES:
                conn.execute(text(f"ALTER TABLE {t} ENABLE TRIGGER USER"))
        else:
            rows = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type='trigger'")
            ).all()
            for name, _ in rows:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
            conn.execute(text(sql), params)
            for _, ddl in rows:
                conn.execute(text(ddl))
