"""The Context every domain function takes: database, keyring, blobs, ledger, actor.

Built once per process by an interface (CLI command, API app) from the settings,
passed explicitly, closed at the end. ``initialise`` is what ``vallum init`` does.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, insert, select

from vallum.clock import now_text
from vallum.config import KeyProviderKind, VallumSettings
from vallum.crypto.keyring import Keyring
from vallum.crypto.providers import KeyProvider, LocalFileKeyProvider, provider_for
from vallum.errors import ConfigError, IntegrityError, NotInitializedError
from vallum.identity.accounts import create_user
from vallum.identity.directory import Directory, IdentityPolicy, ensure_builtin_roles
from vallum.identity.principal import Principal
from vallum.identity.users import ADMIN, OneTimeCredentials
from vallum.ledger.checkpoint import CheckpointSigner, key_id_of
from vallum.ledger.event import Outcome
from vallum.ledger.witness import FILENAME as WITNESS_FILE
from vallum.ledger.writer import Ledger, Receipt, initialise_head
from vallum.store.blobs import BlobStore, LocalFolderBackend
from vallum.store.engine import make_engine
from vallum.store.models import Instance, User
from vallum.store.schema import migrate, require_migrated

SIGNING_KEY = "ledger.signing_key"


@dataclass
class Context:
    """Everything a domain function needs; ``principal`` is who acts."""

    settings: VallumSettings
    engine: Engine
    keyring: Keyring
    blobs: BlobStore
    ledger: Ledger
    principal: Principal
    instance_id: str
    directory: Directory
    _closed: bool = field(default=False, repr=False)

    def record(
        self,
        action: str,
        subject: str,
        *,
        outcome: Outcome | str = Outcome.SUCCESS,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Record an event by the acting principal; returns its seq once durable."""
        receipt: Receipt = self.ledger.append(
            self.principal.actor, action, subject, outcome=outcome, data=data
        )
        return receipt.seq

    def as_principal(self, principal: Principal) -> Context:
        """The same context acting for someone else (shares engine and ledger)."""
        return Context(
            self.settings,
            self.engine,
            self.keyring,
            self.blobs,
            self.ledger,
            principal,
            self.instance_id,
            self.directory,
        )

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.ledger.close()
        self.engine.dispose()


def _check_data_dir(settings: VallumSettings, create: bool) -> None:
    d = settings.data_dir
    if not d.exists():
        if not create:
            raise NotInitializedError(
                f"data directory {d} does not exist", hint="run `vallum init`"
            )
        d.mkdir(parents=True, mode=0o700)
    elif not d.is_dir():
        raise ConfigError(f"data directory {d} is not a directory")


def _provider(settings: VallumSettings, create: bool) -> tuple[KeyProvider, bool]:
    if settings.key_provider is KeyProviderKind.LOCAL_FILE and not settings.key_file.exists():
        if not create:
            raise NotInitializedError(
                f"master key file {settings.key_file} is missing", hint="run `vallum init`"
            )
        return LocalFileKeyProvider.create(settings.key_file), True
    return provider_for(settings), False


def _build(
    settings: VallumSettings, engine: Engine, provider: KeyProvider, principal: Principal
) -> Context:
    keyring = Keyring(engine, provider)
    with engine.connect() as conn:
        inst = conn.execute(select(Instance)).first()
    if inst is None:
        raise NotInitializedError("this database has no instance record", hint="run `vallum init`")
    private = Ed25519PrivateKey.from_private_bytes(keyring.unseal(SIGNING_KEY))
    signer = CheckpointSigner(inst.instance_id, private)
    if signer.public_key.hex() != inst.signing_public_key:
        raise IntegrityError(
            "the instance public key in the database does not match the sealed signing key"
        )
    ledger = Ledger(
        engine,
        signer,
        checkpoint_events=settings.ledger_checkpoint_events,
        checkpoint_seconds=settings.ledger_checkpoint_seconds,
        batch_size=settings.ledger_batch_size,
        queue_size=settings.ledger_queue_size,
        witness=settings.data_dir / WITNESS_FILE,
    )
    blobs = BlobStore(engine, keyring, LocalFolderBackend(settings.data_dir / "blobs"))
    directory = Directory(engine, keyring, ledger, identity_policy(settings))
    return Context(settings, engine, keyring, blobs, ledger, principal, inst.instance_id, directory)


def identity_policy(settings: VallumSettings) -> IdentityPolicy:
    return IdentityPolicy(
        session_idle=dt.timedelta(minutes=settings.session_idle_minutes),
        session_absolute=dt.timedelta(hours=settings.session_absolute_hours),
        mfa_required_for_all=settings.mfa_required_for_all,
        lockout_threshold=settings.login_lockout_threshold,
        jit_max=dt.timedelta(hours=settings.jit_max_hours),
        break_glass_max=dt.timedelta(hours=settings.break_glass_max_hours),
        api_key_max_days=settings.api_key_max_days,
        api_key_warn_days=settings.api_key_warn_days,
        api_key_unused_days=settings.api_key_unused_days,
    )


def open_context(settings: VallumSettings, principal: Principal | None = None) -> Context:
    """Open an initialised installation; raises NotInitializedError otherwise."""
    _check_data_dir(settings, create=False)
    provider, _ = _provider(settings, create=False)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        require_migrated(engine)
        return _build(settings, engine, provider, principal or Principal.local_operator())
    except BaseException:
        engine.dispose()
        raise


@dataclass(frozen=True, slots=True)
class InitResult:
    data_dir: Path
    created_key_file: bool
    migrated_from: str | None
    migrated_to: str
    created_instance: bool
    admin: OneTimeCredentials | None


def initialise(settings: VallumSettings, principal: Principal | None = None) -> InitResult:
    """Create the data directory, key file and schema, instance key and admin (idempotent)."""
    _check_data_dir(settings, create=True)
    provider, created_key = _provider(settings, create=True)
    if settings.key_provider is KeyProviderKind.LOCAL_FILE:
        mode = stat.S_IMODE(os.stat(settings.data_dir).st_mode)
        if mode & 0o077 and settings.data_dir == settings.key_file.parent:
            os.chmod(settings.data_dir, 0o700)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        before, after = migrate(engine)
        keyring = Keyring(engine, provider)
        created_instance = False
        with engine.connect() as conn:
            exists = conn.execute(select(Instance.id)).first() is not None
        if not exists:
            private = Ed25519PrivateKey.generate()
            keyring.seal(SIGNING_KEY, private.private_bytes_raw())
            public = private.public_key().public_bytes_raw()
            with engine.begin() as conn:
                conn.execute(
                    insert(Instance).values(
                        id=1,
                        instance_id=f"vallum-{uuid.uuid4().hex[:12]}",
                        created_at=now_text(),
                        signing_key_id=key_id_of(public),
                        signing_public_key=public.hex(),
                    )
                )
            created_instance = True
        initialise_head(engine)
        ensure_builtin_roles(engine)
        with engine.connect() as conn:
            no_users = conn.execute(select(User.id).limit(1)).first() is None
    finally:
        engine.dispose()
    ctx = open_context(settings, principal)
    admin = None
    try:
        if created_instance:
            ctx.record(
                "system.initialized",
                f"instance:{ctx.instance_id}",
                data={"schema": after, "key_provider": str(settings.key_provider)},
            )
        if no_users:
            new = create_user(ctx.directory, ctx.principal.actor, ADMIN, ["admin"])
            admin = OneTimeCredentials(ADMIN, new.one_time_password)
        if before != after and not created_instance:
            ctx.record(
                "system.migrated", f"instance:{ctx.instance_id}", data={"from": before, "to": after}
            )
    finally:
        ctx.close()
    return InitResult(settings.data_dir, created_key, before, after, created_instance, admin)
