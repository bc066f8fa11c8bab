"""Just-in-time access and break-glass, on SQLite and PostgreSQL (no mocks)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from sqlalchemy import select, text

from vallum.clock import format_time, parse_time, utcnow
from vallum.context import Context
from vallum.errors import AuthError, NotFoundError, PolicyViolation, UsageError, VallumError
from vallum.identity import jit
from vallum.identity.accounts import (
    create_service_account,
    create_user,
    list_grants,
    revoke_grant,
    set_disabled,
)
from vallum.identity.directory import load_account
from vallum.identity.permissions import Permission
from vallum.store.models import LedgerEvent

ADMIN = "user:admin"
REASON = "incident INC-42 needs a model rollback"


def events(ctx: Context, action: str) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(LedgerEvent).where(LedgerEvent.action == action).order_by(LedgerEvent.seq)
        )
        return [
            {"actor": r.actor, "subject": r.subject, "outcome": r.outcome, **json.loads(r.data)}
            for r in rows
        ]


@pytest.fixture
def people(ctx: Context) -> dict[str, str]:
    """alice ml-engineer, bob security, carol auditor, dave app-developer; their passwords."""
    roles = {
        "alice": "ml-engineer",
        "bob": "security",
        "carol": "auditor",
        "dave": "app-developer",
    }
    return {
        name: create_user(ctx.directory, ADMIN, name, [role]).one_time_password
        for name, role in roles.items()
    }


def expire_grant_in_sql(ctx: Context, grant_id: int) -> None:
    past = format_time(utcnow() - dt.timedelta(seconds=5))
    with ctx.engine.begin() as conn:
        conn.execute(
            text("UPDATE role_grants SET expires_at = :t WHERE id = :i"), {"t": past, "i": grant_id}
        )


def test_request_then_approve_grants_the_role_until_its_expiry(
    ctx: Context, people: dict[str, str]
) -> None:
    d = ctx.directory
    assert Permission.KEYS_CREATE not in load_account(d, username="alice").permissions
    rid = jit.request_role(d, "alice", "app-developer", dt.timedelta(hours=2), REASON)
    (req,) = jit.list_requests(d, "pending")
    assert (req.id, req.principal, req.role, req.duration_seconds) == (
        rid,
        "user:alice",
        "app-developer",
        7200,
    )
    # Pending is not granted.
    assert "app-developer" not in load_account(d, username="alice").roles

    grant_id = jit.approve(d, "bob", rid)
    alice = load_account(d, username="alice")
    assert "app-developer" in alice.roles
    assert Permission.KEYS_CREATE in alice.permissions
    (grant,) = [g for g in list_grants(d) if g["id"] == grant_id]
    assert grant["kind"] == "jit"
    assert grant["granted_by"] == "user:bob"
    expires = parse_time(grant["expires_at"]) - utcnow()
    assert dt.timedelta(hours=2) - dt.timedelta(minutes=1) < expires <= dt.timedelta(hours=2)
    (req,) = jit.list_requests(d, "approved")
    assert (req.decided_by, req.grant_id, req.expires_at) == (
        "user:bob",
        grant_id,
        grant["expires_at"],
    )

    (requested,) = events(ctx, "access.requested")
    assert requested["actor"] == "user:alice"
    assert requested["subject"] == "user:alice"
    assert requested["reason"] == REASON
    assert requested["duration_seconds"] == 7200
    (elevated,) = events(ctx, "access.elevated")
    assert elevated["actor"] == "user:bob"
    assert elevated["subject"] == "user:alice"
    assert elevated["outcome"] == "success"
    assert (elevated["request"], elevated["grant"]) == (rid, grant_id)
    assert elevated["expires_at"] == grant["expires_at"]

    with pytest.raises(UsageError, match="approved"):
        jit.approve(d, "admin", rid)


def test_deny_and_withdraw(ctx: Context, people: dict[str, str]) -> None:
    d = ctx.directory
    rid = jit.request_role(d, "alice", "auditor", dt.timedelta(hours=1), REASON)
    jit.deny(d, "bob", rid, "auditors are rotated next week")
    assert "auditor" not in load_account(d, username="alice").roles
    (req,) = jit.list_requests(d)
    assert (req.status, req.decided_by, req.grant_id) == ("denied", "user:bob", None)
    with pytest.raises(UsageError, match="denied"):
        jit.approve(d, "admin", rid)

    again = jit.request_role(d, "alice", "auditor", dt.timedelta(hours=1), REASON)
    jit.deny(d, "alice", again, "asked by mistake, sorry")  # withdrawing needs no permission
    first, second = events(ctx, "access.denied")
    assert first["outcome"] == "denied"
    assert (first["actor"], first["subject"], first["withdrawn"]) == (
        "user:bob",
        "user:alice",
        False,
    )
    assert first["reason"] == "auditors are rotated next week"
    assert (second["actor"], second["withdrawn"]) == ("user:alice", True)
    assert not [g for g in list_grants(d) if g["principal"] == "user:alice" and g["kind"] == "jit"]


def test_four_eyes_refuses_self_approval(ctx: Context, people: dict[str, str]) -> None:
    d = ctx.directory
    # bob (security) holds access.request and access.approve, but not admin.
    rid = jit.request_role(d, "bob", "admin", dt.timedelta(hours=1), REASON)
    with pytest.raises(PolicyViolation, match="four eyes"):
        jit.approve(d, "bob", rid)
    assert "admin" not in load_account(d, username="bob").roles
    (refused,) = events(ctx, "access.refused")
    assert refused["outcome"] == "denied"
    assert (refused["actor"], refused["attempt"], refused["request"]) == (
        "user:bob",
        "approve",
        rid,
    )
    assert jit.list_requests(d, "pending")[0].id == rid
    jit.approve(d, "admin", rid)
    assert "admin" in load_account(d, username="bob").roles


@pytest.mark.parametrize("approver", ["carol", "dave", "alice"])
def test_approver_without_access_approve_is_refused(
    ctx: Context, people: dict[str, str], approver: str
) -> None:
    d = ctx.directory
    requester = "dave" if approver == "alice" else "alice"
    rid = jit.request_role(d, requester, "auditor", dt.timedelta(hours=1), REASON)
    with pytest.raises(PolicyViolation, match=r"access\.approve"):
        jit.approve(d, approver, rid)
    with pytest.raises(PolicyViolation, match=r"access\.approve"):
        jit.deny(d, approver, rid, "not my call but trying anyway")
    assert [r.status for r in jit.list_requests(d)] == ["pending"]
    assert "auditor" not in load_account(d, username=requester).roles
    assert [e["attempt"] for e in events(ctx, "access.refused")] == ["approve", "deny"]
    assert not events(ctx, "access.elevated")


@pytest.mark.parametrize(
    "duration",
    [
        dt.timedelta(0),
        dt.timedelta(seconds=59),
        dt.timedelta(minutes=-5),
        dt.timedelta(hours=8, seconds=1),
        dt.timedelta(days=30),
    ],
)
def test_jit_duration_out_of_bounds_is_refused(
    ctx: Context, people: dict[str, str], duration: dt.timedelta
) -> None:
    with pytest.raises(UsageError, match="duration"):
        jit.request_role(ctx.directory, "alice", "auditor", duration, REASON)
    assert jit.list_requests(ctx.directory) == []


def test_jit_duration_bounds_are_inclusive(ctx: Context, people: dict[str, str]) -> None:
    d = ctx.directory
    assert d.policy.jit_max == dt.timedelta(hours=8)
    jit.request_role(d, "alice", "auditor", dt.timedelta(minutes=1), REASON)
    jit.request_role(d, "alice", "app-developer", d.policy.jit_max, REASON)
    assert [r.duration_seconds for r in jit.list_requests(d)] == [60, 8 * 3600]


@pytest.mark.parametrize("reason", ["", "too short", "   padded   ", "x" * 1001])
def test_reason_must_be_10_to_1000_characters(
    ctx: Context, people: dict[str, str], reason: str
) -> None:
    with pytest.raises(UsageError, match="reason"):
        jit.request_role(ctx.directory, "alice", "auditor", dt.timedelta(hours=1), reason)


def test_request_checks(ctx: Context, people: dict[str, str]) -> None:
    d = ctx.directory
    hour = dt.timedelta(hours=1)
    with pytest.raises(NotFoundError, match="no role"):
        jit.request_role(d, "alice", "wizard", hour, REASON)
    with pytest.raises(NotFoundError):
        jit.request_role(d, "nobody", "auditor", hour, REASON)
    with pytest.raises(UsageError, match="already holds"):
        jit.request_role(d, "alice", "ml-engineer", hour, REASON)
    rid = jit.request_role(d, "alice", "auditor", hour, REASON)
    with pytest.raises(UsageError, match=f"request {rid} .* already pending"):
        jit.request_role(d, "alice", "auditor", hour, REASON)
    # auditor is read-only: it does not hold access.request.
    with pytest.raises(PolicyViolation, match=r"access\.request"):
        jit.request_role(d, "carol", "admin", hour, REASON)
    create_service_account(d, ADMIN, "pipeline", ["ml-engineer"])
    with pytest.raises(UsageError, match="service account"):
        jit.request_role(d, "pipeline", "admin", hour, REASON)
    set_disabled(d, ADMIN, "dave", True)
    with pytest.raises(AuthError, match="disabled"):
        jit.request_role(d, "dave", "auditor", hour, REASON)
    with pytest.raises(NotFoundError, match="no access request 999"):
        jit.approve(d, "admin", 999)
    with pytest.raises(UsageError, match="status must be one of"):
        jit.list_requests(d, "sideways")
    assert [r.id for r in jit.list_requests(d)] == [rid]


def test_disabled_requester_is_not_approved(ctx: Context, people: dict[str, str]) -> None:
    d = ctx.directory
    rid = jit.request_role(d, "alice", "auditor", dt.timedelta(hours=1), REASON)
    set_disabled(d, ADMIN, "alice", True)
    with pytest.raises(UsageError, match="disabled"):
        jit.approve(d, "bob", rid)
    set_disabled(d, ADMIN, "bob", True)
    with pytest.raises(AuthError, match="disabled"):
        jit.deny(d, "bob", rid, "disabled approver tries")


def test_grant_stops_counting_at_expiry_and_expire_due_records_it_once(
    ctx: Context, people: dict[str, str]
) -> None:
    d = ctx.directory
    rid = jit.request_role(d, "alice", "app-developer", dt.timedelta(hours=1), REASON)
    other = jit.request_role(d, "dave", "auditor", dt.timedelta(hours=1), REASON)
    grant_id = jit.approve(d, "bob", rid)
    jit.approve(d, "bob", other)
    assert jit.expire_due(d) == []  # nothing has ended yet
    assert Permission.KEYS_CREATE in load_account(d, username="alice").permissions

    expire_grant_in_sql(ctx, grant_id)
    # No job has run: the grant stops counting because active_roles filters by time.
    alice = load_account(d, username="alice")
    assert alice.roles == ("ml-engineer",)
    assert Permission.KEYS_CREATE not in alice.permissions
    assert grant_id not in [g["id"] for g in list_grants(d)]

    assert jit.expire_due(d) == [rid]
    assert {r.id: r.status for r in jit.list_requests(d)} == {rid: "expired", other: "approved"}
    (expired,) = events(ctx, "access.expired")
    assert (expired["actor"], expired["subject"]) == ("system:vallum", "user:alice")
    assert (expired["request"], expired["grant"], expired["role"]) == (
        rid,
        grant_id,
        "app-developer",
    )
    assert jit.expire_due(d) == []
    assert len(events(ctx, "access.expired")) == 1


def test_revoked_jit_grant_is_closed_without_an_expiry_event(
    ctx: Context, people: dict[str, str]
) -> None:
    d = ctx.directory
    rid = jit.request_role(d, "alice", "auditor", dt.timedelta(hours=1), REASON)
    grant_id = jit.approve(d, "bob", rid)
    revoke_grant(d, ADMIN, grant_id, "no longer needed")
    assert "auditor" not in load_account(d, username="alice").roles
    assert jit.expire_due(d) == []
    assert jit.list_requests(d)[0].status == "revoked"
    assert events(ctx, "access.expired") == []


def test_concurrent_approvals_create_one_grant(ctx: Context, people: dict[str, str]) -> None:
    d = ctx.directory
    rid = jit.request_role(d, "alice", "auditor", dt.timedelta(hours=1), REASON)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def go(approver: str) -> None:
        barrier.wait()
        try:
            results.append(jit.approve(d, approver, rid))
        except VallumError as exc:
            results.append(exc)

    threads = [threading.Thread(target=go, args=(n,)) for n in ("admin", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(r).__name__ for r in results) == ["UsageError", "int"]
    assert len([g for g in list_grants(d) if g["kind"] == "jit"]) == 1
    assert len(events(ctx, "access.elevated")) == 1


def test_break_glass_grants_at_once_alerts_and_needs_review(
    ctx: Context, people: dict[str, str]
) -> None:
    d = ctx.directory
    rid = jit.break_glass(d, "bob", "admin", dt.timedelta(hours=1), REASON)
    bob = load_account(d, username="bob")
    assert "admin" in bob.roles
    assert Permission.USERS_MANAGE in bob.permissions
    (grant,) = [g for g in list_grants(d) if g["kind"] == "break_glass"]
    assert (grant["principal"], grant["role"], grant["granted_by"]) == (
        "user:bob",
        "admin",
        "user:bob",
    )
    (alert,) = events(ctx, "access.break_glass")
    assert alert["alert"] is True
    assert alert["review_required"] is True
    assert (alert["actor"], alert["subject"], alert["outcome"]) == (
        "user:bob",
        "user:bob",
        "success",
    )
    assert (alert["request"], alert["grant"], alert["reason"]) == (rid, grant["id"], REASON)

    (due,) = jit.list_requests(d, review_due=True)
    assert (due.id, due.status, due.break_glass, due.review_due) == (rid, "break_glass", True, True)
    assert due.requested_at == due.decided_at
    with pytest.raises(PolicyViolation, match="four eyes"):
        jit.review_break_glass(d, "bob", rid, "I reviewed myself, all fine")
    with pytest.raises(PolicyViolation, match=r"access\.approve"):
        jit.review_break_glass(d, "carol", rid, "auditor cannot sign this off")
    with pytest.raises(UsageError, match="notes"):
        jit.review_break_glass(d, "admin", rid, "ok")
    jit.review_break_glass(d, "admin", rid, "rollback of model v7 was justified")
    assert jit.list_requests(d, review_due=True) == []
    (req,) = jit.list_requests(d)
    assert (req.reviewed_by, req.review_due) == ("user:admin", False)
    (reviewed,) = events(ctx, "access.break_glass_reviewed")
    assert (reviewed["actor"], reviewed["subject"], reviewed["request"]) == (
        "user:admin",
        "user:bob",
        rid,
    )
    assert reviewed["notes"] == "rollback of model v7 was justified"
    with pytest.raises(UsageError, match="already reviewed"):
        jit.review_break_glass(d, "admin", rid, "second look at the same")


def test_break_glass_needs_its_permission_and_alerts_when_refused(
    ctx: Context, people: dict[str, str]
) -> None:
    d = ctx.directory
    with pytest.raises(PolicyViolation, match=r"access\.break_glass"):
        jit.break_glass(d, "alice", "admin", dt.timedelta(hours=1), REASON)
    assert "admin" not in load_account(d, username="alice").roles
    (refused,) = events(ctx, "access.refused")
    assert (refused["attempt"], refused["alert"], refused["outcome"]) == (
        "break_glass",
        True,
        "denied",
    )
    assert events(ctx, "access.break_glass") == []
    assert jit.list_requests(d) == []


def test_break_glass_is_bounded_by_its_own_maximum(ctx: Context, people: dict[str, str]) -> None:
    d = ctx.directory
    assert d.policy.break_glass_max == dt.timedelta(hours=4)
    with pytest.raises(UsageError, match="duration"):
        jit.break_glass(d, "bob", "admin", dt.timedelta(hours=5), REASON)
    with pytest.raises(UsageError, match="already holds"):
        jit.break_glass(d, "bob", "security", dt.timedelta(hours=1), REASON)
    rid = jit.request_role(d, "alice", "auditor", dt.timedelta(hours=1), REASON)
    with pytest.raises(UsageError, match="not a break-glass"):
        jit.review_break_glass(d, "admin", rid, "not an emergency grant")
    assert events(ctx, "access.break_glass") == []


def test_expired_break_glass_still_needs_review(ctx: Context, people: dict[str, str]) -> None:
    d = ctx.directory
    rid = jit.break_glass(d, "bob", "admin", dt.timedelta(hours=4), REASON)
    (req,) = jit.list_requests(d)
    assert req.grant_id is not None
    expire_grant_in_sql(ctx, req.grant_id)
    assert "admin" not in load_account(d, username="bob").roles
    assert jit.expire_due(d) == [rid]
    (expired,) = events(ctx, "access.expired")
    assert (expired["break_glass"], expired["review_due"]) == (True, True)
    (due,) = jit.list_requests(d, review_due=True)
    assert due.status == "expired"
    jit.review_break_glass(d, "admin", rid, "closed after the incident review")
    assert jit.list_requests(d, review_due=True) == []


def test_via_names_the_channel_and_no_secret_reaches_the_ledger(
    ctx: Context, people: dict[str, str]
) -> None:
    d = ctx.directory
    rid = jit.request_role(d, "alice", "auditor", dt.timedelta(hours=1), REASON, via="cli:ops")
    jit.approve(d, "bob", rid, via="cli:ops")
    bg = jit.break_glass(d, "bob", "admin", dt.timedelta(minutes=30), REASON, via="cli:ops")
    jit.review_break_glass(d, "admin", bg, "emergency was real, closed", via="cli:other")
    assert events(ctx, "access.requested")[0]["via"] == "cli:ops"
    assert events(ctx, "access.elevated")[0]["via"] == "cli:ops"
    assert events(ctx, "access.break_glass_reviewed")[0]["via"] == "cli:other"
    with ctx.engine.connect() as conn:
        ledger = "\n".join(
            f"{r.actor} {r.subject} {r.data}" for r in conn.execute(select(LedgerEvent))
        )
    for password in people.values():
        assert password not in ledger
    assert "password" not in ledger
    assert "secret" not in ledger
