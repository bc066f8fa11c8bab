"""The gateway's tables: vendors, routes and a configuration version counter.

Kept apart from ``vallum.store.models`` (same declarative ``Base``) so branches
adding tables do not collide. Migration ``0004_gateway`` creates them. Lists and
mappings are JSON text; a vendor's credential is ciphertext from the keyring
(never plaintext), or the name of an environment variable that holds it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vallum.store.models import Base


class GatewayVendor(Base):
    """A model vendor the gateway may forward to."""

    __tablename__ = "gateway_vendors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(512))
    credential: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    credential_env: Mapped[str | None] = mapped_column(String(128), nullable=True)
    api_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    baa: Mapped[bool] = mapped_column(Boolean)
    regions: Mapped[str] = mapped_column(Text)
    data_classes: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[str] = mapped_column(String(32))


class GatewayRoute(Base):
    """A model alias: weighted targets, who may call it, its guard policy and limits."""

    __tablename__ = "gateway_routes"

    alias: Mapped[str] = mapped_column(String(128), primary_key=True)
    targets: Mapped[str] = mapped_column(Text)
    allowed_roles: Mapped[str] = mapped_column(Text)
    allowed_keys: Mapped[str] = mapped_column(Text)
    regions: Mapped[str] = mapped_column(Text)
    policy: Mapped[str] = mapped_column(Text)
    requests_per_minute: Mapped[int] = mapped_column(Integer)
    tokens_per_minute: Mapped[int] = mapped_column(Integer)
    canary: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[str] = mapped_column(String(32))


class GatewayConfigVersion(Base):
    """One row; bumped on every vendor or route change so workers reload."""

    __tablename__ = "gateway_config_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class GatewayCapture(Base):
    """Optional forensic capture of one request's content, encrypted (off by default)."""

    __tablename__ = "gateway_captures"

    request_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    key_id: Mapped[str] = mapped_column(String(32))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[str] = mapped_column(String(32))
