"""A cached API key stops working at its expiry, without waiting for the cache."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from vallum.context import Context
from vallum.errors import AuthError
from vallum.identity import accounts, apikeys
from vallum.store.models import ApiKey


def test_cached_key_is_refused_after_expiry(ctx: Context) -> None:
    d = ctx.directory
    accounts.create_service_account(d, "user:admin", "exp-svc", ["auditor"])
    issued = apikeys.create_key(
        d,
        "user:admin",
        name="short",
        owner="exp-svc",
        scopes=["ledger.read"],
        expires_in=dt.timedelta(seconds=2),
    )
    assert apikeys.authenticate(d, issued.secret).key_id == issued.info.id  # now cached
    # Keep the cache warm past the expiry: the cached entry alone must not admit it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            apikeys.authenticate(d, issued.secret)
        except AuthError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the key still worked 10 s after a 2 s lifetime")
    with ctx.engine.connect() as conn:
        row = conn.execute(ApiKey.__table__.select().where(ApiKey.id == issued.info.id)).first()
    assert row is not None
    assert row.revoked_at is None  # refused for expiry, not revocation
