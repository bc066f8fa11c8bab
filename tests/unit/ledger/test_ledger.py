"""The ledger on SQLite and PostgreSQL: chain, checkpoints, tamper detection."""

from __future__ import annotations

import hashlib
import threading

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.helpers import tamper
from vallum.context import Context
from vallum.errors import QueueFullError, UsageError
from vallum.governance import audit
from vallum.ledger.canonical import canonical_json
from vallum.ledger.event import Record, entry_text
from vallum.ledger.writer import Ledger


def _fill(ctx: Context, n: int) -> None:
    ctx.ledger.append_many(
        [Record("user:t", "test.appended", f"item:{i}", data={"i": i}) for i in range(n)]
    )


def _verify(ctx: Context):  # type: ignore[no-untyped-def]
    return audit.verify(ctx, record=False)


def test_appends_chain_and_verify(ctx: Context) -> None:
    base = audit.last_seq(ctx)
    receipts = ctx.ledger.append_many(
        [Record("user:a", "test.appended", "x:1", data={"k": "v"}) for _ in range(25)]
    )
    assert [r.seq for r in receipts] == list(range(base + 1, base + 26))
    report = _verify(ctx)
    assert report.ok, report.problems
    assert report.events == base + 25
    assert report.checkpoints >= 2  # every 10 events in these tests


def test_event_hash_is_sha256_of_rfc8785_entry(ctx: Context) -> None:
    receipt = ctx.ledger.append("user:a", "test.appended", "x:1", data={"b": [1, 2], "a": "é"})
    e = audit.event(ctx, receipt.seq)
    as_dict = {
        "action": e.action,
        "actor": e.actor,
        "data": e.data_obj(),
        "outcome": e.outcome,
        "prev": e.prev_hash,
        "seq": e.seq,
        "subject": e.subject,
        "time": e.time,
    }
    import rfc8785

    assert rfc8785.dumps(as_dict) == e.entry().encode()
    assert hashlib.sha256(rfc8785.dumps(as_dict)).hexdigest() == e.hash == receipt.hash


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "Bad Action"}, "dotted verb"),
        ({"action": "nodot"}, "dotted verb"),
        ({"actor": ""}, "actor"),
        ({"subject": "x" * 600}, "subject"),
        ({"data": {"f": float("nan")}}, "canonical"),
        ({"data": {"s": "\ud800"}}, "canonical"),
        ({"data": {"big": 2**60}}, "canonical"),
        ({"outcome": "maybe"}, "outcome"),
    ],
)
def test_bad_events_are_refused_before_queueing(ctx: Context, kwargs: dict, message: str) -> None:
    args = {"actor": "user:a", "action": "test.appended", "subject": "x", **kwargs}
    before = audit.last_seq(ctx)
    with pytest.raises(UsageError, match=message):
        ctx.ledger.append(
            args["actor"],
            args["action"],
            args["subject"],
            outcome=args.get("outcome", "success"),
            data=args.get("data"),
        )
    assert audit.last_seq(ctx) == before


def test_database_refuses_update_and_delete(ctx: Context) -> None:
    _fill(ctx, 3)
    for sql in (
        "UPDATE ledger_events SET data = '{}' WHERE seq = 1",
        "DELETE FROM ledger_events WHERE seq = 1",
        "UPDATE ledger_checkpoints SET root_hash = 'x'",
        "DELETE FROM ledger_checkpoints",
    ):
        with pytest.raises(DBAPIError, match="append-only"), ctx.engine.begin() as conn:
            conn.execute(text(sql))
    if ctx.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), ctx.engine.begin() as conn:
            conn.execute(text("TRUNCATE ledger_events"))
    assert _verify(ctx).ok


# -- tamper detection: each case must be caught, naming the right seq ------


def test_changed_data_is_detected(ctx: Context) -> None:
    _fill(ctx, 30)
    tamper(ctx.engine, "UPDATE ledger_events SET data = :d WHERE seq = 7", d='{"i":999}')
    report = _verify(ctx)
    assert not report.ok
    assert report.first is not None and report.first.seq == 7
    assert "altered" in report.first.what


def test_changed_actor_is_detected(ctx: Context) -> None:
    _fill(ctx, 12)
    tamper(ctx.engine, "UPDATE ledger_events SET actor = 'user:mallory' WHERE seq = 5")
    first = _verify(ctx).first
    assert first is not None and first.seq == 5


def test_deleted_row_is_detected(ctx: Context) -> None:
    _fill(ctx, 30)
    tamper(ctx.engine, "DELETE FROM ledger_events WHERE seq = 12")
    first = _verify(ctx).first
    assert first is not None and first.seq == 12 and "missing" in first.what


def test_reordered_rows_are_detected(ctx: Context) -> None:
    _fill(ctx, 30)
    # Swap the contents of seq 8 and 9 (keeping seq values): a reordering.
    cols = "time, actor, action, subject, outcome, data, prev_hash, hash"
    tamper(
        ctx.engine,
        f"CREATE TABLE swap AS SELECT seq, {cols} FROM ledger_events WHERE seq IN (8, 9)",
    )
    for a, b in ((8, 9), (9, 8)):
        sets = ", ".join(f"{c} = (SELECT {c} FROM swap WHERE seq = {b})" for c in cols.split(", "))
        tamper(ctx.engine, f"UPDATE ledger_events SET {sets} WHERE seq = {a}")
    tamper(ctx.engine, "DROP TABLE swap")
    first = _verify(ctx).first
    assert first is not None and first.seq == 8


def test_truncated_tail_is_detected(ctx: Context) -> None:
    _fill(ctx, 30)
    last = audit.last_seq(ctx)
    tamper(ctx.engine, "DELETE FROM ledger_events WHERE seq > :n", n=last - 5)
    report = _verify(ctx)
    assert not report.ok
    assert any("truncated" in p.what for p in report.problems)


def test_recomputed_chain_is_caught_by_signed_checkpoints(ctx: Context) -> None:
    """An attacker rewrites event 4 and recomputes every later hash and link."""
    _fill(ctx, 30)
    rows = ctx.engine.connect().execute(text("SELECT * FROM ledger_events ORDER BY seq")).all()
    prev = rows[0].prev_hash
    fixed = []
    for r in rows:
        data = '{"i":-1}' if r.seq == 4 else r.data
        entry = entry_text(r.seq, r.time, r.actor, r.action, r.subject, r.outcome, data, prev)
        digest = hashlib.sha256(entry.encode()).hexdigest()
        fixed.append((r.seq, data, prev, digest))
        prev = digest
    for seq, data, p, h in fixed:
        tamper(
            ctx.engine,
            "UPDATE ledger_events SET data = :d, prev_hash = :p, hash = :h WHERE seq = :s",
            d=data,
            p=p,
            h=h,
            s=seq,
        )
    report = _verify(ctx)
    assert not report.ok
    assert all("hash does not match" not in p.what for p in report.problems)  # chain is valid
    assert any("history was rewritten" in p.what for p in report.problems)
    # Reported at the first checkpoint covering seq 4; nothing after the last good
    # checkpoint before it counts as verified.
    sizes = sorted(cp["tree_size"] for cp in audit.checkpoints(ctx))
    covering = min(s for s in sizes if s >= 4)
    assert report.first is not None and report.first.seq == covering
    assert report.verified_up_to == max([0, *(s for s in sizes if s < 4)])


def test_forged_checkpoint_signature_is_detected(ctx: Context) -> None:
    _fill(ctx, 20)
    size = audit.checkpoints(ctx)[1]["tree_size"]
    tamper(
        ctx.engine,
        "UPDATE ledger_checkpoints SET root_hash = :r WHERE tree_size = :n",
        r="ab" * 32,
        n=size,
    )
    report = _verify(ctx)
    assert any("signature" in p.what for p in report.problems)


def test_deleted_checkpoints_are_detected(ctx: Context) -> None:
    _fill(ctx, 35)
    tamper(ctx.engine, "DELETE FROM ledger_checkpoints")
    report = _verify(ctx)
    assert any("no signed checkpoint" in p.what for p in report.problems)


def test_checkpoint_gap_never_exceeds_interval(ctx: Context) -> None:
    _fill(ctx, 95)
    sizes = [cp["tree_size"] for cp in audit.checkpoints(ctx)]
    gaps = [b - a for a, b in zip([0, *sizes], sizes, strict=False)]
    assert gaps and max(gaps) <= 10


def test_timed_checkpoint(ctx: Context) -> None:
    ctx.ledger.checkpoint_seconds = 0.2
    ctx.ledger.append("user:a", "test.appended", "x")
    n = audit.last_seq(ctx)
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(cp["tree_size"] == n for cp in audit.checkpoints(ctx)):
            break
        time.sleep(0.1)
    assert any(cp["tree_size"] == n for cp in audit.checkpoints(ctx))


def test_concurrent_writers_share_one_chain(ctx: Context) -> None:
    """Two Ledger writers (as two processes would be) on one database."""
    other = Ledger(ctx.engine, ctx.ledger._signer, checkpoint_events=10)
    errors: list[BaseException] = []

    def burst(ledger: Ledger, tag: str) -> None:
        try:
            for i in range(20):
                ledger.append_many([Record("user:a", "test.appended", f"{tag}:{i}")] * 3)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [
        threading.Thread(target=burst, args=(ctx.ledger, "a")),
        threading.Thread(target=burst, args=(other, "b")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert not errors
    report = _verify(ctx)
    assert report.ok, report.problems
    assert report.events >= 120


def test_full_queue_refuses(ctx: Context) -> None:
    tiny = Ledger(ctx.engine, ctx.ledger._signer, queue_size=1, batch_size=1)
    # Hold the database write lock so the writer cannot drain the queue.
    gate = threading.Event()
    started = threading.Event()

    def hold() -> None:
        with ctx.engine.connect() as raw:
            from vallum.store.engine import SQLITE_BEGIN

            conn = raw.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            with conn.begin():
                conn.execute(
                    text("SELECT size FROM ledger_head WHERE id = 1 FOR UPDATE")
                    if ctx.engine.dialect.name == "postgresql"
                    else text("UPDATE ledger_head SET size = size WHERE id = 1")
                )
                started.set()
                gate.wait(20)

    holder = threading.Thread(target=hold)
    holder.start()
    started.wait(10)
    futures = []

    def flood() -> None:
        for _ in range(50):
            futures.append(tiny.submit([Record("user:a", "test.appended", "x")]))  # noqa: PERF401

    with pytest.raises(QueueFullError):
        flood()
    gate.set()
    holder.join()
    for f in futures:
        f.result(timeout=30)
    tiny.close()
    assert _verify(ctx).ok


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), _json, max_size=5))
@hsettings(max_examples=300, deadline=None)
def test_canonical_json_matches_rfc8785(value: dict) -> None:
    import rfc8785

    try:
        expected = rfc8785.dumps(value).decode()
    except Exception:  # noqa: BLE001 - rfc8785 refuses some values; so must we
        with pytest.raises(ValueError):  # noqa: PT011
            canonical_json(value)
        return
    assert canonical_json(value) == expected


def test_witness_catches_rewrite_after_all_checkpoints_deleted(ctx: Context) -> None:
    """With every checkpoint deleted, a small re-chained ledger would look intact
    to the database alone; the witness file outside the database catches it."""
    _fill(ctx, 5)
    ctx.ledger.checkpoint_now()
    rows = ctx.engine.connect().execute(text("SELECT * FROM ledger_events ORDER BY seq")).all()
    prev = rows[0].prev_hash
    for r in rows:
        data = '{"i":-1}' if r.seq == 3 else r.data
        entry = entry_text(r.seq, r.time, r.actor, r.action, r.subject, r.outcome, data, prev)
        digest = hashlib.sha256(entry.encode()).hexdigest()
        tamper(
            ctx.engine,
            "UPDATE ledger_events SET data = :d, prev_hash = :p, hash = :h WHERE seq = :s",
            d=data,
            p=prev,
            h=digest,
            s=r.seq,
        )
        prev = digest
    tamper(ctx.engine, "DELETE FROM ledger_checkpoints")
    report = _verify(ctx)
    assert any("witness" in p.what for p in report.problems)


def test_witness_catches_truncation_with_its_checkpoints(ctx: Context) -> None:
    _fill(ctx, 25)
    ctx.ledger.checkpoint_now()
    last = audit.last_seq(ctx)
    tamper(ctx.engine, "DELETE FROM ledger_events WHERE seq > :n", n=last - 3)
    tamper(ctx.engine, "DELETE FROM ledger_checkpoints WHERE tree_size > :n", n=last - 3)
    report = _verify(ctx)
    assert any("witness" in p.what and "truncated" in p.what for p in report.problems)


def test_a_forged_witness_file_is_reported(ctx: Context) -> None:
    from vallum.ledger.witness import FILENAME

    (ctx.settings.data_dir / FILENAME).write_text("{not json")
    report = _verify(ctx)
    assert any("witness file is unreadable" in p.what for p in report.problems)


def test_witness_does_not_advance_over_a_rewritten_history(ctx: Context) -> None:
    """Waiting for the next checkpoint must not launder a truncation."""
    _fill(ctx, 25)
    ctx.ledger.checkpoint_now()
    last = audit.last_seq(ctx)
    tamper(ctx.engine, "DELETE FROM ledger_events WHERE seq > :n", n=last - 3)
    tamper(ctx.engine, "DELETE FROM ledger_checkpoints WHERE tree_size > :n", n=last - 3)
    tamper(
        ctx.engine,
        "UPDATE ledger_head SET size = :n, last_hash = (SELECT hash FROM ledger_events "
        "WHERE seq = :n), checkpoint_size = 0",
        n=last - 3,
    )
    fresh = Ledger(ctx.engine, ctx.ledger._signer, checkpoint_events=10, witness=_witness(ctx))
    fresh.append_many([Record("user:t", "test.appended", "after")] * 30)
    fresh.close()
    report = _verify(ctx)
    assert any("witness" in p.what for p in report.problems)


def _witness(ctx: Context):  # type: ignore[no-untyped-def]
    from vallum.ledger.witness import FILENAME

    return ctx.settings.data_dir / FILENAME


def test_missing_witness_file_is_reported(ctx: Context) -> None:
    _witness(ctx).unlink()
    report = _verify(ctx)
    assert any("witness file is missing" in p.what for p in report.problems)


def test_read_only_use_signs_nothing(ctx: Context) -> None:
    reader = Ledger(ctx.engine, ctx.ledger._signer, checkpoint_events=1000)
    writer = Ledger(ctx.engine, ctx.ledger._signer, checkpoint_events=1000)
    writer.submit([Record("user:t", "test.appended", "x")]).result()
    before = audit.checkpoints(ctx)
    reader.close()
    assert audit.checkpoints(ctx) == before
    writer.close()
    assert len(audit.checkpoints(ctx)) == len(before) + 1
