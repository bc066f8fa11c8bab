"""Control evaluation from ledger evidence, and attestations."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.helpers import tamper
from vallum.context import Context
from vallum.errors import NotFoundError, UsageError
from vallum.governance.catalog import ControlKind, Evaluator, Framework, load_catalog
from vallum.governance.service import Status, attest, evaluate


def _by_id(ctx: Context) -> dict[str, Status]:
    return {s.control.id: s.status for s in evaluate(ctx)}


def _first(kind: ControlKind, evaluator: Evaluator | None = None) -> str:
    for c in load_catalog():
        if c.kind is kind and (
            evaluator is None or (c.evidence and c.evidence.evaluator is evaluator)
        ):
            return c.id
    raise AssertionError("catalog has no such control")


def test_nothing_passes_without_evidence(ctx: Context) -> None:
    statuses = evaluate(ctx)
    assert len(statuses) == len(load_catalog())
    for s in statuses:
        if s.control.kind is ControlKind.ATTESTED:
            assert s.status is Status.ATTESTATION_DUE
        elif s.status is Status.PASS:
            # Only controls whose evidence the kernel itself produced may pass.
            assert s.evidence, s.control.id


def test_attestation_passes_until_it_expires(ctx: Context) -> None:
    cid = _first(ControlKind.ATTESTED)
    seq = attest(ctx, cid, "Workstations run EDR; see ticket SEC-42.", dt.timedelta(days=90))
    status = next(s for s in evaluate(ctx) if s.control.id == cid)
    assert status.status is Status.PASS
    assert status.evidence == (seq,)
    # An attestation whose expiry has passed is due again (written as the past).
    tamper(
        ctx.engine,
        "UPDATE ledger_events SET data = :d WHERE seq = :s",
        d=json.dumps({"control": cid, "expires": "2020-01-01T00:00:00.000000Z", "statement": "x"}),
        s=seq,
    )
    assert _by_id(ctx)[cid] is Status.ATTESTATION_DUE


def test_attest_refuses_bad_input(ctx: Context) -> None:
    with pytest.raises(NotFoundError):
        attest(ctx, "SEC-999-99", "x", dt.timedelta(days=1))
    with pytest.raises(UsageError, match="automated"):
        attest(ctx, _first(ControlKind.AUTOMATED), "x", dt.timedelta(days=1))
    cid = _first(ControlKind.ATTESTED)
    with pytest.raises(UsageError, match="characters"):
        attest(ctx, cid, "   ", dt.timedelta(days=1))
    with pytest.raises(UsageError, match="three years"):
        attest(ctx, cid, "ok", dt.timedelta(days=5000))


def test_latest_outcome_evaluator(ctx: Context) -> None:
    cid = _first(ControlKind.AUTOMATED, Evaluator.LATEST_OUTCOME)
    control = load_catalog().by_id(cid)
    assert control.evidence is not None
    action = control.evidence.actions[0]
    ctx.record(action, "x:1", outcome="success")
    assert _by_id(ctx)[cid] is Status.PASS
    seq = ctx.record(action, "x:2", outcome="failure")
    status = next(s for s in evaluate(ctx) if s.control.id == cid)
    assert status.status is Status.FAIL
    assert status.evidence[0] == seq


def test_any_success_evaluator_counts_denials_as_operating(ctx: Context) -> None:
    cid = _first(ControlKind.AUTOMATED, Evaluator.ANY_SUCCESS)
    control = load_catalog().by_id(cid)
    assert control.evidence is not None
    action = control.evidence.actions[0]
    ctx.record(action, "x:1", outcome="error")
    assert _by_id(ctx)[cid] is Status.FAIL
    ctx.record(action, "x:2", outcome="denied")
    assert _by_id(ctx)[cid] is Status.PASS


def test_framework_filter(ctx: Context) -> None:
    hipaa = evaluate(ctx, Framework.HIPAA)
    assert hipaa
    assert {s.control.section[:3] for s in hipaa} <= {"3.2", "3.5", "3.6"}
    assert all(Framework.HIPAA in s.control.frameworks for s in hipaa)
