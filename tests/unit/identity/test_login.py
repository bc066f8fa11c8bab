"""Console login: passwords, lockout, sessions, CSRF, password change, TOTP MFA.

Real argon2id hashes and real TOTP codes (pyotp); time-dependent behaviour is
driven by writing timestamps into the database with SQL, never by sleeping.
The lockout threshold comes from the ``login_lockout_threshold`` setting.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re
import threading
import time
import uuid
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select, text

from tests.conftest import make_settings
from tests.unit.crypto.support import assert_absent, events_named, found_forms
from tests.unit.store.test_no_plaintext_at_rest import _data_dir_bytes, _postgres_dump
from vallum.clock import format_time, parse_time, utcnow
from vallum.config import VallumSettings
from vallum.context import Context, identity_policy
from vallum.errors import AuthError, UsageError
from vallum.identity import accounts, login
from vallum.identity.directory import load_account
from vallum.store.models import RecoveryCode, Session, User

ACTOR = "user:admin"
THRESHOLD = 3
PAST = "2020-01-01T00:00:00.000000Z"
BAD_LOGIN = "wrong username or password"


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> VallumSettings:
    """The shared settings, with a lockout threshold below the default of 5."""
    return make_settings(
        tmp_path / "data",
        database_url,
        ledger_checkpoint_events=10,
        login_lockout_threshold=THRESHOLD,
    )


# -- helpers ---------------------------------------------------------------------


def _user(ctx: Context, name: str, roles: tuple[str, ...] = ("app-developer",)) -> str:
    """A new user; returns its (one-time) password."""
    return accounts.create_user(ctx.directory, ACTOR, name, list(roles)).one_time_password


def _sql(ctx: Context, sql: str, **params: object) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(text(sql), params)


def _user_row(ctx: Context, name: str) -> User:
    with ctx.engine.connect() as conn:
        row = conn.execute(select(User).where(User.username == name)).one()
    return row  # type: ignore[return-value]


def _session_row(ctx: Context, state: login.SessionState) -> Session:
    with ctx.engine.connect() as conn:
        row = conn.execute(select(Session).where(Session.token_hash == state.token_hash)).one()
    return row  # type: ignore[return-value]


def _ago(**delta: float) -> str:
    return format_time(utcnow() - dt.timedelta(**delta))


def _near(stamp: str | None, expected: dt.datetime, slack: float = 60) -> bool:
    return stamp is not None and abs(parse_time(stamp) - expected) < dt.timedelta(seconds=slack)


def _logins(ctx: Context, subject: str) -> list[tuple[str, dict[str, object]]]:
    return [
        (e.outcome, e.data_obj()) for e in events_named(ctx, "auth.login") if e.subject == subject
    ]


def _code(secret: str, step: int = 0) -> str:
    """A real TOTP code, ``step`` 30-second steps from now (-1: the one just before).

    Enrolment uses the previous step and later logins the current one, so no
    code is presented twice (a verifier may rightly refuse a replayed code).
    """
    return pyotp.TOTP(secret).at(time.time() + 30 * step)


def _wrong_code(secret: str) -> str:
    """A six-digit code that is not valid for ``secret`` anywhere near now."""
    totp = pyotp.TOTP(secret)
    near = {totp.at(time.time() + 30 * k) for k in range(-3, 4)}
    return next(c for c in ("000000", "123456", "999999", "271828") if c not in near)


def _ledger_text(ctx: Context) -> str:
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM ledger_events ORDER BY seq")).all()
    return "\n".join("\t".join(str(v) for v in r) for r in rows)


def _stored_bytes(ctx: Context) -> bytes:
    """Every stored byte: the data directory's files (SQLite and its WAL while
    open, blobs, key file) and, on PostgreSQL, every row as text and every bytea."""
    out = b"\n".join(_data_dir_bytes(ctx.settings.data_dir).values())
    if ctx.engine.dialect.name == "postgresql":
        assert ctx.settings.database_url is not None
        dump, raw, _ = _postgres_dump(ctx.settings.database_url.get_secret_value())
        out += b"\n" + dump.encode() + b"\n" + raw
    return out


def _enrol(ctx: Context, name: str) -> tuple[str, str, list[str]]:
    """An admin who has enrolled TOTP: (password, TOTP secret, recovery codes)."""
    password = _user(ctx, name, ("admin",))
    new = login.login(ctx.directory, name, password)
    enrolment = login.start_mfa_enrolment(ctx.directory, new.state)
    codes = login.finish_mfa_enrolment(ctx.directory, new.state, _code(enrolment.secret, -1))
    return password, enrolment.secret, codes


# -- password login ----------------------------------------------------------------


def test_password_login_opens_a_session(ctx: Context) -> None:
    d = ctx.directory
    password = _user(ctx, "dev")
    new = login.login(d, "dev", password)
    assert new.token not in repr(new) and new.csrf not in repr(new)
    assert len(base64.urlsafe_b64decode(new.token + "=" * (-len(new.token) % 4))) >= 32
    assert new.state.account.username == "dev"
    assert new.state.mfa_verified is False
    assert new.state.needs_mfa is False  # app-developer: MFA not required
    resumed = login.resume(d, new.token)
    assert resumed is not None
    assert resumed.account.username == "dev"
    assert resumed.token_hash == new.state.token_hash
    assert new.token not in resumed.token_hash
    row = _session_row(ctx, new.state)
    assert _near(row.expires_at, utcnow() + dt.timedelta(hours=12))  # session_absolute_hours
    user = _user_row(ctx, "dev")
    assert _near(user.last_login_at, utcnow())
    assert user.failed_logins == 0
    assert _logins(ctx, "user:dev") == [
        ("success", {"stage": "password", "mfa_due": False, "source": "console"})
    ]
    for token in (None, "", "not-a-token", new.token + "x", new.state.token_hash):
        assert login.resume(d, token) is None


def test_wrong_password_unknown_user_and_disabled_get_the_same_answer(ctx: Context) -> None:
    d = ctx.directory
    password = _user(ctx, "dev")
    earlier = login.login(d, "dev", password)
    messages = []
    with pytest.raises(AuthError) as wrong:
        login.login(d, "dev", password + "x")
    messages.append(str(wrong.value))
    with pytest.raises(AuthError) as unknown:
        login.login(d, "ghost", password)
    messages.append(str(unknown.value))
    accounts.set_disabled(d, ACTOR, "dev", True)
    with pytest.raises(AuthError) as disabled:
        login.login(d, "dev", password)
    messages.append(str(disabled.value))
    assert messages == [BAD_LOGIN] * 3
    # A disabled user's open session ends too.
    assert login.resume(d, earlier.token) is None

    dev_events = _logins(ctx, "user:dev")
    assert dev_events[1] == (
        "failure",
        {"reason": "bad credentials", "failures": 1, "locked_until": None, "source": "console"},
    )
    assert dev_events[2] == ("denied", {"reason": "disabled", "source": "console"})
    assert _logins(ctx, "user:ghost") == [
        ("failure", {"reason": "bad credentials", "source": "console"})
    ]
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sessions")).scalar_one() == 1

    accounts.set_disabled(d, ACTOR, "dev", False)
    assert login.resume(d, login.login(d, "dev", password).token) is not None


def test_lockout_with_exponential_backoff(ctx: Context) -> None:
    d = ctx.directory
    assert d.policy.lockout_threshold == THRESHOLD  # from login_lockout_threshold
    password = _user(ctx, "dev")
    for n in range(1, THRESHOLD):
        with pytest.raises(AuthError, match=BAD_LOGIN):
            login.login(d, "dev", "not-the-password")
        assert (_user_row(ctx, "dev").failed_logins, _user_row(ctx, "dev").locked_until) == (
            n,
            None,
        )
    with pytest.raises(AuthError, match=BAD_LOGIN):
        login.login(d, "dev", "not-the-password")
    row = _user_row(ctx, "dev")
    assert row.failed_logins == THRESHOLD
    assert _near(row.locked_until, utcnow() + d.policy.lockout_base)

    # Locked: even the right password is refused, and attempts do not count. The
    # answer is the same as for a wrong password (no username enumeration); the
    # ledger records the reason.
    for attempt in (password, "not-the-password"):
        with pytest.raises(AuthError, match=BAD_LOGIN):
            login.login(d, "dev", attempt)
    assert _user_row(ctx, "dev").failed_logins == THRESHOLD
    outcome, data = _logins(ctx, "user:dev")[-1]
    assert outcome == "denied"
    assert data["reason"] == "locked"
    assert data["until"] == row.locked_until

    # Each further failure after a lock doubles the lock...
    for n, factor in ((THRESHOLD + 1, 2), (THRESHOLD + 2, 4)):
        _sql(ctx, "UPDATE users SET locked_until = :t WHERE username = 'dev'", t=_ago(seconds=1))
        with pytest.raises(AuthError, match=BAD_LOGIN):
            login.login(d, "dev", "not-the-password")
        row = _user_row(ctx, "dev")
        assert row.failed_logins == n
        assert _near(row.locked_until, utcnow() + d.policy.lockout_base * factor)
    # ...up to the maximum.
    _sql(
        ctx,
        "UPDATE users SET failed_logins = 200, locked_until = :t WHERE username = 'dev'",
        t=PAST,
    )
    with pytest.raises(AuthError, match=BAD_LOGIN):
        login.login(d, "dev", "not-the-password")
    assert _near(_user_row(ctx, "dev").locked_until, utcnow() + d.policy.lockout_max)

    # Once the lock has passed the right password works and resets the count.
    _sql(ctx, "UPDATE users SET locked_until = :t WHERE username = 'dev'", t=_ago(seconds=1))
    new = login.login(d, "dev", password)
    assert login.resume(d, new.token) is not None
    row = _user_row(ctx, "dev")
    assert (row.failed_logins, row.locked_until) == (0, None)

    # Parallel guesses cannot slip past the lockout by racing the counter.
    _user(ctx, "dev2")
    attempts = 6
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []

    def guess() -> None:
        barrier.wait()
        try:
            login.login(d, "dev2", "not-the-password")
        except AuthError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=guess) for _ in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == attempts
    # Every guess was either counted or (arriving after the lock) refused unchecked;
    # a read-modify-write counter would count the overlapping guesses only once.
    refused_as_locked = sum(
        1 for outcome, data in _logins(ctx, "user:dev2") if data.get("reason") == "locked"
    )
    row = _user_row(ctx, "dev2")
    assert row.failed_logins + refused_as_locked == attempts
    assert row.failed_logins >= THRESHOLD
    assert row.locked_until is not None


# -- sessions ----------------------------------------------------------------------


def test_idle_timeout_and_absolute_lifetime(ctx: Context) -> None:
    d = ctx.directory
    password = _user(ctx, "dev")
    idle, active, old = (login.login(d, "dev", password) for _ in range(3))

    # Idle for longer than session_idle_minutes (15): ended, and recorded.
    _sql(
        ctx,
        "UPDATE sessions SET last_seen_at = :t WHERE token_hash = :h",
        t=_ago(minutes=16),
        h=idle.state.token_hash,
    )
    assert login.resume(d, idle.token) is None
    assert _session_row(ctx, idle.state).revoked_at is not None
    [expired] = events_named(ctx, "auth.session_expired")
    assert expired.subject == "user:dev"
    assert expired.data_obj() == {"reason": "idle"}
    # Coming back later does not revive it.
    _sql(
        ctx,
        "UPDATE sessions SET last_seen_at = :t WHERE token_hash = :h",
        t=format_time(utcnow()),
        h=idle.state.token_hash,
    )
    assert login.resume(d, idle.token) is None

    # Idle for less than the timeout: resumed, and the idle timer restarts.
    _sql(
        ctx,
        "UPDATE sessions SET last_seen_at = :t WHERE token_hash = :h",
        t=_ago(minutes=10),
        h=active.state.token_hash,
    )
    assert login.resume(d, active.token) is not None
    assert _near(_session_row(ctx, active.state).last_seen_at, utcnow())

    # Active, but past its absolute lifetime: ended, and recorded.
    _sql(
        ctx,
        "UPDATE sessions SET created_at = :c, expires_at = :e WHERE token_hash = :h",
        c=_ago(hours=13),
        e=_ago(hours=1),
        h=old.state.token_hash,
    )
    assert login.resume(d, old.token) is None
    assert [e.data_obj() for e in events_named(ctx, "auth.session_expired")] == [
        {"reason": "idle"},
        {"reason": "lifetime"},
    ]
    assert login.resume(d, active.token) is not None


def test_csrf_and_logout(ctx: Context) -> None:
    d = ctx.directory
    password = _user(ctx, "dev")
    a, b = login.login(d, "dev", password), login.login(d, "dev", password)
    # The CSRF token belongs to its session.
    assert a.csrf != b.csrf
    assert a.state.csrf_ok(a.csrf)
    resumed = login.resume(d, a.token)
    assert resumed is not None
    assert resumed.csrf_ok(a.csrf)
    for presented in (None, "", b.csrf, a.token, a.csrf + "x", a.csrf.upper(), resumed.csrf_hash):
        assert not resumed.csrf_ok(presented), presented
    row = _session_row(ctx, a.state)
    assert a.csrf not in row.csrf_hash
    assert row.csrf_hash == resumed.csrf_hash

    # Logging out ends that session, and only that one.
    login.logout(d, resumed)
    assert login.resume(d, a.token) is None
    assert _session_row(ctx, a.state).revoked_at is not None
    assert login.resume(d, b.token) is not None
    [event] = events_named(ctx, "auth.logout")
    assert (event.actor, event.subject) == ("user:dev", "user:dev")


# -- password change ---------------------------------------------------------------


def test_password_change(ctx: Context) -> None:
    d = ctx.directory
    one_time = _user(ctx, "dev")
    assert load_account(d, username="dev").must_change_password is True
    here, elsewhere = login.login(d, "dev", one_time), login.login(d, "dev", one_time)

    with pytest.raises(AuthError, match="current password"):
        login.change_password(d, here.state, "not-it", "A-much-better-passphrase-1")
    [refused] = events_named(ctx, "auth.password_changed")
    assert refused.outcome == "failure"
    assert refused.data_obj() == {"reason": "wrong current password"}
    # (The strength rules themselves are tested without argon2 in test_accounts.)
    for weak, why in (("short-1A", "at least"), (one_time, "differ")):
        with pytest.raises(UsageError, match=why):
            login.change_password(d, here.state, one_time, weak)
    assert load_account(d, username="dev").must_change_password is True

    # Not only ASCII: a passphrase in any script is a good passphrase.
    new_password = f"Grüße aus Köln, {uuid.uuid4().hex[:6]}! 🔑"
    login.change_password(d, here.state, one_time, new_password)
    assert load_account(d, username="dev").must_change_password is False
    assert _user_row(ctx, "dev").password_hash.startswith("$argon2id$")
    assert login.resume(d, here.token) is not None  # this session goes on
    assert login.resume(d, elsewhere.token) is None  # every other one ends
    with pytest.raises(AuthError):
        login.login(d, "dev", one_time)
    assert login.login(d, "dev", new_password).state.account.must_change_password is False
    assert events_named(ctx, "auth.password_changed")[-1].outcome == "success"


# -- MFA ---------------------------------------------------------------------------


def test_admin_needs_mfa_until_enrolled_and_verified(ctx: Context) -> None:
    d = ctx.directory
    password = _user(ctx, "alice", ("admin",))
    new = login.login(d, "alice", password)
    assert new.state.needs_mfa is True
    state = login.resume(d, new.token)
    assert state is not None and state.needs_mfa is True
    assert login.mfa_due(d, state) == "enrol"

    enrolment = login.start_mfa_enrolment(d, state)
    assert enrolment.secret not in repr(enrolment)
    assert enrolment.uri.startswith("otpauth://totp/")
    assert "issuer=Vallum" in enrolment.uri and enrolment.secret in enrolment.uri
    assert pyotp.parse_uri(enrolment.uri).secret == enrolment.secret  # what an app reads
    with pytest.raises(AuthError):
        login.finish_mfa_enrolment(d, state, _wrong_code(enrolment.secret))
    assert load_account(d, username="alice").mfa_enabled is False
    still = login.resume(d, new.token)
    assert still is not None and still.needs_mfa is True

    codes = login.finish_mfa_enrolment(d, state, _code(enrolment.secret, -1))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert load_account(d, username="alice").mfa_enabled is True
    verified = login.resume(d, new.token)
    assert verified is not None and verified.needs_mfa is False
    assert login.mfa_due(d, verified) is None
    assert [(e.outcome, e.data_obj()) for e in events_named(ctx, "auth.mfa_enrolled")] == [
        ("failure", {"reason": "wrong code"}),
        ("success", {"recovery_codes": 10}),
    ]

    # The next login needs a code again; a wrong one is refused and counted.
    second = login.login(d, "alice", password)
    assert second.state.needs_mfa is True
    assert login.mfa_due(d, second.state) == "verify"
    with pytest.raises(AuthError):  # no new enrolment before verifying
        login.start_mfa_enrolment(d, second.state)
    with pytest.raises(AuthError):
        login.verify_mfa(d, second.state, _wrong_code(enrolment.secret))
    assert _user_row(ctx, "alice").failed_logins == 1
    with pytest.raises(AuthError):
        login.verify_mfa(d, second.state, "12345")
    assert _user_row(ctx, "alice").failed_logins == 2  # still below the threshold (3)
    unverified = login.resume(d, second.token)
    assert unverified is not None and unverified.needs_mfa is True
    login.verify_mfa(d, second.state, _code(enrolment.secret))
    done = login.resume(d, second.token)
    assert done is not None and done.needs_mfa is False
    assert _user_row(ctx, "alice").failed_logins == 0
    assert _logins(ctx, "user:alice")[-1] == (
        "success",
        {"stage": "mfa", "recovery_code": False},
    )

    # People without an MFA-required role are not asked for a code...
    dev = login.login(d, "dev", _user(ctx, "dev"))
    assert dev.state.needs_mfa is False
    assert login.mfa_due(d, dev.state) is None
    # ...unless mfa_required_for_all is set.
    assert identity_policy(make_settings(Path("x"), mfa_required_for_all=True)).mfa_required_for_all
    strict = dataclasses.replace(d, policy=dataclasses.replace(d.policy, mfa_required_for_all=True))
    assert login.mfa_due(strict, dev.state) == "enrol"


def test_recovery_codes_and_mfa_throttling(ctx: Context) -> None:
    d = ctx.directory
    password, secret, codes = _enrol(ctx, "alice")
    first = login.login(d, "alice", password)
    login.verify_mfa(d, first.state, codes[0])
    state = login.resume(d, first.token)
    assert state is not None and state.needs_mfa is False
    assert _logins(ctx, "user:alice")[-1][1] == {"stage": "mfa", "recovery_code": True}

    second = login.login(d, "alice", password)
    with pytest.raises(AuthError):
        login.verify_mfa(d, second.state, codes[0])  # used up
    # Typed with spaces and in capitals, another code still works once.
    spaced = " ".join(codes[1][i : i + 4] for i in range(0, len(codes[1]), 4)).upper()
    login.verify_mfa(d, second.state, spaced)
    third = login.login(d, "alice", password)
    with pytest.raises(AuthError):
        login.verify_mfa(d, third.state, codes[1])
    with ctx.engine.connect() as conn:
        used = conn.execute(
            select(RecoveryCode.used_at).where(RecoveryCode.used_at.is_not(None))
        ).all()
    assert len(used) == 2
    login.verify_mfa(d, third.state, _code(secret))

    # Someone with only the password cannot use enrolment to check codes or to
    # replace the recovery codes.
    intruder = login.login(d, "alice", password)
    with pytest.raises(AuthError):
        login.finish_mfa_enrolment(d, intruder.state, _code(secret, 1))
    state = login.resume(d, intruder.token)
    assert state is not None and state.needs_mfa is True

    # Wrong codes count towards the lockout, and a locked account takes no codes.
    for _ in range(THRESHOLD):
        with pytest.raises(AuthError):
            login.verify_mfa(d, intruder.state, _wrong_code(secret))
    assert _user_row(ctx, "alice").locked_until is not None
    with pytest.raises(AuthError, match="locked"):
        login.verify_mfa(d, intruder.state, _code(secret, 1))
    with pytest.raises(AuthError, match="locked"):
        login.verify_mfa(d, intruder.state, codes[2])
    state = login.resume(d, intruder.token)
    assert state is not None and state.needs_mfa is True
    # After the lock, the right code works (and the recovery code was not spent).
    _sql(ctx, "UPDATE users SET locked_until = :t WHERE username = 'alice'", t=_ago(seconds=1))
    login.verify_mfa(d, intruder.state, codes[2])
    state = login.resume(d, intruder.token)
    assert state is not None and state.needs_mfa is False


# -- nothing secret at rest or in the ledger -----------------------------------------


def test_no_password_code_token_or_totp_secret_is_stored_in_clear(ctx: Context) -> None:
    d = ctx.directory
    password, secret, codes = _enrol(ctx, "alice")
    new_password = f"Correct-Horse-{uuid.uuid4().hex}"
    session = login.login(d, "alice", password)
    used_code = _code(secret)
    login.verify_mfa(d, session.state, used_code)
    login.change_password(d, session.state, password, new_password)
    second = login.login(d, "alice", new_password)
    login.verify_mfa(d, second.state, codes[3])
    wrong_password = f"Hunter2-{uuid.uuid4().hex}"
    for user in ("alice", "ghost"):
        with pytest.raises(AuthError):
            login.login(d, user, wrong_password)
    wrong_code = _wrong_code(secret)
    with pytest.raises(AuthError):
        login.verify_mfa(d, second.state, wrong_code)

    # The TOTP secret is stored, but sealed.
    sealed = _user_row(ctx, "alice").mfa_secret
    assert sealed is not None
    assert_absent(bytes(sealed), secret.encode(), "users.mfa_secret")

    secrets_ = [
        password,
        new_password,
        wrong_password,
        secret,
        *codes,
        session.token,
        session.csrf,
        second.token,
        second.csrf,
    ]
    stored = _stored_bytes(ctx)
    ledger = _ledger_text(ctx)
    for value in secrets_:
        assert_absent(stored, value.encode(), "the database")
        assert value not in ledger
        assert value.lower() not in ledger.lower()
    assert_absent(stored, base64.b32decode(secret), "the database")
    # Six-digit codes are too short to search raw bytes for; the ledger, where a
    # careless implementation would put them, must not hold them as a value.
    for code in (used_code, wrong_code):
        assert not re.search(rf"(?<![0-9A-Za-z.]){code}(?![0-9A-Za-z])", ledger), code
    # Control: the search does see the database and the ledger.
    assert "raw" in found_forms(stored, b"user:alice")
    assert "user:ghost" in ledger
