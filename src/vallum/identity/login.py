"""Console login: argon2id passwords, lockout with backoff, TOTP MFA, sessions, CSRF.

A session cookie carries a random 32-byte token; the database keeps its SHA-256,
the CSRF token's SHA-256, when it was last seen (idle timeout) and when it ends
(absolute lifetime). MFA (RFC 6238 TOTP, via pyotp) is required for holders of
``admin`` and ``security`` (or everyone, by setting): their sessions are limited
to MFA enrolment or verification until a code is given. TOTP secrets are stored
encrypted under a per-user data key; recovery codes as SHA-256 of 80-bit codes.

Every attempt, success or failure, is a ledger event; no password, code or
token ever is.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update

from vallum.clock import format_time, now_text, parse_time, utcnow
from vallum.errors import AuthError, UsageError
from vallum.identity.accounts import HASHER, check_password_strength
from vallum.identity.directory import Account, Directory, load_account
from vallum.store.models import RecoveryCode, Session, User

ISSUER = "Vallum"
#: How often a session's last-seen time is written (idle timeout granularity).
TOUCH_EVERY = dt.timedelta(seconds=30)
RECOVERY_CODES = 10
_DUMMY_HASH = HASHER.hash("vallum-timing-equaliser")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionState:
    """A live session as a request sees it (never the raw token)."""

    token_hash: str
    account: Account
    mfa_verified: bool
    csrf_hash: str

    @property
    def needs_mfa(self) -> bool:
        return not self.mfa_verified and (self.account.mfa_required or self.account.mfa_enabled)

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(_sha(presented), self.csrf_hash)


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str
    csrf: str
    state: SessionState

    def __repr__(self) -> str:
        return f"NewSession(user={self.state.account.username!r}, token=<hidden>)"


def login(d: Directory, username: str, password: str, *, source: str = "console") -> NewSession:
    """Check a password; on success open a session (MFA may still be due)."""
    subject = f"user:{username[:128]}"
    with d.engine.connect() as conn:
        row = conn.execute(select(User).where(User.username == username)).first()
    if row is None or row.kind != "user" or row.password_hash is None:
        _verify_dummy(password)
        d.record(
            "anonymous",
            "auth.login",
            subject,
            outcome="failure",
            data={"reason": "bad credentials", "source": source},
        )
        raise AuthError("wrong username or password")
    now = utcnow()
    if row.locked_until is not None and parse_time(row.locked_until) > now:
        _verify_dummy(password)
        d.record(
            subject,
            "auth.login",
            subject,
            outcome="denied",
            data={"reason": "locked", "until": row.locked_until, "source": source},
        )
        # The same answer as a wrong password: a distinct one would confirm the
        # username exists. The ledger (and the user's admin) knows the reason.
        raise AuthError("wrong username or password")
    if row.disabled:
        _verify_dummy(password)
        d.record(
            subject,
            "auth.login",
            subject,
            outcome="denied",
            data={"reason": "disabled", "source": source},
        )
        raise AuthError("wrong username or password")
    try:
        HASHER.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        _register_failure(d, row.id, subject, source)
        raise AuthError("wrong username or password") from None
    account = load_account(d, user_id=row.id)
    mfa_pending = row.mfa_enabled or account.mfa_required or d.policy.mfa_required_for_all
    with d.engine.begin() as conn:
        values: dict[str, object] = {"last_login_at": now_text()}
        if not mfa_pending:
            # With MFA still to come, only a verified code clears the failures:
            # otherwise a known password would reset the count of wrong codes.
            values.update(failed_logins=0, locked_until=None)
        if HASHER.check_needs_rehash(row.password_hash):
            values["password_hash"] = HASHER.hash(password)
        conn.execute(update(User).where(User.id == row.id).values(**values))
    session = _open_session(d, account)
    d.record(
        account.actor,
        "auth.login",
        account.actor,
        data={"stage": "password", "mfa_due": session.state.needs_mfa, "source": source},
    )
    return session


def _verify_dummy(password: str) -> None:
    """Spend the same argon2 time on unknown users, so timing does not tell."""
    with contextlib.suppress(VerificationError, InvalidHashError):
        HASHER.verify(_DUMMY_HASH, password)


def _register_failure(d: Directory, user_id: int, subject: str, source: str) -> None:
    locked_until = None
    with d.engine.begin() as conn:
        # Increment in the database: parallel guesses each count (no read-modify-write).
        failures = conn.execute(
            update(User)
            .where(User.id == user_id)
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins)
        ).scalar_one()
        over = failures - d.policy.lockout_threshold
        if over >= 0:
            # The exponent is capped: 2**over minutes overflows timedelta past ~40.
            delay = min(d.policy.lockout_base * (2 ** min(over, 20)), d.policy.lockout_max)
            locked_until = format_time(utcnow() + delay)
        conn.execute(update(User).where(User.id == user_id).values(locked_until=locked_until))
    d.record(
        "anonymous",
        "auth.login",
        subject,
        outcome="failure",
        data={
            "reason": "bad credentials",
            "failures": failures,
            "locked_until": locked_until,
            "source": source,
        },
    )


def csrf_for(token: str) -> str:
    """The CSRF token of a session: a one-way function of its cookie token.

    Pages render it into every form (no JavaScript needed); a cross-site page
    cannot read the HttpOnly cookie, so it cannot compute this either.
    """
    return _sha("vallum-csrf/v1:" + token)


def _open_session(d: Directory, account: Account) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = csrf_for(token)
    now = utcnow()
    with d.engine.begin() as conn:
        conn.execute(
            insert(Session).values(
                token_hash=_sha(token),
                user_id=account.id,
                csrf_hash=_sha(csrf),
                mfa_verified=False,
                created_at=format_time(now),
                last_seen_at=format_time(now),
                expires_at=format_time(now + d.policy.session_absolute),
                revoked_at=None,
            )
        )
    return NewSession(token, csrf, SessionState(_sha(token), account, False, _sha(csrf)))


def resume(d: Directory, token: str | None) -> SessionState | None:
    """The live session for a cookie token, touching its idle timer; None if none."""
    if not token:
        return None
    digest = _sha(token)
    with d.engine.connect() as conn:
        row = conn.execute(select(Session).where(Session.token_hash == digest)).first()
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    idle = now - parse_time(row.last_seen_at) > d.policy.session_idle
    if idle or parse_time(row.expires_at) <= now:
        _end(d, digest, "idle timeout" if idle else "absolute lifetime")
        account = load_account(d, user_id=row.user_id)
        d.record(
            account.actor,
            "auth.session_expired",
            account.actor,
            data={"reason": "idle" if idle else "lifetime"},
        )
        return None
    account = load_account(d, user_id=row.user_id)
    if account.disabled:
        _end(d, digest, "disabled")
        return None
    if now - parse_time(row.last_seen_at) >= TOUCH_EVERY:
        # The idle timer needs minutes, not microseconds: one write per
        # TOUCH_EVERY keeps a busy page from writing the session on every request.
        with d.engine.begin() as conn:
            conn.execute(
                update(Session)
                .where(Session.token_hash == digest)
                .values(last_seen_at=format_time(now))
            )
    return SessionState(digest, account, row.mfa_verified, row.csrf_hash)


def _end(d: Directory, digest: str, _why: str) -> None:
    with d.engine.begin() as conn:
        conn.execute(
            update(Session).where(Session.token_hash == digest).values(revoked_at=now_text())
        )


def logout(d: Directory, state: SessionState) -> None:
    _end(d, state.token_hash, "logout")
    d.record(state.account.actor, "auth.logout", state.account.actor, data={})


def change_password(d: Directory, state: SessionState, current: str, new: str) -> None:
    with d.engine.connect() as conn:
        row = conn.execute(select(User.password_hash).where(User.id == state.account.id)).first()
    if row is None or row.password_hash is None:
        raise AuthError("this principal has no password")
    try:
        HASHER.verify(row.password_hash, current)
    except (VerificationError, InvalidHashError):
        d.record(
            state.account.actor,
            "auth.password_changed",
            state.account.actor,
            outcome="failure",
            data={"reason": "wrong current password"},
        )
        raise AuthError("the current password is wrong") from None
    if hmac.compare_digest(current.encode("utf-8"), new.encode("utf-8")):  # str: ASCII only
        raise UsageError("the new password must differ from the current one")
    check_password_strength(new, state.account.username)
    with d.engine.begin() as conn:
        conn.execute(
            update(User)
            .where(User.id == state.account.id)
            .values(password_hash=HASHER.hash(new), must_change_password=False)
        )
        # Every other session of this user ends.
        conn.execute(
            update(Session)
            .where(
                Session.user_id == state.account.id,
                Session.token_hash != state.token_hash,
                Session.revoked_at.is_(None),
            )
            .values(revoked_at=now_text())
        )
    d.record(state.account.actor, "auth.password_changed", state.account.actor, data={})


# -- MFA ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    uri: str

    def __repr__(self) -> str:
        return "Enrolment(<hidden>)"


def _aad(user_id: int) -> bytes:
    return b"vallum-mfa:" + str(user_id).encode()


def start_mfa_enrolment(d: Directory, state: SessionState) -> Enrolment:
    """A fresh TOTP secret (stored encrypted, not yet enabled) and its otpauth URI."""
    if state.account.mfa_enabled and not state.mfa_verified:
        raise AuthError("verify your current MFA code before enrolling a new one")
    secret = pyotp.random_base32(32)
    key_id = d.keyring.new_data_key(f"mfa:{state.account.username}")
    sealed = d.keyring.encrypt(secret.encode("ascii"), key_id, _aad(state.account.id))
    with d.engine.begin() as conn:
        conn.execute(
            update(User)
            .where(User.id == state.account.id)
            .values(mfa_secret=sealed, mfa_enabled=False)
        )
    uri = pyotp.TOTP(secret).provisioning_uri(name=state.account.username, issuer_name=ISSUER)
    return Enrolment(secret, uri)


def _secret(d: Directory, user_id: int) -> str | None:
    with d.engine.connect() as conn:
        sealed = conn.execute(select(User.mfa_secret).where(User.id == user_id)).scalar()
    if sealed is None:
        return None
    return d.keyring.decrypt(sealed, _aad(user_id)).decode("ascii")


def _totp_step(secret: str, code: str) -> int | None:
    """The time step (RFC 6238) whose code this is, within one step of now; else None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = utcnow()
    for offset in (0, -1, 1):
        at = now + dt.timedelta(seconds=offset * totp.interval)
        if hmac.compare_digest(totp.at(at), code):
            return int(totp.timecode(at))
    return None


def _claim_step(d: Directory, user_id: int, step: int) -> bool:
    """Accept each code once (RFC 6238 section 5.2): the step must be newer than the last."""
    with d.engine.begin() as conn:
        claimed = conn.execute(
            update(User)
            .where(
                User.id == user_id,
                (User.mfa_last_step.is_(None)) | (User.mfa_last_step < step),
            )
            .values(mfa_last_step=step)
        )
    return claimed.rowcount == 1


def finish_mfa_enrolment(d: Directory, state: SessionState, code: str) -> list[str]:
    """Enable MFA once the user proves the app works; returns the recovery codes (shown once)."""
    if state.account.mfa_enabled and not state.mfa_verified:
        # Otherwise a password alone could test TOTP codes here, unthrottled.
        raise AuthError("verify your current MFA code before enrolling a new one")
    secret = _secret(d, state.account.id)
    step = _totp_step(secret, code) if secret is not None else None
    if step is None or not _claim_step(d, state.account.id, step):
        d.record(
            state.account.actor,
            "auth.mfa_enrolled",
            state.account.actor,
            outcome="failure",
            data={"reason": "wrong code"},
        )
        raise AuthError("that code is not right; check the time on your device and try again")
    codes = [
        base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
        for _ in range(RECOVERY_CODES)
    ]
    with d.engine.begin() as conn:
        conn.execute(update(User).where(User.id == state.account.id).values(mfa_enabled=True))
        conn.execute(delete(RecoveryCode).where(RecoveryCode.user_id == state.account.id))
        for c in codes:
            conn.execute(
                insert(RecoveryCode).values(
                    user_id=state.account.id, code_hash=_sha(c), used_at=None
                )
            )
        conn.execute(
            update(Session).where(Session.token_hash == state.token_hash).values(mfa_verified=True)
        )
    d.record(
        state.account.actor,
        "auth.mfa_enrolled",
        state.account.actor,
        data={"recovery_codes": len(codes)},
    )
    return codes


def verify_mfa(d: Directory, state: SessionState, code: str) -> None:
    """Complete a login with a TOTP code or a one-use recovery code."""
    with d.engine.connect() as conn:
        locked = conn.execute(select(User.locked_until).where(User.id == state.account.id)).scalar()
    if locked is not None and parse_time(locked) > utcnow():
        d.record(
            state.account.actor,
            "auth.login",
            state.account.actor,
            outcome="denied",
            data={"reason": "locked", "until": locked, "source": "mfa"},
        )
        raise AuthError("this account is locked after repeated failures; try again later")
    secret = _secret(d, state.account.id) if state.account.mfa_enabled else None
    step = _totp_step(secret, code) if secret is not None else None
    ok = step is not None and _claim_step(d, state.account.id, step)
    used_recovery = False
    if not ok and state.account.mfa_enabled:
        digest = _sha(code.strip().lower().replace(" ", ""))
        with d.engine.begin() as conn:
            hit = conn.execute(
                update(RecoveryCode)
                .where(
                    RecoveryCode.user_id == state.account.id,
                    RecoveryCode.code_hash == digest,
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=now_text())
            )
            ok = used_recovery = hit.rowcount == 1
    if not ok:
        _register_failure(d, state.account.id, state.account.actor, "mfa")
        raise AuthError("that code is not right")
    with d.engine.begin() as conn:
        conn.execute(
            update(Session).where(Session.token_hash == state.token_hash).values(mfa_verified=True)
        )
        conn.execute(
            update(User)
            .where(User.id == state.account.id)
            .values(failed_logins=0, locked_until=None)
        )
    d.record(
        state.account.actor,
        "auth.login",
        state.account.actor,
        data={"stage": "mfa", "recovery_code": used_recovery},
    )


def mfa_due(d: Directory, state: SessionState) -> str | None:
    """What MFA step this session still owes: "verify", "enrol", or None."""
    if state.mfa_verified:
        return None
    if state.account.mfa_enabled:
        return "verify"
    if state.account.mfa_required or d.policy.mfa_required_for_all:
        return "enrol"
    return None
