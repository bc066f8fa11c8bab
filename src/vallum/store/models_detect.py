"""Tables of the detectors (migration ``0005_detect``): the tokenization vault.

One row per conversation: the surrogate mapping, encrypted under the
conversation's own data key (AES-256-GCM via the keyring), with its expiry.
Shredding the data key makes the mapping unrecoverable; the row is then deleted.
"""

from __future__ import annotations

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from vallum.store.models import Base


class DetectVault(Base):
    """The encrypted surrogate mapping of one conversation."""

    __tablename__ = "detect_vault"

    conversation: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 (hex) of the caller's conversation id; the id itself is not stored."""
    data_key_id: Mapped[str] = mapped_column(String(32))
    mapping: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[str] = mapped_column(String(32))

    __table_args__ = (Index("ix_detect_vault_expires_at", "expires_at"),)
