"""``vallum access`` and ``vallum reviews`` end to end through main(argv), SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from vallum.cli import main
from vallum.config import VallumSettings
from vallum.context import initialise, open_context
from vallum.errors import AuthError
from vallum.identity import apikeys
from vallum.identity.accounts import create_service_account, create_user
from vallum.identity.directory import load_account
from vallum.store.models import LedgerEvent

REASON = "incident INC-42 needs a model rollback"


class Cli:
    def __init__(self, settings: VallumSettings, capsys: pytest.CaptureFixture[str]) -> None:
        self.settings = settings
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(self.settings.data_dir), *argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str) -> Any:
        code, out, err = self(*argv, "--format", "json")
        assert code == 0, err
        return json.loads(out)

    def events(self, action: str) -> list[dict[str, Any]]:
        ctx = open_context(self.settings)
        try:
            with ctx.engine.connect() as conn:
                rows = conn.execute(
                    select(LedgerEvent)
                    .where(LedgerEvent.action == action)
                    .order_by(LedgerEvent.seq)
                )
                return [
                    {"actor": r.actor, "subject": r.subject, "outcome": r.outcome}
                    | json.loads(r.data)
                    for r in rows
                ]
        finally:
            ctx.close()

    def permissions(self, username: str) -> frozenset[str]:
        ctx = open_context(self.settings)
        try:
            return frozenset(load_account(ctx.directory, username=username).permissions)
        finally:
            ctx.close()


@pytest.fixture
def cli(
    settings: VallumSettings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """An installation with alice (ml-engineer), bob (security), carol (auditor)."""
    initialise(settings)
    if settings.database_url is not None:
        monkeypatch.setenv("VALLUM_DATABASE_URL", settings.database_url.get_secret_value())
    ctx = open_context(settings)
    try:
        for name, role in (("alice", "ml-engineer"), ("bob", "security"), ("carol", "auditor")):
            create_user(ctx.directory, "user:admin", name, [role])
    finally:
        ctx.close()
    capsys.readouterr()
    return Cli(settings, capsys)


def test_request_approve_list_and_expire(cli: Cli) -> None:
    req = cli.json(
        "access", "request", "app-developer", "--for", "2h", "--reason", REASON, "--as", "alice"
    )
    assert (req["principal"], req["role"], req["status"]) == (
        "user:alice",
        "app-developer",
        "pending",
    )
    assert req["duration_seconds"] == 7200
    rid = str(req["id"])
    assert "keys.create" not in cli.permissions("alice")

    code, _, err = cli("access", "approve", rid, "--as", "alice")
    assert code == 1
    assert "four eyes" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = cli("access", "approve", rid, "--as", "carol")
    assert code == 1
    assert "access.approve" in err
    code, out, _ = cli("access", "approve", rid, "--as", "bob")
    assert code == 0
    assert f"request {rid} approved" in out
    assert "keys.create" in cli.permissions("alice")

    (listed,) = cli.json("access", "list", "--status", "approved")["requests"]
    assert (listed["id"], listed["decided_by"]) == (req["id"], "user:bob")
    code, out, _ = cli("access", "list")
    assert code == 0
    assert "user:alice" in out
    assert "app-developer" in out

    ctx = open_context(cli.settings)
    try:
        with ctx.engine.begin() as conn:
            conn.execute(
                text("UPDATE role_grants SET expires_at = :t WHERE id = :g"),
                {"t": "2000-01-01T00:00:00.000000Z", "g": listed["grant_id"]},
            )
    finally:
        ctx.close()
    assert "keys.create" not in cli.permissions("alice")
    assert cli.json("access", "expire") == {"expired": [req["id"]]}
    assert cli.json("access", "expire") == {"expired": []}
    assert cli.json("access", "list")["requests"][0]["status"] == "expired"

    (elevated,) = cli.events("access.elevated")
    assert elevated["actor"] == "user:bob"
    assert elevated["via"].startswith("cli:")
    (expired,) = cli.events("access.expired")
    assert expired["actor"].startswith("cli:")
    assert [e["attempt"] for e in cli.events("access.refused")] == ["approve", "approve"]


def test_deny_and_bad_input(cli: Cli) -> None:
    code, _, err = cli(
        "access", "request", "auditor", "--for", "9h", "--reason", REASON, "--as", "alice"
    )
    assert code == 2
    assert "duration" in err
    code, _, err = cli(
        "access", "request", "auditor", "--for", "soon", "--reason", REASON, "--as", "alice"
    )
    assert code == 2
    assert "is not a duration" in err
    code, _, err = cli(
        "access", "request", "auditor", "--for", "1h", "--reason", "short", "--as", "alice"
    )
    assert code == 2
    assert "reason" in err
    code, _, err = cli(
        "access", "request", "auditor", "--for", "1h", "--reason", REASON, "--as", "nobody"
    )
    assert code == 2
    assert "no principal" in err
    code, _, err = cli("access", "request", "auditor", "--for", "1h", "--reason", REASON)
    assert code == 2
    assert "--as" in err
    code, out, _ = cli(
        "access", "request", "auditor", "--for", "1h", "--reason", REASON, "--as", "alice"
    )
    assert code == 0
    rid = out.split()[1].rstrip(":")
    code, out, _ = cli(
        "access", "deny", rid, "--reason", "auditors rotate next week", "--as", "bob"
    )
    assert (code, out.strip()) == (0, f"request {rid} denied")
    assert cli.json("access", "list", "--status", "denied")["requests"][0]["id"] == int(rid)
    (denied,) = cli.events("access.denied")
    assert (denied["outcome"], denied["reason"]) == ("denied", "auditors rotate next week")
    code, _, err = cli("access", "approve", "999", "--as", "bob")
    assert code == 2
    assert "no access request 999" in err


def test_break_glass_alerts_and_is_reviewed(cli: Cli) -> None:
    code, _, err = cli(
        "access", "break-glass", "admin", "--for", "1h", "--reason", REASON, "--as", "alice"
    )
    assert code == 1
    assert "access.break_glass" in err
    code, _, err = cli(
        "access", "break-glass", "admin", "--for", "5h", "--reason", REASON, "--as", "bob"
    )
    assert code == 2
    code, out, err = cli(
        "access", "break-glass", "admin", "--for", "1h", "--reason", REASON, "--as", "bob"
    )
    assert code == 0
    assert "ALERT" in err
    rid = out.split()[1].rstrip(":")
    assert "users.manage" in cli.permissions("bob")
    (alert,) = cli.events("access.break_glass")
    assert (alert["alert"], alert["actor"], alert["request"]) == (True, "user:bob", int(rid))

    (due,) = cli.json("access", "list", "--review-due")["requests"]
    assert due["id"] == int(rid)
    code, _, err = cli("access", "review", rid, "--notes", "looks fine to me", "--as", "bob")
    assert code == 1
    assert "four eyes" in err
    code, _, _ = cli("access", "review", rid, "--notes", "rollback was justified", "--as", "admin")
    assert code == 0
    assert cli.json("access", "list", "--review-due")["requests"] == []
    (reviewed,) = cli.events("access.break_glass_reviewed")
    assert reviewed["actor"] == "user:admin"


def test_review_campaign_end_to_end(cli: Cli) -> None:
    ctx = open_context(cli.settings)
    try:
        create_service_account(ctx.directory, "user:admin", "pipeline", ["ml-engineer"])
        key = apikeys.create_key(
            ctx.directory,
            "user:admin",
            name="ci",
            owner="pipeline",
            scopes=["models.scan"],
            expires_in=dt.timedelta(days=30),
        )
    finally:
        ctx.close()

    started = cli.json("reviews", "start", "Q4 review", "--deadline", "14d")
    cid = str(started["id"])
    assert started["counts"]["total"] == 6  # admin, alice, bob, carol, pipeline grants; one key
    items = {(i["principal"], i["subject_kind"]): i["id"] for i in started["items"]}
    assert ("service:pipeline", "apikey") in items
    code, out, _ = cli("reviews", "list")
    assert code == 0
    assert "Q4 review" in out
    assert cli.json("reviews", "list")["campaigns"][0]["counts"]["pending"] == 6

    alice = str(items[("user:alice", "grant")])
    code, _, err = cli("reviews", "certify", alice, "--as", "alice")
    assert code == 1
    assert "your own" in err
    code, _, err = cli("reviews", "certify", alice, "--as", "carol")
    assert code == 1
    assert "reviews.certify" in err
    code, _, _ = cli("reviews", "certify", alice, "--as", "bob")
    assert code == 0
    code, _, err = cli("reviews", "revoke", str(items[("user:carol", "grant")]), "--as", "bob")
    assert code == 2
    assert "--reason" in err
    code, out, _ = cli(
        "reviews",
        "revoke",
        str(items[("user:carol", "grant")]),
        "--reason",
        "audit seat ended",
        "--as",
        "bob",
    )
    assert code == 0
    assert cli.permissions("carol") == frozenset()
    code, _, _ = cli(
        "reviews",
        "revoke",
        str(items[("service:pipeline", "apikey")]),
        "--reason",
        "CI retired now",
        "--as",
        "admin",
    )
    assert code == 0
    ctx = open_context(cli.settings)
    try:
        with pytest.raises(AuthError):
            apikeys.authenticate(ctx.directory, key.secret)
    finally:
        ctx.close()

    code, out, _ = cli("reviews", "show", cid, "--pending")
    assert code == 0
    assert "user:admin" in out
    shown = cli.json("reviews", "show", cid)
    assert shown["counts"] == {
        "pending": 3,
        "certified": 1,
        "revoked": 2,
        "unreviewed": 0,
        "total": 6,
    }

    code, out, err = cli("reviews", "close", cid, "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert len(report["unreviewed"]) == 3
    assert "3 item(s) were not reviewed" in err
    (closed,) = cli.events("reviews.closed")
    assert sorted(closed["unreviewed"]) == sorted(report["unreviewed"])
    assert closed["outcome"] == "failure"
    code, _, err = cli("reviews", "close", cid)
    assert code == 2
    assert "already closed" in err
    reviewed = cli.events("access.reviewed")
    assert [(e["decision"], e["actor"]) for e in reviewed] == [
        ("certified", "user:bob"),
        ("revoked", "user:bob"),
        ("revoked", "user:admin"),
    ]
    assert all(e["via"].startswith("cli:") for e in reviewed)
    assert key.secret not in json.dumps(reviewed)


@pytest.mark.parametrize(
    "path",
    [
        ("access",),
        ("access", "request"),
        ("access", "break-glass"),
        ("reviews",),
        ("reviews", "certify"),
    ],
)
def test_help_explains_as(cli: Cli, path: tuple[str, ...]) -> None:
    code, out, _ = cli(*path, "--help")
    assert code == 0
    assert "--as" in out
    assert "operator" in out


def test_help_without_an_installation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path / "none"), "access", "list", "--help"]) == 0
    assert "--review-due" in capsys.readouterr().out
