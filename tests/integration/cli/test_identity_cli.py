"""API keys, users and roles through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.cli.conftest import run
from vallum.config import load_settings
from vallum.context import open_context
from vallum.identity import apikeys


def test_users_roles_and_keys(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dd = ["--data-dir", str(data_dir)]
    code, out, _ = run(capsys, *dd, "roles", "list", "--format", "json")
    assert code == 0
    names = {r["name"] for r in json.loads(out)["roles"]}
    assert {"admin", "security", "ml-engineer", "app-developer", "auditor"} <= names
    code, _, _ = run(
        capsys,
        *dd,
        "roles",
        "create",
        "viewer",
        "--permission",
        "ledger.read",
        "--permission",
        "controls.read",
    )
    assert code == 0
    code, _, err = run(capsys, *dd, "roles", "create", "bad", "--permission", "nope.never")
    assert code == 2
    assert "unknown permission" in err
    code, out, _ = run(
        capsys,
        *dd,
        "users",
        "create",
        "triage-svc",
        "--service",
        "--role",
        "app-developer",
        "--format",
        "json",
    )
    assert code == 0
    assert json.loads(out)["one_time_password"] is None
    code, out, _ = run(capsys, *dd, "users", "create", "alice", "--role", "viewer")
    assert code == 0
    password = out.strip().splitlines()[-1]
    assert len(password) >= 20
    code, out, _ = run(
        capsys,
        *dd,
        "keys",
        "create",
        "--name",
        "triage-app",
        "--owner",
        "triage-svc",
        "--scope",
        "gateway.use",
        "--expires",
        "30d",
        "--format",
        "json",
    )
    assert code == 0
    created = json.loads(out)
    secret = created["key"]
    assert secret.startswith(f"vk_{created['id']}_")
    code, out, _ = run(capsys, *dd, "keys", "list", "--format", "json")
    listed = json.loads(out)
    assert secret not in out
    assert [k["id"] for k in listed["keys"]] == [created["id"]]
    # A scope the owner lacks is refused.
    code, _, err = run(
        capsys,
        *dd,
        "keys",
        "create",
        "--name",
        "x",
        "--owner",
        "triage-svc",
        "--scope",
        "users.manage",
    )
    assert code == 2
    assert "does not hold" in err
    # Rotation prints a new key; the old one still works during the overlap.
    code, out, _ = run(
        capsys, *dd, "keys", "rotate-key", created["id"], "--overlap", "1h", "--format", "json"
    )
    assert code == 0
    rotated = json.loads(out)
    ctx = open_context(load_settings(data_dir=data_dir))
    try:
        assert apikeys.authenticate(ctx.directory, secret).key_id == created["id"]
        assert apikeys.authenticate(ctx.directory, rotated["key"]).key_id == rotated["id"]
    finally:
        ctx.close()
    code, _, _ = run(capsys, *dd, "keys", "revoke", rotated["id"], "--reason", "test")
    assert code == 0
    code, out, _ = run(capsys, *dd, "keys", "list", "--all", "--format", "json")
    status = {k["id"]: k["status"] for k in json.loads(out)["keys"]}
    assert status[rotated["id"]] == "revoked"
    code, out, _ = run(capsys, *dd, "users", "grants", "--format", "json")
    grants = json.loads(out)["grants"]
    alice = next(g for g in grants if g["principal"] == "user:alice")
    code, _, _ = run(capsys, *dd, "users", "revoke", str(alice["id"]), "--reason", "left")
    assert code == 0
    code, out, _ = run(capsys, *dd, "users", "list", "--format", "json")
    by_name = {u["username"]: u for u in json.loads(out)["users"]}
    assert by_name["alice"]["roles"] == []
    assert by_name["admin"]["roles"] == ["admin"]
    code, out, _ = run(capsys, *dd, "audit", "tail", "-n", "50", "--format", "json")
    actions = [json.loads(line)["action"] for line in out.splitlines()]
    for action in ("apikeys.created", "apikeys.rotated", "apikeys.revoked", "access.revoked"):
        assert action in actions
    assert secret not in out
    assert password not in out
