"""Access review campaigns, on SQLite and PostgreSQL (no mocks)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text

from vallum.clock import format_time, parse_time, utcnow
from vallum.context import Context
from vallum.errors import AuthError, NotFoundError, PolicyViolation, UsageError
from vallum.governance.service import Status, evaluate
from vallum.identity import apikeys, jit, reviews
from vallum.identity.accounts import create_service_account, create_user, list_grants, revoke_grant
from vallum.identity.directory import load_account
from vallum.identity.permissions import Permission
from vallum.store.models import LedgerEvent

ADMIN = "user:admin"
OPERATOR = "cli:ops"
FORTNIGHT = dt.timedelta(days=14)


def events(ctx: Context, action: str) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(LedgerEvent).where(LedgerEvent.action == action).order_by(LedgerEvent.seq)
        )
        return [
            {"actor": r.actor, "subject": r.subject, "outcome": r.outcome, **json.loads(r.data)}
            for r in rows
        ]


@dataclass
class World:
    secrets: list[str]
    alice_key: apikeys.IssuedKey
    pipeline_key: apikeys.IssuedKey
    jit_grant: int


@pytest.fixture
def world(ctx: Context) -> World:
    """People, a service account, keys, a JIT grant, and a revoked key and grant."""
    d = ctx.directory
    roles = {"alice": "ml-engineer", "bob": "security", "carol": "auditor", "dave": "app-developer"}
    secrets = [create_user(d, ADMIN, n, [r]).one_time_password for n, r in roles.items()]
    create_service_account(d, ADMIN, "pipeline", ["ml-engineer"])
    month = dt.timedelta(days=30)
    alice_key = apikeys.create_key(
        d, ADMIN, name="notebook", owner="alice", scopes=["models.read"], expires_in=month
    )
    pipeline_key = apikeys.create_key(
        d,
        ADMIN,
        name="ci",
        owner="pipeline",
        scopes=["models.scan", "models.read"],
        expires_in=month,
    )
    old = apikeys.create_key(
        d, ADMIN, name="old", owner="pipeline", scopes=["models.read"], expires_in=month
    )
    apikeys.revoke_key(d, ADMIN, old.info.id, "replaced")
    gone = create_user(d, ADMIN, "erin", ["auditor"])
    secrets.append(gone.one_time_password)
    (erin_grant,) = [g for g in list_grants(d) if g["principal"] == "user:erin"]
    revoke_grant(d, ADMIN, erin_grant["id"], "left the team")
    rid = jit.request_role(d, "dave", "auditor", dt.timedelta(hours=2), "quarterly evidence pull")
    jit_grant = jit.approve(d, "bob", rid)
    secrets += [alice_key.secret, pipeline_key.secret, old.secret]
    return World(secrets, alice_key, pipeline_key, jit_grant)


def item_for(status: reviews.CampaignStatus, principal: str, kind: str = "grant") -> reviews.Item:
    (item,) = [i for i in status.items if i.principal == principal and i.subject_kind == kind]
    return item


def test_campaign_snapshots_every_active_grant_and_key(ctx: Context, world: World) -> None:
    d = ctx.directory
    cid = reviews.start_campaign(d, OPERATOR, "Q4 access review", FORTNIGHT)
    status = reviews.campaign_status(d, cid)
    grants = sorted((i.principal, i.detail) for i in status.items if i.subject_kind == "grant")
    assert [g[0] for g in grants] == [
        "service:pipeline",
        "user:admin",
        "user:alice",
        "user:bob",
        "user:carol",
        "user:dave",
        "user:dave",
    ]  # erin's grant was revoked: not under review
    assert ("user:admin", "role admin (standing)") in grants
    (jit_detail,) = [g[1] for g in grants if "(jit)" in g[1]]
    assert jit_detail.startswith("role auditor (jit) until ")
    assert {i.subject_id for i in status.items if i.subject_kind == "grant"} == {
        str(g["id"]) for g in list_grants(d)
    }
    keys = {i.subject_id: i for i in status.items if i.subject_kind == "apikey"}
    assert set(keys) == {world.alice_key.info.id, world.pipeline_key.info.id}  # not the revoked one
    ci = keys[world.pipeline_key.info.id]
    assert ci.principal == "service:pipeline"
    assert ci.detail.startswith("key ci scopes models.read,models.scan until ")
    assert keys[world.alice_key.info.id].principal == "user:alice"
    assert {i.decision for i in status.items} == {"pending"}

    c = status.campaign
    assert (c.name, c.created_by, c.closed_at, c.deadline_passed) == (
        "Q4 access review",
        OPERATOR,
        None,
        False,
    )
    left = parse_time(c.deadline) - utcnow()
    assert FORTNIGHT - dt.timedelta(minutes=1) < left <= FORTNIGHT
    assert c.counts == {
        "pending": 9,
        "certified": 0,
        "revoked": 0,
        "unreviewed": 0,
        "total": 9,
    }
    (started,) = events(ctx, "reviews.started")
    assert (started["actor"], started["subject"]) == (OPERATOR, f"campaign:{cid}")
    assert (started["grants"], started["apikeys"], started["deadline"]) == (7, 2, c.deadline)
    assert [x.id for x in reviews.list_campaigns(d)] == [cid]


def test_revoking_in_a_campaign_removes_the_access(ctx: Context, world: World) -> None:
    d = ctx.directory
    cid = reviews.start_campaign(d, OPERATOR, "revocations", FORTNIGHT)
    status = reviews.campaign_status(d, cid)
    assert Permission.MODELS_SIGN in load_account(d, username="alice").permissions
    assert apikeys.authenticate(d, world.pipeline_key.secret).key_id == world.pipeline_key.info.id

    grant = item_for(status, "user:alice")
    reviews.decide(d, "bob", grant.id, False, "moved to the sales team")
    alice = load_account(d, username="alice")
    assert alice.roles == ()
    assert alice.permissions == frozenset()

    key = item_for(status, "service:pipeline", "apikey")
    reviews.decide(d, "bob", key.id, False, "CI moved to signed runners", via="cli:ops")
    with pytest.raises(AuthError):
        apikeys.authenticate(d, world.pipeline_key.secret)
    assert apikeys.get_key(d, world.pipeline_key.info.id).status == "revoked"

    jit_item = next(i for i in status.items if i.subject_id == str(world.jit_grant))
    reviews.decide(d, "admin", jit_item.id, False, "evidence pull finished early")
    assert "auditor" not in load_account(d, username="dave").roles
    assert jit.expire_due(d) == []
    assert jit.list_requests(d)[0].status == "revoked"

    first, second, third = events(ctx, "access.reviewed")
    # A revoke is the review operating: outcome success, the decision in the data.
    assert (first["actor"], first["subject"], first["outcome"]) == (
        "user:bob",
        "user:alice",
        "success",
    )
    assert (first["decision"], first["reason"], first["subject_kind"]) == (
        "revoked",
        "moved to the sales team",
        "grant",
    )
    assert (second["subject_id"], second["via"]) == (world.pipeline_key.info.id, "cli:ops")
    assert third["actor"] == ADMIN
    revoked = events(ctx, "access.revoked")
    assert [(e["actor"], e["subject"]) for e in revoked[-2:]] == [
        ("user:bob", "user:alice"),
        (ADMIN, "user:dave"),
    ]
    (key_revoked,) = [
        e for e in events(ctx, "apikeys.revoked") if e["subject"].endswith(key.subject_id)
    ]
    assert key_revoked["actor"] == "user:bob"
    counts = reviews.campaign_status(d, cid).campaign.counts
    assert (counts["revoked"], counts["pending"]) == (3, 6)


def test_certify_four_eyes_and_permission(ctx: Context, world: World) -> None:
    d = ctx.directory
    cid = reviews.start_campaign(d, OPERATOR, "certify", FORTNIGHT)
    status = reviews.campaign_status(d, cid)
    bobs = item_for(status, "user:bob")
    alices_key = item_for(status, "user:alice", "apikey")
    with pytest.raises(PolicyViolation, match="your own"):
        reviews.decide(d, "bob", bobs.id, True)
    with pytest.raises(PolicyViolation, match=r"reviews\.certify"):
        reviews.decide(d, "carol", bobs.id, True)  # auditor reads reviews, cannot certify
    with pytest.raises(PolicyViolation, match="your own"):
        reviews.decide(d, "alice", alices_key.id, False, "my own key, revoking")
    refused = events(ctx, "access.refused")
    assert [(e["actor"], e["attempt"], e["outcome"]) for e in refused] == [
        ("user:bob", "certify", "denied"),
        ("user:carol", "certify", "denied"),
        ("user:alice", "revoke", "denied"),
    ]
    with pytest.raises(UsageError, match="reason"):
        reviews.decide(d, "admin", bobs.id, False, "no")
    assert reviews.campaign_status(d, cid).campaign.counts["pending"] == 9

    reviews.decide(d, "admin", bobs.id, True)
    reviews.decide(d, "bob", alices_key.id, True, "used for the model catalogue")
    with pytest.raises(UsageError, match="already certified"):
        reviews.decide(d, "bob", bobs.id, False, "changed my mind here")
    assert "security" in load_account(d, username="bob").roles
    assert apikeys.authenticate(d, world.alice_key.secret).key_id == world.alice_key.info.id
    first, second = events(ctx, "access.reviewed")
    assert (first["actor"], first["subject"], first["outcome"], first["decision"]) == (
        ADMIN,
        "user:bob",
        "success",
        "certified",
    )
    assert second["reason"] == "used for the model catalogue"
    # The certification is the evidence for the access-review control.
    (control,) = [s for s in evaluate(ctx) if s.control.id == "SEC-332-06"]
    assert control.status is Status.PASS
    assert control.evidence[0] == max(_seqs(ctx, "access.reviewed"))


def _seqs(ctx: Context, action: str) -> list[int]:
    with ctx.engine.connect() as conn:
        return list(
            conn.execute(select(LedgerEvent.seq).where(LedgerEvent.action == action)).scalars()
        )


def test_close_reports_unreviewed_items_and_certifies_nothing(ctx: Context, world: World) -> None:
    d = ctx.directory
    cid = reviews.start_campaign(d, OPERATOR, "closing", FORTNIGHT)
    status = reviews.campaign_status(d, cid)
    decided = item_for(status, "user:carol")
    reviews.decide(d, "bob", decided.id, True)
    revoked = item_for(status, "user:alice", "apikey")
    reviews.decide(d, "bob", revoked.id, False, "notebook retired")
    # The deadline passes with items still pending.
    past = format_time(utcnow() - dt.timedelta(minutes=1))
    with ctx.engine.begin() as conn:
        conn.execute(
            text("UPDATE review_campaigns SET deadline = :t WHERE id = :i"), {"t": past, "i": cid}
        )
    late = reviews.campaign_status(d, cid)
    assert late.campaign.deadline_passed
    assert len(late.unreviewed) == 7
    assert reviews.list_campaigns(d)[0].deadline_passed

    closed = reviews.close_campaign(d, OPERATOR, cid)
    missing = sorted(i.id for i in status.items if i.id not in {decided.id, revoked.id})
    assert sorted(i.id for i in closed.unreviewed) == missing
    assert {i.decision for i in closed.unreviewed} == {"unreviewed"}
    assert closed.campaign.counts == {
        "pending": 0,
        "certified": 1,
        "revoked": 1,
        "unreviewed": 7,
        "total": 9,
    }
    assert closed.campaign.closed_at is not None
    (event,) = events(ctx, "reviews.closed")
    assert (event["actor"], event["subject"], event["outcome"]) == (
        OPERATOR,
        f"campaign:{cid}",
        "failure",
    )
    assert sorted(event["unreviewed"]) == missing
    assert event["counts"] == closed.campaign.counts
    assert event["deadline_passed"] is True
    # Nothing was silently certified, and nothing more can be decided.
    assert len(events(ctx, "access.reviewed")) == 2
    with pytest.raises(UsageError, match="closed"):
        reviews.decide(d, "bob", missing[0], True)
    with pytest.raises(UsageError, match="already closed"):
        reviews.close_campaign(d, OPERATOR, cid)


def test_a_complete_campaign_closes_successfully(ctx: Context, world: World) -> None:
    d = ctx.directory
    cid = reviews.start_campaign(d, OPERATOR, "complete", FORTNIGHT)
    for item in reviews.campaign_status(d, cid).items:
        reviewer = "admin" if item.principal == "user:bob" else "bob"
        reviews.decide(d, reviewer, item.id, True, "still needed")
    closed = reviews.close_campaign(d, OPERATOR, cid)
    assert closed.unreviewed == ()
    (event,) = events(ctx, "reviews.closed")
    assert (event["outcome"], event["unreviewed"], event["deadline_passed"]) == (
        "success",
        [],
        False,
    )


def test_revoking_what_is_already_gone_is_recorded_not_repeated(ctx: Context, world: World) -> None:
    d = ctx.directory
    one = reviews.start_campaign(d, OPERATOR, "first", FORTNIGHT)
    two = reviews.start_campaign(d, OPERATOR, "second", FORTNIGHT)
    a = item_for(reviews.campaign_status(d, one), "user:carol")
    b = item_for(reviews.campaign_status(d, two), "user:carol")
    reviews.decide(d, "bob", a.id, False, "auditor seat ended")
    reviews.decide(d, "admin", b.id, False, "auditor seat ended")
    first, second = events(ctx, "access.reviewed")
    assert "already_revoked" not in first
    assert second["already_revoked"] is True
    assert len([e for e in events(ctx, "access.revoked") if e["subject"] == "user:carol"]) == 1


def test_failed_revocation_leaves_the_item_pending(ctx: Context, world: World) -> None:
    d = ctx.directory
    cid = reviews.start_campaign(d, OPERATOR, "broken", FORTNIGHT)
    key = item_for(reviews.campaign_status(d, cid), "user:alice", "apikey")
    with ctx.engine.begin() as conn:  # the key vanishes behind Vallum's back
        conn.execute(text("DELETE FROM api_keys WHERE id = :k"), {"k": key.subject_id})
    with pytest.raises(NotFoundError):
        reviews.decide(d, "bob", key.id, False, "cannot find this key")
    (again,) = [i for i in reviews.campaign_status(d, cid).items if i.id == key.id]
    assert (again.decision, again.decided_by) == ("pending", None)
    assert events(ctx, "access.reviewed") == []


def test_campaign_arguments_are_checked(ctx: Context, world: World) -> None:
    d = ctx.directory
    with pytest.raises(UsageError, match="deadline"):
        reviews.start_campaign(d, OPERATOR, "too soon", dt.timedelta(minutes=5))
    with pytest.raises(UsageError, match="deadline"):
        reviews.start_campaign(d, OPERATOR, "too late", dt.timedelta(days=400))
    with pytest.raises(UsageError, match="name"):
        reviews.start_campaign(d, OPERATOR, "   ", FORTNIGHT)
    with pytest.raises(NotFoundError, match="no review campaign 42"):
        reviews.campaign_status(d, 42)
    with pytest.raises(NotFoundError, match="no review item 42"):
        reviews.decide(d, "bob", 42, True)
    with pytest.raises(NotFoundError):
        reviews.close_campaign(d, OPERATOR, 42)
    assert reviews.list_campaigns(d) == []
    assert events(ctx, "reviews.started") == []


def test_no_secret_reaches_the_ledger(ctx: Context, world: World) -> None:
    d = ctx.directory
    cid = reviews.start_campaign(d, OPERATOR, "secrets", FORTNIGHT)
    for item in reviews.campaign_status(d, cid).items:
        if item.subject_kind == "apikey":
            reviews.decide(d, "admin", item.id, False, "rotating every key")
    reviews.close_campaign(d, OPERATOR, cid)
    with ctx.engine.connect() as conn:
        ledger = "\n".join(
            f"{r.actor} {r.subject} {r.data}" for r in conn.execute(select(LedgerEvent))
        )
    for secret in world.secrets:
        assert secret not in ledger
        if secret.startswith("vk_"):  # vk_<16 hex id>_<secret>; the secret may contain "_"
            assert len(secret[20:]) >= 40
            assert secret[20:] not in ledger
