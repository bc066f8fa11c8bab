"""The kernel's tables (SQLAlchemy 2 declarative models).

Alembic migrations in ``vallum/store/migrations`` create these; a test checks that
the migrations and these models agree. Ledger rows are append-only: triggers on
both SQLite and PostgreSQL refuse UPDATE and DELETE (see the first migration).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every Vallum table."""


class LedgerEvent(Base):
    """One ledger event; ``hash`` = SHA-256 of its canonical entry (see vallum.ledger)."""

    __tablename__ = "ledger_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    time: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(512))
    outcome: Mapped[str] = mapped_column(String(16))
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_ledger_events_action_seq", "action", "seq"),)


class LedgerCheckpoint(Base):
    """A signed statement of the Merkle root over the first ``tree_size`` events."""

    __tablename__ = "ledger_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[str] = mapped_column(String(32))
    interval: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class LedgerHead(Base):
    """The writer's running state (one row): derivable from the events, kept for speed."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    frontier: Mapped[str] = mapped_column(Text)
    checkpoint_size: Mapped[int] = mapped_column(BigInteger)
    checkpoint_time: Mapped[str] = mapped_column(String(32))


class Instance(Base):
    """This installation: its id and the public half of its ledger signing key."""

    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    instance_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))
    signing_key_id: Mapped[str] = mapped_column(String(64))
    signing_public_key: Mapped[str] = mapped_column(String(64))


class DataKey(Base):
    """A data key wrapped by the master key; ``wrapped`` is NULL once shredded."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(128))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    master_key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[str] = mapped_column(String(32))
    destroyed_at: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Blob(Base):
    """A content-addressed, encrypted blob (address = SHA-256 of the plaintext)."""

    __tablename__ = "blobs"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data_key_id: Mapped[str] = mapped_column(ForeignKey("data_keys.id"))
    created_at: Mapped[str] = mapped_column(String(32))


class SealedValue(Base):
    """A small named secret, encrypted under its own data key (the vault)."""

    __tablename__ = "sealed_values"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    data_key_id: Mapped[str] = mapped_column(ForeignKey("data_keys.id"))
    updated_at: Mapped[str] = mapped_column(String(32))


class User(Base):
    """A person who can sign in to the console (identity grows this table)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean)
    roles: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[str] = mapped_column(String(32))
