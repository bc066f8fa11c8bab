"""Control status from ledger evidence, and attestations.

Nothing passes without evidence: an automated control with no matching event in
its freshness window is ``no evidence``; an attested control without a current
attestation is ``attestation due``. Every status names the seqs behind it, so an
auditor can fetch each event and its inclusion proof.

Outcome conventions (what evaluators read):
``success`` the action ran and its check passed; ``denied`` a control refused
something, i.e. the control operated; ``failure`` the check found a problem
(tampering, a bad signature); ``error`` the control could not run.
"""

from __future__ import annotations

import datetime as dt
import enum
import typing
from dataclasses import dataclass

from sqlalchemy import select

from vallum.clock import format_time, parse_time, utcnow
from vallum.context import Context
from vallum.errors import NotFoundError, UsageError
from vallum.governance.catalog import (
    Catalog,
    Control,
    ControlKind,
    Evaluator,
    Framework,
    load_catalog,
)
from vallum.store.models import LedgerEvent

ATTESTED = "controls.attested"
MAX_STATEMENT = 2000
_WORKING = frozenset({"success", "denied"})


class Status(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    NO_EVIDENCE = "no evidence"
    ATTESTATION_DUE = "attestation due"


@dataclass(frozen=True, slots=True)
class ControlStatus:
    control: Control
    status: Status
    reason: str
    evidence: tuple[int, ...]
    expires: str | None = None

    def to_dict(self) -> dict[str, object]:
        c = self.control
        return {
            "id": c.id,
            "section": c.section,
            "title": c.title,
            "kind": str(c.kind),
            "status": str(self.status),
            "reason": self.reason,
            "evidence_seqs": list(self.evidence),
            "expires": self.expires,
            "frameworks": {str(f): list(c.references(f)) for f in sorted(c.frameworks)},
        }


def _events(
    ctx: Context, actions: typing.Iterable[str], since: str, subject: str | None = None
) -> list[tuple[int, str, str, str]]:
    stmt = (
        select(LedgerEvent.seq, LedgerEvent.time, LedgerEvent.outcome, LedgerEvent.data)
        .where(LedgerEvent.action.in_(list(actions)), LedgerEvent.time >= since)
        .order_by(LedgerEvent.seq.desc())
        .limit(200)
    )
    if subject is not None:
        stmt = stmt.where(LedgerEvent.subject == subject)
    with ctx.engine.connect() as conn:
        return [(r[0], r[1], r[2], r[3]) for r in conn.execute(stmt)]


def _automated(ctx: Context, control: Control, now: dt.datetime) -> ControlStatus:
    ev = control.evidence
    assert ev is not None  # noqa: S101 - the catalog loader guarantees it
    rows = _events(ctx, ev.actions, format_time(now - ev.freshness))
    if not rows:
        return ControlStatus(control, Status.NO_EVIDENCE, "no matching events in the window", ())
    seqs = tuple(r[0] for r in rows[:10])
    match ev.evaluator:
        case Evaluator.LATEST_OUTCOME:
            newest = rows[0]
            if newest[2] == "success":
                return ControlStatus(
                    control, Status.PASS, f"newest evidence is seq {newest[0]}", seqs
                )
            return ControlStatus(
                control, Status.FAIL, f"newest evidence seq {newest[0]} is {newest[2]}", seqs
            )
        case Evaluator.ANY_SUCCESS:
            working = [r for r in rows if r[2] in _WORKING]
            if working:
                return ControlStatus(
                    control, Status.PASS, f"{len(working)} event(s) show it operating", seqs
                )
            return ControlStatus(
                control, Status.FAIL, "every matching event in the window is a failure", seqs
            )
        case _:
            typing.assert_never(ev.evaluator)


def _attested(ctx: Context, control: Control, now: dt.datetime) -> ControlStatus:
    import json

    rows = _events(ctx, [ATTESTED], "", subject=f"control:{control.id}")
    if not rows:
        return ControlStatus(control, Status.ATTESTATION_DUE, "never attested", ())
    seq, _time, _outcome, data = rows[0]
    expires = str(json.loads(data).get("expires", ""))
    try:
        expired = parse_time(expires) <= now
    except ValueError:
        expired = True
    if expired:
        return ControlStatus(
            control, Status.ATTESTATION_DUE, f"attestation seq {seq} expired", (seq,), expires
        )
    return ControlStatus(control, Status.PASS, f"attested in seq {seq}", (seq,), expires)


def evaluate(
    ctx: Context, framework: Framework | None = None, catalog: Catalog | None = None
) -> list[ControlStatus]:
    """Status of every control (of one framework, if given)."""
    cat = catalog or load_catalog()
    controls = cat.for_framework(framework) if framework is not None else tuple(cat)
    now = utcnow()
    out: list[ControlStatus] = []
    for control in controls:
        match control.kind:
            case ControlKind.AUTOMATED:
                out.append(_automated(ctx, control, now))
            case ControlKind.ATTESTED:
                out.append(_attested(ctx, control, now))
            case _:
                typing.assert_never(control.kind)
    return out


def attest(ctx: Context, control_id: str, statement: str, valid_for: dt.timedelta) -> int:
    """Record an attestation by the acting principal; returns its seq."""
    try:
        control = load_catalog().by_id(control_id)
    except (KeyError, ValueError):
        raise NotFoundError(f"no control {control_id!r}", hint="see `vallum controls`") from None
    if control.kind is not ControlKind.ATTESTED:
        raise UsageError(
            f"{control_id} is automated: it takes evidence from the ledger, not attestations"
        )
    statement = statement.strip()
    if not statement or len(statement) > MAX_STATEMENT:
        raise UsageError(f"the statement must be 1 to {MAX_STATEMENT} characters")
    if valid_for <= dt.timedelta(0) or valid_for > dt.timedelta(days=3 * 366):
        raise UsageError("an attestation must expire within three years")
    expires = format_time(utcnow() + valid_for)
    return ctx.record(
        ATTESTED,
        f"control:{control.id}",
        data={"statement": statement, "expires": expires, "control": control.id},
    )
