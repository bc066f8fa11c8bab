"""`vallum vendors` and `vallum routes`: register, list, split, suspend; secrets stay hidden."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.integration.cli.conftest import run


def test_vendors_and_routes_from_the_command_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = ["--data-dir", str(data_dir)]
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-very-secret-42\n"))
    code, out, _ = run(
        capsys,
        *d,
        "vendors",
        "add",
        "openai",
        "--kind",
        "openai",
        "--base-url",
        "https://api.openai.com/v1",
        "--baa",
        "yes",
        "--region",
        "us",
        "--credential-stdin",
        "--format",
        "json",
    )
    assert code == 0
    assert json.loads(out)["credential"] == "stored (encrypted)"
    code, out, _ = run(
        capsys,
        *d,
        "vendors",
        "add",
        "claude",
        "--kind",
        "anthropic",
        "--base-url",
        "https://api.anthropic.com",
        "--baa",
        "no",
        "--region",
        "eu",
        "--credential-env",
        "ANTHROPIC_API_KEY",
    )
    assert code == 0
    code, out, _ = run(capsys, *d, "vendors", "list", "--format", "json")
    vendors = {v["name"]: v for v in json.loads(out)["vendors"]}
    assert vendors["openai"]["data_classes"] == ["phi", "pii", "public"]
    assert vendors["claude"]["credential"] == "env:ANTHROPIC_API_KEY"
    code, out, _ = run(
        capsys,
        *d,
        "routes",
        "add",
        "gpt",
        "--target",
        "openai/gpt-4o=90",
        "--target",
        "openai/gpt-4.1=10",
        "--guard",
        "phi=block",
        "--rpm",
        "60",
        "--format",
        "json",
    )
    assert code == 0
    route = json.loads(out)
    assert route["policy"]["phi"] == "block" and route["requests_per_minute"] == 60
    code, out, _ = run(
        capsys,
        *d,
        "routes",
        "set-weights",
        "gpt",
        "openai/gpt-4o=50",
        "openai/gpt-4.1=50",
        "--format",
        "json",
    )
    assert [t["weight"] for t in json.loads(out)["targets"]] == [50, 50]
    code, _, err = run(capsys, *d, "routes", "set-weights", "gpt", "nope/x=1")
    assert code == 2 and "no target" in err
    code, _, err = run(capsys, *d, "routes", "add", "bad", "--vendor", "ghost", "--model", "m")
    assert code == 2 and "no vendor" in err
    code, out, _ = run(capsys, *d, "vendors", "suspend", "openai", "--reason", "incident")
    assert code == 0 and "suspended" in out
    code, out, _ = run(capsys, *d, "routes", "list")
    assert code == 0 and "gpt" in out
    code, out, _ = run(capsys, *d, "audit", "export")
    assert code == 0
    assert "vendors.registered" in out and "routes.configured" in out
    assert "sk-very-secret-42" not in out
    assert b"sk-very-secret-42" not in (data_dir / "vallum.db").read_bytes()
