"""Every route of the REST API and the console, on SQLite and on PostgreSQL.

Each test makes a real installation with ``vallum.context.initialise``, runs the
app's lifespan (``TestClient`` as a context manager) and talks HTTP to it.
Nothing of Vallum's is mocked. Every response any test receives is checked for
leaked tracebacks or Python exception text (see ``_no_leaks``), and the last
test fails when the app grows a route that no test here (or, for sign-in pages,
in ``test_login_flow``) requests.

Callers authenticate as an auditor would: the API with an ``auditor`` key made
before the app starts (so the events a test records come after it), the console
with an ``auditor`` user signed in through the pages. Every authorized request
is itself a ledger event (``auth.authorized``), so tests about the ledger's
contents tell their own events from those.
"""

from __future__ import annotations

import contextlib
import html
import importlib
import itertools
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import text

from tests.auth_helpers import BASE_URL, console_login, new_user, open_directory, role_header
from tests.conftest import make_settings
from tests.helpers import tamper
from vallum import __version__
from vallum.app import create_app
from vallum.config import VallumSettings
from vallum.context import initialise, open_context
from vallum.crypto.providers import LocalFileKeyProvider
from vallum.errors import IntegrityError, NotInitializedError
from vallum.governance.catalog import Framework, load_catalog
from vallum.ledger.checkpoint import Checkpoint, key_id_of
from vallum.ledger.proofs import check_inclusion
from vallum.store.engine import make_engine

with warnings.catch_warnings():
    # Starlette warns at import that the test client runs on httpx rather than
    # httpx2; that is about our test dependencies, not about Vallum.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
MAX_SEQ = 2**53 - 1
NO_REDIS = "redis://127.0.0.1:1/0"  # port 1: nothing listens there
XSS = "<script>alert(1)</script>"
LEAKS = re.compile(
    r"Traceback \(most recent call last\)"
    r"|File \"[^\"]*\", line \d+"
    r"|site-packages"
    r"|\bsqlalchemy\b|\bpsycopg\b|\bpydantic_core\b"
    r"|<class '"
    r"|<(?:function|bound method|built-in) "
    r"| object at 0x[0-9a-f]+"
    r"|\[SQL: |sqlalche\.me|no such table|does not exist\s+LINE \d",
    re.IGNORECASE,
)
ROW_SEQ = re.compile(r'<td class="mono"><a href="/api/v1/audit/events/(\d+)">')
SHOWN_TOTAL = re.compile(r"<p>(\d+) events\.")
#: No checkpoint is signed while a test runs (the request events would add some).
QUIET_LEDGER = {"ledger_checkpoint_events": 1_000_000, "ledger_checkpoint_seconds": 86_400.0}
BADGE = re.compile(r'<span class="badge [a-z]+" id="ledger-badge"[^>]*>([^<]*)</span>')


# -- helpers -------------------------------------------------------------------


def _no_leaks(response: httpx.Response) -> None:
    """Response hook on every client: no traceback or exception text, ever."""
    response.read()
    found = LEAKS.search(response.text)
    assert found is None, (
        f"{response.request.method} {response.request.url} leaked {found.group(0)!r}: "
        f"{response.text[:500]}"
    )
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM, response.text[:300]


@contextlib.contextmanager
def running(
    settings: VallumSettings,
    auth: dict[str, str],
    *,
    console: bool = False,
    background_verify: bool = False,
    raise_server_exceptions: bool = True,
) -> Iterator[TestClient]:
    """The app on ``settings`` with its lifespan entered; API requests carry ``auth``.

    With ``console``, a new auditor is also signed in on the client (cookies).
    """
    app = create_app(settings, background_verify=background_verify)
    with TestClient(
        app,
        base_url=BASE_URL,
        raise_server_exceptions=raise_server_exceptions,
        follow_redirects=False,
    ) as client:
        client.event_hooks = {"request": [], "response": [_no_leaks]}
        if console:
            username, one_time = new_user(app.state.vallum.ctx, "auditor")
            console_login(client, username, one_time)
        client.headers.update(auth)
        yield client


def record(settings: VallumSettings, *events: tuple[str, str]) -> list[int]:
    """Record (action, subject) events through an opened context; returns their seqs."""
    ctx = open_context(settings)
    try:
        return [ctx.record(action, subject) for action, subject in events]
    finally:
        ctx.close()


def identity(settings: VallumSettings) -> tuple[str, str]:
    """(instance_id, public key hex) as the installation itself knows them."""
    ctx = open_context(settings)
    try:
        return ctx.instance_id, ctx.ledger.public_key.hex()
    finally:
        ctx.close()


def run_sql(settings: VallumSettings, sql: str) -> None:
    """Change the database behind Vallum's back, as a DBA (or a failure) could."""
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def ok_json(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def ok_html(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # the console needs no script at all
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    return response.text


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem document with Vallum's type URN."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert body["type"] == f"urn:vallum:error:{code}"
    assert body["code"] == code
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def page_seqs(page: str) -> list[int]:
    return [int(s) for s in ROW_SEQ.findall(page)]


def shown_total(page: str) -> int:
    """The ledger size the ledger page says it shows."""
    found = SHOWN_TOTAL.search(page)
    assert found is not None, page
    return int(found.group(1))


def not_auth(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events without the ``auth.*`` decisions and the console user ``running`` made."""
    return [
        e
        for e in events
        if not e["action"].startswith("auth.")
        and not (e["action"] == "users.created" and e["subject"].startswith("user:auditor-"))
    ]


def badge(page: str) -> str:
    found = BADGE.findall(page)
    assert len(found) == 1, page
    return html.unescape(found[0])


# -- fixtures ------------------------------------------------------------------


@pytest.fixture
def installed(settings: VallumSettings) -> VallumSettings:
    """An initialised installation (SQLite or PostgreSQL); its settings."""
    initialise(settings)
    return settings


@pytest.fixture
def auditor(installed: VallumSettings) -> dict[str, str]:
    """The header of an auditor's API key, made before the app starts."""
    with open_directory(installed) as d:
        return role_header(d, "auditor")


@pytest.fixture
def client(installed: VallumSettings, auditor: dict[str, str]) -> Iterator[TestClient]:
    """The app, with an auditor's key for the API."""
    with running(installed, auditor) as c:
        yield c


@pytest.fixture
def console(installed: VallumSettings, auditor: dict[str, str]) -> Iterator[TestClient]:
    """The app, with an auditor's key for the API and an auditor signed in to the console."""
    with running(installed, auditor, console=True) as c:
        yield c


# -- health --------------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    assert ok_json(client.get("/healthz")) == {"status": "ok"}


def test_readyz_without_redis(client: TestClient) -> None:
    assert ok_json(client.get("/readyz")) == {"status": "ready"}


def test_readyz_with_a_real_redis(installed: VallumSettings, redis_url: str) -> None:
    conf = installed.model_copy(update={"redis_url": SecretStr(redis_url)})
    with running(conf, {}) as client:
        assert ok_json(client.get("/readyz")) == {"status": "ready"}


def test_readyz_503_when_redis_does_not_answer(installed: VallumSettings) -> None:
    conf = installed.model_copy(update={"redis_url": SecretStr(NO_REDIS)})
    with running(conf, {}) as client:
        body = assert_problem(client.get("/readyz"), 503, "unavailable")
        assert "Redis" in body["detail"]
        assert NO_REDIS not in body["detail"]  # a URL may carry a password
        # Liveness does not depend on Redis.
        assert ok_json(client.get("/healthz")) == {"status": "ok"}


def test_readyz_503_when_the_schema_goes_missing(installed: VallumSettings) -> None:
    with running(installed, {}) as client:
        assert client.get("/readyz").status_code == 200
        run_sql(installed, "DELETE FROM alembic_version")
        body = assert_problem(client.get("/readyz"), 503, "not_initialized")
        assert "initialised" in body["detail"]


def test_readyz_503_not_500_when_the_database_fails_it(installed: VallumSettings) -> None:
    with running(installed, {}) as client:
        assert client.get("/readyz").status_code == 200
        run_sql(installed, "DROP TABLE ledger_head")
        body = assert_problem(client.get("/readyz"), 503, "unavailable")
        assert "database" in body["detail"]


def test_unexpected_errors_are_a_500_problem_that_says_nothing(
    installed: VallumSettings, auditor: dict[str, str]
) -> None:
    run_sql(installed, "DROP TABLE ledger_checkpoints")
    conf = installed.model_copy(update=QUIET_LEDGER)  # the request's event needs no checkpoint
    with running(conf, auditor, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/audit/checkpoints")
    body = assert_problem(response, 500, "internal")
    assert body["detail"] == "internal error"
    assert "ledger_checkpoints" not in response.text


# -- the app refuses to start on an installation that is not there -------------


def test_refuses_to_start_when_nothing_exists(settings: VallumSettings) -> None:
    assert not settings.data_dir.exists()
    client = TestClient(create_app(settings, background_verify=False))
    # TestClient runs the lifespan on __enter__ and re-raises what startup raised.
    with pytest.raises(NotInitializedError, match="does not exist"):
        client.__enter__()


def test_refuses_to_start_on_an_unmigrated_database(settings: VallumSettings) -> None:
    settings.data_dir.mkdir(mode=0o700)
    LocalFileKeyProvider.create(settings.key_file)  # the key file is all there is
    client = TestClient(create_app(settings, background_verify=False))
    with pytest.raises(NotInitializedError, match="not been initialised"):
        client.__enter__()


# -- instance and controls -----------------------------------------------------


def test_instance(installed: VallumSettings, auditor: dict[str, str]) -> None:
    instance_id, public_key = identity(installed)
    with running(installed, auditor) as client:
        body = ok_json(client.get("/api/v1/instance"))
    assert body == {
        "instance_id": instance_id,
        "public_key": public_key,
        "key_id": key_id_of(bytes.fromhex(public_key)),
        "version": __version__,
    }


def test_controls_lists_the_whole_catalog(client: TestClient) -> None:
    controls = ok_json(client.get("/api/v1/controls"))["controls"]
    catalog = load_catalog()
    assert [c["id"] for c in controls] == [c.id for c in catalog]
    statuses = {"pass", "fail", "no evidence", "attestation due"}
    for c in controls:
        assert c["status"] in statuses
        assert c["kind"] in {"automated", "attested"}
        assert all(isinstance(s, int) and s >= 1 for s in c["evidence_seqs"])


def test_controls_filtered_by_framework(client: TestClient) -> None:
    every = ok_json(client.get("/api/v1/controls"))["controls"]
    hipaa = ok_json(client.get("/api/v1/controls", params={"framework": "hipaa"}))["controls"]
    assert [c["id"] for c in hipaa] == [c.id for c in load_catalog().for_framework(Framework.HIPAA)]
    assert 0 < len(hipaa) < len(every)
    assert all(c["frameworks"].get("hipaa") for c in hipaa)


def test_controls_bad_framework_is_a_400_problem(client: TestClient) -> None:
    body = assert_problem(
        client.get("/api/v1/controls", params={"framework": "pci-dss"}), 400, "usage"
    )
    assert "framework" in body["detail"]


def test_controls_show_the_evidence_the_ledger_holds(client: TestClient) -> None:
    """A verification run is evidence for SEC-322-06; the control then cites it by seq."""

    def sec_322_06() -> dict[str, Any]:
        controls = ok_json(client.get("/api/v1/controls"))["controls"]
        (control,) = [c for c in controls if c["id"] == "SEC-322-06"]
        return control

    assert sec_322_06()["status"] == "no evidence"
    ok_json(client.get("/api/v1/audit/verification"))
    control = sec_322_06()
    assert control["status"] == "pass"
    (seq,) = control["evidence_seqs"]
    event = ok_json(client.get(f"/api/v1/audit/events/{seq}"))
    assert (event["action"], event["outcome"]) == ("audit.verified", "success")


# -- ledger events -------------------------------------------------------------


def test_events_page_with_since_limit_and_next_since(
    installed: VallumSettings, auditor: dict[str, str]
) -> None:
    mine = record(installed, *[("test.paged", f"item:{i}") for i in range(23)])
    total = mine[-1]
    with running(installed, auditor) as client:
        seen: list[dict[str, Any]] = []
        since, pages = 0, 0
        while True:
            body = ok_json(client.get("/api/v1/audit/events", params={"since": since, "limit": 5}))
            events = body["events"]
            assert all(e["seq"] > since for e in events)
            seen.extend(events)
            pages += 1
            assert pages <= total
            if body["next_since"] is None:
                assert len(events) < 5
                break
            assert len(events) == 5
            assert body["next_since"] == events[-1]["seq"]
            since = body["next_since"]
        default = ok_json(client.get("/api/v1/audit/events"))
        past_end = ok_json(client.get("/api/v1/audit/events", params={"since": MAX_SEQ}))

    # Paging reached the end although each page request itself added an event.
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    assert len(seen) > total
    for before, after in itertools.pairwise(seen):
        assert after["prev_hash"] == before["hash"]
    by_seq = {e["seq"]: e for e in seen}
    for i, seq in enumerate(mine):
        assert by_seq[seq]["action"] == "test.paged"
        assert by_seq[seq]["subject"] == f"item:{i}"
        assert by_seq[seq]["outcome"] == "success"
    # What came after the recorded events is the page requests, by the auditor's key.
    assert {(e["action"], e["subject"]) for e in seen[total:]} == {
        ("auth.authorized", "GET /api/v1/audit/events")
    }
    assert default["events"][: len(seen)] == seen  # limit defaults to 100 > the ledger
    assert default["next_since"] is None
    assert past_end == {"events": [], "next_since": None}


@pytest.mark.parametrize(
    "params",
    [
        {"since": "-1"},
        {"since": str(MAX_SEQ + 1)},
        {"since": "x"},
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "1.5"},
    ],
)
def test_events_bad_paging_is_a_400_problem(client: TestClient, params: dict[str, str]) -> None:
    body = assert_problem(client.get("/api/v1/audit/events", params=params), 400, "usage")
    assert next(iter(params)) in body["detail"]


def test_event_by_seq(installed: VallumSettings, auditor: dict[str, str]) -> None:
    (seq,) = record(installed, ("test.single", "thing:one"))
    with running(installed, auditor) as client:
        one = ok_json(client.get(f"/api/v1/audit/events/{seq}"))
        listed = ok_json(client.get("/api/v1/audit/events", params={"since": seq - 1, "limit": 1}))
        missing = client.get(f"/api/v1/audit/events/{seq + 1_000_000}")
        assert_problem(client.get("/api/v1/audit/events/0"), 400, "usage")
        assert_problem(client.get("/api/v1/audit/events/abc"), 400, "usage")
        assert_problem(client.get(f"/api/v1/audit/events/{MAX_SEQ + 1}"), 400, "usage")
    assert one == listed["events"][0]
    assert (one["seq"], one["action"], one["subject"]) == (seq, "test.single", "thing:one")
    body = assert_problem(missing, 404, "not_found")
    assert str(seq + 1_000_000) in body["detail"]


# -- verification, proofs, checkpoints -------------------------------------------


def test_verification_runs_once_and_is_shown_by_the_console(
    installed: VallumSettings, auditor: dict[str, str]
) -> None:
    total = record(installed, ("test.verify", "thing:a"), ("test.verify", "thing:b"))[-1]
    with running(installed.model_copy(update=QUIET_LEDGER), auditor, console=True) as client:
        assert badge(ok_html(client.get("/"))) == "ledger: verification pending"
        report = ok_json(client.get("/api/v1/audit/verification"))
        again = ok_json(client.get("/api/v1/audit/verification"))
        checkpoints = ok_json(client.get("/api/v1/audit/checkpoints"))["checkpoints"]
        dashboard = ok_html(client.get("/"))
        ledger = ok_html(client.get("/ledger"))
        after = ok_json(client.get("/api/v1/audit/events", params={"since": total}))["events"]

    assert report["ok"] is True
    assert report["problems"] == []
    # Everything up to the request that asked for it (its own auth.authorized event).
    assert report["events"] == report["verified_up_to"] > total
    assert report["checkpoints"] == len(checkpoints)
    assert report["last_checkpoint"] == checkpoints[-1]["tree_size"]
    assert report["checked_at"]
    assert again == report  # the latest report, not a new run per request
    # The verification itself is evidence, recorded once, right after what it verified.
    assert [(e["seq"], e["action"], e["outcome"]) for e in not_auth(after)] == [
        (report["events"] + 1, "audit.verified", "success")
    ]
    for page in (dashboard, ledger):
        assert badge(page) == f"ledger verified up to seq {report['verified_up_to']}"


def test_verification_reports_tampering_and_the_console_says_so(
    installed: VallumSettings, auditor: dict[str, str]
) -> None:
    forged = record(installed, *[("test.tamper", f"thing:{i}") for i in range(5)])[3]
    engine = make_engine(installed.sqlalchemy_url)
    try:
        tamper(engine, "UPDATE ledger_events SET subject = 'forged' WHERE seq = :seq", seq=forged)
    finally:
        engine.dispose()
    with running(installed, auditor, console=True) as client:
        report = ok_json(client.get("/api/v1/audit/verification"))
        page = ok_html(client.get("/"))
    assert report["ok"] is False
    assert report["problems"][0]["seq"] == forged
    assert report["verified_up_to"] < forged
    assert badge(page).startswith(f"ledger NOT intact: seq {forged} ")


def test_background_verification_feeds_the_badge(
    installed: VallumSettings, auditor: dict[str, str]
) -> None:
    total = record(installed, ("test.background", "thing:a"))[-1]
    with running(installed, auditor, console=True, background_verify=True) as client:
        deadline = time.monotonic() + 30
        shown = badge(ok_html(client.get("/")))
        while shown == "ledger: verification pending" and time.monotonic() < deadline:
            time.sleep(0.05)
            shown = badge(ok_html(client.get("/ledger")))
        report = ok_json(client.get("/api/v1/audit/verification"))
    # The run at startup (or one racing the sign-in's own events): what it verified is shown.
    assert shown == f"ledger verified up to seq {report['verified_up_to']}"
    assert report["verified_up_to"] >= total


def test_background_verification_survives_a_database_error(
    installed: VallumSettings, auditor: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The verifier thread must outlive a failing run, or the badge is never refreshed."""
    run_sql(installed, "DROP TABLE ledger_checkpoints")
    conf = installed.model_copy(update=QUIET_LEDGER)  # signing in must not need a checkpoint
    with running(
        conf, auditor, console=True, background_verify=True, raise_server_exceptions=False
    ) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            r.name == "vallum.app" and "verification" in r.getMessage() for r in caplog.records
        ):
            time.sleep(0.05)
        alive = [t for t in threading.enumerate() if t.name == "vallum-verify" and t.is_alive()]
        page = ok_html(client.get("/"))
    assert any(r.name == "vallum.app" for r in caplog.records), "the failure was not logged"
    assert len(alive) == 1
    assert badge(page) == "ledger: verification pending"


def test_inclusion_proofs_check_with_the_instance_key(
    installed: VallumSettings, auditor: dict[str, str]
) -> None:
    total = record(installed, *[("test.proof", f"thing:{i}") for i in range(23)])[-1]
    # No checkpoint may sneak in while the test runs (each request adds an event).
    conf = installed.model_copy(update=QUIET_LEDGER)
    with running(conf, auditor) as client:
        key = bytes.fromhex(ok_json(client.get("/api/v1/instance"))["public_key"])
        checkpoints = ok_json(client.get("/api/v1/audit/checkpoints"))["checkpoints"]
        events = ok_json(client.get("/api/v1/audit/events"))["events"]
        docs = {seq: ok_json(client.get(f"/api/v1/audit/proof/{seq}")) for seq in (1, 12, total)}
        ok_json(client.get("/api/v1/audit/verification"))  # records seq total + 1
        uncovered = client.get(f"/api/v1/audit/proof/{total + 1}")
        assert_problem(client.get("/api/v1/audit/proof/0"), 400, "usage")
        assert_problem(client.get(f"/api/v1/audit/proof/{MAX_SEQ + 1}"), 400, "usage")

    # Closing the ledger signed everything recorded before the app started.
    assert checkpoints[-1]["tree_size"] == total
    by_seq = {e["seq"]: e for e in events}
    for seq, doc in docs.items():
        proven = check_inclusion(doc, key)
        assert proven["seq"] == seq
        assert proven["subject"] == by_seq[seq]["subject"]
        assert proven["action"] == by_seq[seq]["action"]
        assert doc["checkpoint"] == checkpoints[-1]
        assert doc["public_key"] == key.hex()
    # The check is not vacuous: an altered entry or another key fails it.
    forged = {**docs[12], "entry": docs[12]["entry"].replace("thing:", "thinG:")}
    with pytest.raises(IntegrityError):
        check_inclusion(forged, key)
    with pytest.raises(IntegrityError):
        check_inclusion(docs[12], bytes(32))
    body = assert_problem(uncovered, 404, "not_found")
    assert "checkpoint" in body["detail"]


def test_checkpoints_are_signed_by_the_instance(
    installed: VallumSettings, auditor: dict[str, str]
) -> None:
    instance_id, public_key = identity(installed)
    record(installed, *[("test.checkpoint", f"thing:{i}") for i in range(25)])
    with running(installed, auditor) as client:
        checkpoints = ok_json(client.get("/api/v1/audit/checkpoints"))["checkpoints"]
    key = bytes.fromhex(public_key)
    sizes = [cp["tree_size"] for cp in checkpoints]
    assert len(sizes) >= 3
    assert sizes == sorted(set(sizes))
    for cp in checkpoints:
        assert cp["origin"] == instance_id
        assert cp["key_id"] == key_id_of(key)
        assert Checkpoint(**cp).verify(key)
        assert not Checkpoint(**{**cp, "tree_size": cp["tree_size"] + 1}).verify(key)


# -- console ---------------------------------------------------------------------


def test_dashboard(console: TestClient) -> None:
    page = ok_html(console.get("/"))
    for control in load_catalog():
        assert f'<span class="mono">{control.id}</span>' in page
    assert f"Vallum {__version__}" in page


def test_dashboard_framework_filter(console: TestClient) -> None:
    client = console
    page = ok_html(client.get("/", params={"framework": "hipaa"}))
    hipaa = {c.id for c in load_catalog().for_framework(Framework.HIPAA)}
    shown = set(re.findall(r'<td><span class="mono">([^<]+)</span>', page))
    assert shown == hipaa
    assert '<option value="hipaa" selected>' in page
    # An unknown framework (or the form's "all") shows everything.
    assert len(re.findall(r'<td><span class="mono">', ok_html(client.get("/?framework=")))) == len(
        load_catalog()
    )


def test_ledger_page_escapes_what_the_ledger_holds(
    installed: VallumSettings, auditor: dict[str, str]
) -> None:
    (seq,) = record(installed, ("test.xss", f"user:{XSS}"))
    with running(installed, auditor, console=True) as client:
        page = ok_html(client.get("/ledger"))
    assert XSS not in page
    assert "<script" not in page.lower()
    assert f"user:{html.escape(XSS)}" in page  # the event is shown, escaped
    assert seq in page_seqs(page)


def test_ledger_page_pages_through_the_ledger(
    installed: VallumSettings, auditor: dict[str, str]
) -> None:
    total = record(installed, *[("test.page", f"thing:{i}") for i in range(70)])[-1]
    with running(installed, auditor, console=True) as client:
        newest = ok_html(client.get("/ledger"))
        last = shown_total(newest)  # the events recorded above, then signing in and this page
        older_link = re.search(r'href="/ledger\?before=(\d+)">older', newest)
        assert older_link is not None
        older = ok_html(client.get(f"/ledger?before={older_link.group(1)}"))
        assert "newer</a>" in older
        assert_problem(client.get("/ledger?before=0"), 400, "usage")
        assert_problem(client.get("/ledger?before=x"), 400, "usage")
        assert_problem(client.get(f"/ledger?before={MAX_SEQ + 1}"), 400, "usage")
    assert total < last < 100
    assert page_seqs(newest) == list(range(last, last - 50, -1))
    assert page_seqs(older) == list(range(last - 50, 0, -1))
    assert "older &rarr;" not in older


def test_ledger_page_window_for_any_before(
    installed: VallumSettings, auditor: dict[str, str]
) -> None:
    total = record(installed, *[("test.window", f"thing:{i}") for i in range(60)])[-1]

    with running(installed, auditor, console=True) as client:
        shown = [total]

        @hypothesis_settings(
            max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        )
        @given(before=st.integers(min_value=1, max_value=MAX_SEQ))
        def check(before: int) -> None:
            page = ok_html(client.get(f"/ledger?before={before}"))
            # Each request records its own authorization first, so the ledger grows
            # by exactly one event per page.
            last = shown_total(page)
            assert last == shown[-1] + 1 or shown == [total]
            shown.append(last)
            top = min(before - 1, last)
            expected = list(range(top, max(0, top - 50), -1))
            assert page_seqs(page) == expected

        check()
        # The edges, whatever hypothesis picked.
        assert page_seqs(ok_html(client.get("/ledger?before=1"))) == []
        assert page_seqs(ok_html(client.get("/ledger?before=2"))) == [1]


def test_static_stylesheet(client: TestClient) -> None:
    css = client.get("/static/vallum.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert_problem(client.get("/static/nope.css"), 404, "not_found")
    assert_problem(client.get("/static/%2e%2e/pages.py"), 404, "not_found")


# -- OpenAPI and its UIs ---------------------------------------------------------


def test_openapi_document_describes_the_errors_really_sent(client: TestClient) -> None:
    doc = ok_json(client.get("/openapi.json"))
    assert doc["info"]["version"] == __version__
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)  # invalid input is a 400 problem
            if operation.get("parameters"):
                assert "400" in responses, (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    assert set(response["content"]) == {PROBLEM}, (method, path, status)
                    schema = response["content"][PROBLEM]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}


def test_no_cdn_docs_pages(client: TestClient) -> None:
    """Swagger UI and ReDoc load JavaScript from a CDN: not served by Vallum."""
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path


# -- errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nope", "/api/v1/nope", "/api/v2/instance", "/api/v1/audit/events/1/extra"]
)
def test_unknown_route_is_a_404_problem(client: TestClient, path: str) -> None:
    assert_problem(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/healthz"),
        ("PUT", "/api/v1/controls"),
        ("DELETE", "/api/v1/audit/events/1"),
        ("PATCH", "/api/v1/audit/proof/1"),
        ("POST", "/ledger"),
        ("POST", "/"),
    ],
)
def test_wrong_method_is_a_405_problem(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert_problem(response, 405, "usage.method")
    assert "GET" in response.headers["allow"]  # RFC 9110: a 405 says what is allowed


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/audit/events?since=%00",
        "/api/v1/audit/events?since=1e3",
        "/api/v1/audit/events?since=%D9%A1",  # ARABIC-INDIC DIGIT ONE
        "/api/v1/audit/events?limit=" + "9" * 5000,
        "/api/v1/audit/events/%F0%9F%92%A5",
        "/api/v1/audit/proof/-1",
        "/api/v1/controls?framework=%3Cscript%3E",
        "/api/v1/controls?framework=" + "x" * 10_000,
        "/ledger?before=" + "1" * 5000,
        "/ledger?before=%00",
        "/%2e%2e/%2e%2e/etc/passwd",
    ],
)
def test_hostile_input_gets_a_clean_4xx(
    installed: VallumSettings, auditor: dict[str, str], url: str
) -> None:
    # Console pages need the session: signed out, they redirect before reading input.
    with running(installed, auditor, console=not url.startswith("/api/")) as client:
        response = client.get(url)
    assert 400 <= response.status_code < 500, response.text
    body = assert_problem(response, response.status_code, response.json()["code"])
    assert "<script>" not in body["detail"]
    assert len(response.content) < 2000  # the input is not echoed back


# -- every route is tested -------------------------------------------------------

#: Every (method, path) the app serves, and the test above that requests it.
ROUTE_TESTS: dict[tuple[str, str], Callable[..., None]] = {
    ("GET", "/healthz"): test_healthz,
    ("GET", "/readyz"): test_readyz_with_a_real_redis,
    ("GET", "/api/v1/instance"): test_instance,
    ("GET", "/api/v1/controls"): test_controls_filtered_by_framework,
    ("GET", "/api/v1/audit/events"): test_events_page_with_since_limit_and_next_since,
    ("GET", "/api/v1/audit/events/{seq}"): test_event_by_seq,
    ("GET", "/api/v1/audit/verification"): test_verification_runs_once_and_is_shown_by_the_console,
    ("GET", "/api/v1/audit/proof/{seq}"): test_inclusion_proofs_check_with_the_instance_key,
    ("GET", "/api/v1/audit/checkpoints"): test_checkpoints_are_signed_by_the_instance,
    ("GET", "/"): test_dashboard,
    ("GET", "/ledger"): test_ledger_page_pages_through_the_ledger,
    ("GET", "/openapi.json"): test_openapi_document_describes_the_errors_really_sent,
}
#: The sign-in pages, and the test of ``test_login_flow`` that requests each.
SIGN_IN_TESTS: dict[tuple[str, str], str] = {
    ("GET", "/login"): "test_first_login_of_admin",
    ("POST", "/login"): "test_first_login_of_admin",
    ("GET", "/account/password"): "test_first_login_of_admin",
    ("POST", "/account/password"): "test_first_login_of_admin",
    ("GET", "/account/mfa"): "test_first_login_of_admin",
    ("POST", "/account/mfa"): "test_first_login_of_admin",
    ("GET", "/login/mfa"): "test_first_login_of_admin",
    ("POST", "/login/mfa"): "test_first_login_of_admin",
    ("POST", "/logout"): "test_first_login_of_admin",
}
#: Mounted static apps (tested by test_static_stylesheet).
STATIC_MOUNTS = {"/static"}


def _served(app: Any) -> tuple[set[tuple[str, str]], set[str]]:
    """(method, path) of every route, and the paths of mounts, from ``app.routes``."""
    try:  # FastAPI >= 0.13x keeps included routers as one entry; expand them.
        from fastapi.routing import iter_route_contexts

        routes: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # pragma: no cover - older FastAPI lists every route
        routes = list(app.routes)
    served: set[tuple[str, str]] = set()
    mounts: set[str] = set()
    for route in routes:
        methods = getattr(route, "methods", None)
        if methods is None:
            mounts.add(route.path)
            continue
        served.update((m, route.path) for m in methods if m != "HEAD")
    return served, mounts


def test_every_route_is_tested(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "data"), background_verify=False)
    served, mounts = _served(app)
    assert mounts == STATIC_MOUNTS
    flow = importlib.import_module("tests.integration.api.test_login_flow")
    for route, name in SIGN_IN_TESTS.items():
        assert callable(getattr(flow, name, None)), f"{route}: test_login_flow has no {name}"
    # The administration pages are tested by tests/integration/console, which lists them.
    admin_pages = importlib.import_module("tests.integration.console.test_admin_guards").ROUTES
    listed = set(ROUTE_TESTS) | set(SIGN_IN_TESTS) | set(admin_pages)
    assert served == listed, (
        f"untested routes: {sorted(served - listed)}; listed but gone: {sorted(listed - served)}"
    )
