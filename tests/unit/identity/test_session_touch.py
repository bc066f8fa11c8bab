"""A session's idle timer is written at most every TOUCH_EVERY, not on every request."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from vallum.clock import format_time, parse_time, utcnow
from vallum.context import Context
from vallum.identity import accounts, login
from vallum.store.models import Session


def _last_seen(ctx: Context, digest: str) -> str:
    with ctx.engine.connect() as conn:
        return str(
            conn.execute(select(Session.last_seen_at).where(Session.token_hash == digest)).scalar()
        )


def test_resume_touches_the_session_only_when_stale(ctx: Context) -> None:
    d = ctx.directory
    new = accounts.create_user(d, "user:admin", "touchy", ["auditor"])
    session = login.login(d, "touchy", new.one_time_password)
    digest = session.state.token_hash
    recent = format_time(utcnow() - dt.timedelta(seconds=5))
    with ctx.engine.begin() as conn:
        conn.execute(
            update(Session).where(Session.token_hash == digest).values(last_seen_at=recent)
        )
    assert login.resume(d, session.token) is not None
    assert _last_seen(ctx, digest) == recent  # fresh enough: no write
    stale = utcnow() - login.TOUCH_EVERY - dt.timedelta(seconds=5)
    with ctx.engine.begin() as conn:
        conn.execute(
            update(Session)
            .where(Session.token_hash == digest)
            .values(last_seen_at=format_time(stale))
        )
    assert login.resume(d, session.token) is not None
    assert parse_time(_last_seen(ctx, digest)) > stale + login.TOUCH_EVERY  # written now
