"""Access reviews (SEC-POL-012 3.3.2): every grant and API key, certified or revoked.

``start_campaign`` snapshots every active role grant (people and service
accounts; standing, JIT and break-glass) and every active API key into review
items. Reviewers holding ``reviews.certify`` certify or revoke each item, never
one of their own; a revocation takes effect at once (the grant or the key is
revoked). ``close_campaign`` records ``reviews.closed`` with the ids of the items
nobody decided: they are reported as ``unreviewed``, never certified by default,
and the event's outcome is ``failure`` when there are any.

The ``access.reviewed`` events are the evidence for the access-review controls.
Starting and closing a campaign are operator actions: interfaces check
``reviews.manage`` before calling them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, update

from vallum.clock import format_time, now_text, utcnow
from vallum.errors import NotFoundError, UsageError
from vallum.identity import accounts, apikeys
from vallum.identity.directory import Directory
from vallum.identity.jit import MAX_TEXT, acting_account, check_text, note, refuse
from vallum.identity.permissions import Permission
from vallum.store.models import ReviewCampaign, ReviewItem, RoleGrant, User

DECISIONS = ("pending", "certified", "revoked", "unreviewed")
MAX_DEADLINE = dt.timedelta(days=366)
MAX_REPORTED_IDS = 5000  # keeps reviews.closed well inside the ledger's 64 KiB per event


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    campaign_id: int
    subject_kind: str  # "grant" or "apikey"
    subject_id: str
    principal: str
    detail: str
    decision: str
    decided_by: str | None
    decided_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_ITEM_FIELDS = tuple(Item.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    created_by: str
    created_at: str
    deadline: str
    closed_at: str | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def deadline_passed(self) -> bool:
        return self.deadline <= (self.closed_at or now_text())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "deadline_passed": self.deadline_passed}


@dataclass(frozen=True, slots=True)
class CampaignStatus:
    campaign: Campaign
    items: tuple[Item, ...]

    @property
    def unreviewed(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.decision in ("pending", "unreviewed"))

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.campaign.to_dict(),
            "unreviewed": [i.id for i in self.unreviewed],
            "items": [i.to_dict() for i in self.items],
        }


def _principals(d: Directory) -> dict[str, tuple[str, bool]]:
    """username -> (actor, disabled)."""
    with d.engine.connect() as conn:
        rows = conn.execute(select(User.username, User.kind, User.disabled)).all()
    return {
        r.username: (f"{'service' if r.kind == 'service' else 'user'}:{r.username}", r.disabled)
        for r in rows
    }


def _snapshot(d: Directory) -> list[dict[str, str]]:
    people = _principals(d)
    disabled = {actor for actor, off in people.values() if off}
    items = []
    for g in accounts.list_grants(d):
        detail = f"role {g['role']} ({g['kind']})"
        detail += f" until {g['expires_at']}" if g["expires_at"] else ""
        detail += ", account disabled" if g["principal"] in disabled else ""
        items.append(
            {"kind": "grant", "id": str(g["id"]), "principal": g["principal"], "detail": detail}
        )
    for k in apikeys.list_keys(d):
        if k.status != "active":
            continue
        actor, off = people[k.owner]
        detail = f"key {k.name} scopes {','.join(k.scopes)} until {k.expires_at[:10]}"
        detail += ", owner disabled" if off else ""
        items.append({"kind": "apikey", "id": k.id, "principal": actor, "detail": detail})
    return items


def start_campaign(d: Directory, actor: str, name: str, deadline: dt.timedelta) -> int:
    """Open a campaign over every active grant and key; returns its id."""
    name = name.strip()
    if not 1 <= len(name) <= 255:
        raise UsageError("a campaign name must be 1-255 characters")
    if not dt.timedelta(hours=1) <= deadline <= MAX_DEADLINE:
        raise UsageError(f"the deadline must be between 1 hour and {MAX_DEADLINE.days} days")
    items = _snapshot(d)
    due = format_time(utcnow() + deadline)
    with d.engine.begin() as conn:
        values = {"name": name, "created_by": actor, "created_at": now_text(), "deadline": due}
        stmt = insert(ReviewCampaign).values(**values).returning(ReviewCampaign.id)
        campaign_id = int(conn.execute(stmt).scalar_one())
        for it in items:
            conn.execute(
                insert(ReviewItem).values(
                    campaign_id=campaign_id,
                    subject_kind=it["kind"],
                    subject_id=it["id"],
                    principal=it["principal"],
                    detail=it["detail"][:255],
                    decision="pending",
                )
            )
    grants = sum(1 for it in items if it["kind"] == "grant")
    data = {"name": name, "deadline": due, "grants": grants, "apikeys": len(items) - grants}
    note(d, actor, "reviews.started", f"campaign:{campaign_id}", None, **data)
    return campaign_id


def _campaigns(d: Directory, campaign_id: int | None = None) -> list[Campaign]:
    stmt = select(ReviewCampaign).order_by(ReviewCampaign.id)
    counted = select(ReviewItem.campaign_id, ReviewItem.decision, func.count()).group_by(
        ReviewItem.campaign_id, ReviewItem.decision
    )
    if campaign_id is not None:
        stmt = stmt.where(ReviewCampaign.id == campaign_id)
        counted = counted.where(ReviewItem.campaign_id == campaign_id)
    with d.engine.connect() as conn:
        rows = conn.execute(stmt).all()
        tallies = conn.execute(counted).all()
    out = []
    for c in rows:
        counts = dict.fromkeys(DECISIONS, 0)
        counts.update({t[1]: int(t[2]) for t in tallies if t[0] == c.id})
        counts["total"] = sum(counts.values())
        out.append(
            Campaign(c.id, c.name, c.created_by, c.created_at, c.deadline, c.closed_at, counts)
        )
    return out


def list_campaigns(d: Directory) -> list[Campaign]:
    """Every campaign, oldest first, with its counts per decision."""
    return _campaigns(d)


def campaign_status(d: Directory, campaign_id: int) -> CampaignStatus:
    """A campaign, its counts, whether the deadline passed, and every item."""
    found = _campaigns(d, campaign_id)
    if not found:
        raise NotFoundError(f"no review campaign {campaign_id}", hint="see `vallum reviews list`")
    with d.engine.connect() as conn:
        rows = conn.execute(
            select(ReviewItem).where(ReviewItem.campaign_id == campaign_id).order_by(ReviewItem.id)
        )
        items = tuple(Item(**{c: getattr(r, c) for c in _ITEM_FIELDS}) for r in rows)
    return CampaignStatus(found[0], items)


def _item(d: Directory, item_id: int) -> tuple[Item, Campaign]:
    with d.engine.connect() as conn:
        campaign_id = conn.execute(
            select(ReviewItem.campaign_id).where(ReviewItem.id == item_id)
        ).scalar()
    if campaign_id is None:
        raise NotFoundError(f"no review item {item_id}", hint="see `vallum reviews show`")
    status = campaign_status(d, campaign_id)
    return next(i for i in status.items if i.id == item_id), status.campaign


def _set_decision(d: Directory, item_id: int, old: str, **values: Any) -> bool:
    with d.engine.begin() as conn:
        done = conn.execute(
            update(ReviewItem)
            .where(ReviewItem.id == item_id, ReviewItem.decision == old)
            .values(**values)
        )
    return done.rowcount == 1


def _revoke(d: Directory, actor: str, item: Item, reason: str) -> bool:
    """Revoke the grant or key under review; False when it was already revoked."""
    if item.subject_kind == "apikey":
        if apikeys.get_key(d, item.subject_id).revoked_at is not None:
            return False
        apikeys.revoke_key(d, actor, item.subject_id, reason)
        return True
    grant_id = int(item.subject_id)
    with d.engine.connect() as conn:
        revoked = conn.execute(select(RoleGrant.revoked_at).where(RoleGrant.id == grant_id)).first()
    if revoked is None or revoked[0] is not None:
        return False
    accounts.revoke_grant(d, actor, grant_id, reason)
    return True


def decide(
    d: Directory,
    reviewer_username: str,
    item_id: int,
    certify: bool,
    reason: str = "",
    *,
    via: str | None = None,
) -> None:
    """Certify or revoke one item; a revocation removes the access at once."""
    reviewer = acting_account(d, reviewer_username)
    reason = reason.strip()[:MAX_TEXT] if certify else check_text(reason, "reason")
    item, campaign = _item(d, item_id)
    if campaign.closed_at is not None:
        raise UsageError(f"campaign {campaign.id} is closed; start a new one")
    if item.decision != "pending":
        raise UsageError(f"item {item_id} was already {item.decision} by {item.decided_by}")
    attempt = "certify" if certify else "revoke"
    why = None
    if item.principal == reviewer.actor:
        why = "four eyes: you cannot review your own access"
    elif Permission.REVIEWS_CERTIFY not in reviewer.permissions:
        why = "you do not hold reviews.certify"
    if why is not None:
        raise refuse(d, reviewer.actor, item.principal, attempt, why, via, item=item_id)
    decision = "certified" if certify else "revoked"
    claimed = _set_decision(
        d, item_id, "pending", decision=decision, decided_by=reviewer.actor, decided_at=now_text()
    )
    if not claimed:
        raise UsageError(f"item {item_id} was decided meanwhile, or its campaign closed")
    effective = True
    if not certify:
        try:
            effective = _revoke(d, reviewer.actor, item, reason)
        except BaseException:
            _set_decision(
                d, item_id, decision, decision="pending", decided_by=None, decided_at=None
            )
            raise
    data = {"campaign": campaign.id, "item": item_id, "subject_kind": item.subject_kind}
    data.update(subject_id=item.subject_id, decision=decision, reason=reason)
    if not effective:
        data["already_revoked"] = True
    # The review operated either way: a revoke is the control doing its job, so
    # both are "success"; the decision itself is in the event data.
    outcome = "success"
    note(d, reviewer.actor, "access.reviewed", item.principal, via, outcome=outcome, **data)


def close_campaign(d: Directory, actor: str, campaign_id: int) -> CampaignStatus:
    """Close a campaign; undecided items become ``unreviewed`` and are reported."""
    before = campaign_status(d, campaign_id)
    if before.campaign.closed_at is not None:
        raise UsageError(f"campaign {campaign_id} is already closed")
    with d.engine.begin() as conn:
        done = conn.execute(
            update(ReviewCampaign)
            .where(ReviewCampaign.id == campaign_id, ReviewCampaign.closed_at.is_(None))
            .values(closed_at=now_text())
        )
        if done.rowcount != 1:
            raise UsageError(f"campaign {campaign_id} was closed meanwhile")
        conn.execute(
            update(ReviewItem)
            .where(ReviewItem.campaign_id == campaign_id, ReviewItem.decision == "pending")
            .values(decision="unreviewed")
        )
    after = campaign_status(d, campaign_id)
    missing = [i.id for i in after.unreviewed]
    data: dict[str, Any] = {"name": after.campaign.name, "counts": after.campaign.counts}
    data.update(unreviewed=missing[:MAX_REPORTED_IDS], deadline=after.campaign.deadline)
    data.update(deadline_passed=after.campaign.deadline_passed)
    if len(missing) > MAX_REPORTED_IDS:
        data["unreviewed_truncated"] = True
    outcome = "failure" if missing else "success"
    note(d, actor, "reviews.closed", f"campaign:{campaign_id}", None, outcome=outcome, **data)
    return after
