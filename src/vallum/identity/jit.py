"""Just-in-time access and break-glass (SEC-POL-012 3.3.2).

A person holding ``access.request`` asks for a role for a bounded time with a
reason; someone else holding ``access.approve`` approves or denies it (four
eyes; the requester may withdraw their own request). An approval creates a
``jit`` grant that stops counting at its ``expires_at`` (``active_roles``
filters by time); ``expire_due`` records the expiry in the ledger.

Break-glass is for emergencies when no approver can be reached: a person holding
``access.break_glass`` grants themselves a role for at most
``policy.break_glass_max``, without approval. It raises an alert event, and
someone else holding ``access.approve`` must review it afterwards.

Only people (``kind='user'``) take part; service accounts hold standing grants.
Refused attempts are recorded as ``access.refused`` (outcome denied). ``via``
names the channel a person acted through (the CLI's OS operator) in the ledger.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from vallum.clock import format_time, now_text, utcnow
from vallum.errors import AuthError, NotFoundError, PolicyViolation, UsageError
from vallum.identity.directory import (
    Account,
    Directory,
    active_roles,
    check_role_exists,
    load_account,
)
from vallum.identity.permissions import Permission
from vallum.identity.principal import Principal
from vallum.store.engine import write_transaction
from vallum.store.models import AccessRequest, RoleGrant, User

STATUSES = ("pending", "approved", "denied", "break_glass", "expired", "revoked")
MIN_DURATION = dt.timedelta(minutes=1)
MIN_TEXT, MAX_TEXT = 10, 1000


@dataclass(frozen=True, slots=True)
class RequestInfo:
    id: int
    principal: str
    role: str
    reason: str
    duration_seconds: int
    status: str
    break_glass: bool
    requested_at: str
    decided_by: str | None
    decided_at: str | None
    grant_id: int | None
    expires_at: str | None
    grant_revoked_at: str | None
    reviewed_by: str | None
    reviewed_at: str | None

    @property
    def review_due(self) -> bool:
        """A break-glass grant nobody has reviewed yet."""
        return self.break_glass and self.reviewed_at is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "review_due": self.review_due}


# -- helpers (reviews uses them too) -----------------------------------------


def acting_account(d: Directory, username: str) -> Account:
    """The live account of whoever acts; AuthError when it is disabled."""
    account = load_account(d, username=username)
    if account.disabled:
        raise AuthError(f"{account.actor} is disabled and cannot act")
    return account


def check_text(value: str, what: str) -> str:
    text = value.strip()
    if not MIN_TEXT <= len(text) <= MAX_TEXT:
        raise UsageError(f"the {what} must be {MIN_TEXT}-{MAX_TEXT} characters")
    return text


@contextlib.contextmanager
def writing(d: Directory) -> Iterator[Connection]:
    """A transaction that reads, then writes: on SQLite it takes the write lock up front."""
    with write_transaction(d.engine) as conn:
        yield conn


def note(d: Directory, actor: str, action: str, subject: str, via: str | None, **data: Any) -> None:
    """Record a step (never a secret); ``outcome`` may be passed among ``data``."""
    outcome = data.pop("outcome", "success")
    via_data = {"via": via} if via else {}
    d.record(actor, action, subject, outcome=outcome, data={**data, **via_data})


def refuse(
    d: Directory, actor: str, subject: str, attempt: str, why: str, via: str | None, **data: Any
) -> PolicyViolation:
    """Record a refused attempt (outcome denied) and return the error to raise."""
    data.update(outcome="denied", attempt=attempt, reason=why)
    note(d, actor, "access.refused", subject, via, **data)
    return PolicyViolation(why)


# -- requests and decisions --------------------------------------------------


def _person(d: Directory, username: str, duration: dt.timedelta, limit: dt.timedelta) -> Account:
    account = acting_account(d, username)
    if account.kind != "user":
        raise UsageError(
            f"{account.actor} is a service account; JIT access is for people only",
            hint="give service accounts standing, scoped grants",
        )
    if not MIN_DURATION <= duration <= limit:
        raise UsageError(f"the duration must be between 1 minute and {limit} (got {duration})")
    return account


def request_role(
    d: Directory,
    actor_username: str,
    role: str,
    duration: dt.timedelta,
    reason: str,
    *,
    via: str | None = None,
) -> int:
    """Ask for ``role`` for ``duration``; returns the request id (pending approval)."""
    account = _person(d, actor_username, duration, d.policy.jit_max)
    reason = check_text(reason, "reason")
    who = account.actor
    if Permission.ACCESS_REQUEST not in account.permissions:
        raise refuse(d, who, who, "request", "you do not hold access.request", via, role=role)
    seconds = int(duration.total_seconds())
    with writing(d) as conn:
        check_role_exists(conn, role)
        if role in active_roles(conn, account.id):
            raise UsageError(f"{account.username} already holds {role}")
        pending = conn.execute(
            select(AccessRequest.id).where(
                AccessRequest.user_id == account.id,
                AccessRequest.role == role,
                AccessRequest.status == "pending",
            )
        ).scalar()
        if pending is not None:
            raise UsageError(f"request {pending} for {role} is already pending")
        request_id = _insert_request(conn, account.id, role, reason, seconds, "pending")
    data = {"request": request_id, "role": role, "duration_seconds": seconds, "reason": reason}
    note(d, who, "access.requested", who, via, **data)
    return request_id


def _insert_request(
    conn: Connection, user_id: int, role: str, reason: str, seconds: int, status: str, **more: Any
) -> int:
    more.update(user_id=user_id, role=role, reason=reason, duration_seconds=seconds, status=status)
    more.setdefault("requested_at", now_text())
    more.update(break_glass=status == "break_glass")
    stmt = insert(AccessRequest).values(**more).returning(AccessRequest.id)
    return int(conn.execute(stmt).scalar_one())


def _insert_grant(
    conn: Connection, user_id: int, role: str, kind: str, by: str, seconds: int
) -> tuple[int, str]:
    if role in active_roles(conn, user_id):
        raise UsageError(f"the principal already holds {role}")
    now = utcnow()
    expires = format_time(now + dt.timedelta(seconds=seconds))
    values = {"user_id": user_id, "role": role, "kind": kind, "granted_by": by}
    values.update(granted_at=format_time(now), expires_at=expires)
    grant_id = conn.execute(insert(RoleGrant).values(**values).returning(RoleGrant.id))
    return int(grant_id.scalar_one()), expires


def get_request(d: Directory, request_id: int) -> RequestInfo:
    return _load(d, request_id)


def _load(d: Directory, request_id: int, pending_to: str | None = None) -> RequestInfo:
    found = _select(d, AccessRequest.id == request_id)
    if not found:
        raise NotFoundError(f"no access request {request_id}", hint="see `vallum access list`")
    if pending_to is not None and found[0].status != "pending":
        status = found[0].status
        raise UsageError(f"request {request_id} is {status}; only pending ones can be {pending_to}")
    return found[0]


def _four_eyes(d: Directory, who: Account, req: RequestInfo, attempt: str, via: str | None) -> None:
    """Refuse unless ``who`` is someone else holding access.approve."""
    why = None
    if req.principal == who.actor:
        why = f"four eyes: you cannot {attempt} your own request"
    elif Permission.ACCESS_APPROVE not in who.permissions:
        why = "you do not hold access.approve"
    if why is not None:
        raise refuse(d, who.actor, req.principal, attempt, why, via, request=req.id)


def _decide(conn: Connection, request_id: int, **values: Any) -> None:
    """Move a pending request on; refuses when someone else decided it meanwhile."""
    done = conn.execute(
        update(AccessRequest)
        .where(AccessRequest.id == request_id, AccessRequest.status == "pending")
        .values(decided_at=now_text(), **values)
    )
    if done.rowcount != 1:
        raise UsageError(f"request {request_id} is no longer pending")


def approve(
    d: Directory, approver_username: str, request_id: int, *, via: str | None = None
) -> int:
    """Approve a pending request (four eyes); returns the id of the new ``jit`` grant."""
    approver = acting_account(d, approver_username)
    req = _load(d, request_id, "approved")
    _four_eyes(d, approver, req, "approve", via)
    requester = load_account(d, username=req.principal.split(":", 1)[1])
    if requester.disabled:
        raise UsageError(f"{req.principal} is disabled; deny the request instead")
    with writing(d) as conn:
        grant_id, expires = _insert_grant(
            conn, requester.id, req.role, "jit", approver.actor, req.duration_seconds
        )
        _decide(conn, request_id, status="approved", decided_by=approver.actor, grant_id=grant_id)
    data = {"request": request_id, "role": req.role, "grant": grant_id, "expires_at": expires}
    note(d, approver.actor, "access.elevated", req.principal, via, **data)
    return grant_id


def deny(
    d: Directory, approver_username: str, request_id: int, reason: str, *, via: str | None = None
) -> None:
    """Deny a pending request; the requester may also withdraw their own."""
    approver = acting_account(d, approver_username)
    reason = check_text(reason, "reason")
    req = _load(d, request_id, "denied")
    withdrawn = req.principal == approver.actor
    if not withdrawn:
        _four_eyes(d, approver, req, "deny", via)
    with d.engine.begin() as conn:
        _decide(conn, request_id, status="denied", decided_by=approver.actor)
    data = {"request": request_id, "role": req.role, "reason": reason, "withdrawn": withdrawn}
    note(d, approver.actor, "access.denied", req.principal, via, outcome="denied", **data)


# -- break-glass -------------------------------------------------------------


def break_glass(
    d: Directory,
    username: str,
    role: str,
    duration: dt.timedelta,
    reason: str,
    *,
    via: str | None = None,
) -> int:
    """Grant yourself ``role`` now, without approval; raises an alert. Returns the request id."""
    account = _person(d, username, duration, d.policy.break_glass_max)
    reason = check_text(reason, "reason")
    who = account.actor
    if Permission.ACCESS_BREAK_GLASS not in account.permissions:
        why = "you do not hold access.break_glass"
        raise refuse(d, who, who, "break_glass", why, via, role=role, alert=True)
    seconds = int(duration.total_seconds())
    with writing(d) as conn:
        check_role_exists(conn, role)
        grant_id, expires = _insert_grant(conn, account.id, role, "break_glass", who, seconds)
        now = now_text()
        decided = {"grant_id": grant_id, "decided_by": who, "decided_at": now, "requested_at": now}
        request_id = _insert_request(
            conn, account.id, role, reason, seconds, "break_glass", **decided
        )
    data = {"request": request_id, "role": role, "grant": grant_id, "expires_at": expires}
    data.update(reason=reason, alert=True, review_required=True)
    note(d, who, "access.break_glass", who, via, **data)
    return request_id


def review_break_glass(
    d: Directory, reviewer_username: str, request_id: int, notes: str, *, via: str | None = None
) -> None:
    """Record the after-the-fact review of a break-glass grant (by someone else)."""
    reviewer = acting_account(d, reviewer_username)
    notes = check_text(notes, "review notes")
    req = _load(d, request_id)
    if not req.break_glass:
        raise UsageError(f"request {request_id} is not a break-glass grant")
    if req.reviewed_at is not None:
        raise UsageError(f"break-glass {request_id} was already reviewed by {req.reviewed_by}")
    _four_eyes(d, reviewer, req, "review", via)
    with d.engine.begin() as conn:
        done = conn.execute(
            update(AccessRequest)
            .where(AccessRequest.id == request_id, AccessRequest.reviewed_at.is_(None))
            .values(reviewed_by=reviewer.actor, reviewed_at=now_text())
        )
        if done.rowcount != 1:
            raise UsageError(f"break-glass {request_id} was reviewed meanwhile")
    data = {"request": request_id, "role": req.role, "notes": notes}
    note(d, reviewer.actor, "access.break_glass_reviewed", req.principal, via, **data)


# -- listing and expiry ------------------------------------------------------


def _select(d: Directory, *where: Any) -> list[RequestInfo]:
    stmt = (
        select(
            *AccessRequest.__table__.columns,
            User.username,
            User.kind,
            RoleGrant.expires_at.label("expires_at"),
            RoleGrant.revoked_at.label("grant_revoked_at"),
        )
        .join(User, User.id == AccessRequest.user_id)
        .outerjoin(RoleGrant, RoleGrant.id == AccessRequest.grant_id)
        .where(*where)
        .order_by(AccessRequest.id)
    )
    with d.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    out = []
    for m in rows:
        kind, username = m.pop("kind"), m.pop("username")
        del m["user_id"]
        principal = f"{'service' if kind == 'service' else 'user'}:{username}"
        out.append(RequestInfo(principal=principal, **m))
    return out


def list_requests(
    d: Directory, status: str | None = None, *, review_due: bool = False
) -> list[RequestInfo]:
    """Requests, oldest first; ``review_due`` keeps only unreviewed break-glass grants."""
    where: list[Any] = []
    if status is not None:
        if status not in STATUSES:
            raise UsageError(f"status must be one of {', '.join(STATUSES)}")
        where.append(AccessRequest.status == status)
    if review_due:
        where += [AccessRequest.break_glass.is_(True), AccessRequest.reviewed_at.is_(None)]
    return _select(d, *where)


def expire_due(d: Directory, actor: str | None = None) -> list[int]:
    """Close approved and break-glass requests whose grant has ended; returns the expired ids.

    An expired grant records ``access.expired`` once; a grant revoked before its
    expiry (``access.revoked`` is already in the ledger) only changes the status.
    """
    actor = actor or Principal.system().actor
    now = now_text()
    expired: list[int] = []
    for r in _select(d, AccessRequest.status.in_(["approved", "break_glass"])):
        if r.grant_revoked_at is not None and (
            r.expires_at is None or r.grant_revoked_at < r.expires_at
        ):
            new = "revoked"
        elif r.expires_at is not None and r.expires_at <= now:
            new = "expired"
        else:
            continue
        with d.engine.begin() as conn:
            done = conn.execute(
                update(AccessRequest)
                .where(AccessRequest.id == r.id, AccessRequest.status == r.status)
                .values(status=new)
            )
        if done.rowcount != 1 or new != "expired":
            continue  # another process got there first, or nothing new to record
        expired.append(r.id)
        data = {"request": r.id, "role": r.role, "grant": r.grant_id, "expired_at": r.expires_at}
        data.update(break_glass=r.break_glass, review_due=r.review_due)
        note(d, actor, "access.expired", r.principal, None, **data)
    return expired
