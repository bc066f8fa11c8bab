"""The vallum CLI end to end, in-process through main(argv) and as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from tests.helpers import tamper
from tests.integration.cli.conftest import run
from vallum.cli.app import cli
from vallum.config import load_settings
from vallum.governance.catalog import ControlKind, load_catalog
from vallum.store.engine import make_engine


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, (*prefix, name)))
    return out


@pytest.mark.parametrize("path", [(), *_commands(cli)], ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], path: tuple[str, ...]) -> None:
    code, out, _ = run(capsys, *path, "--help")
    assert code == 0
    assert "Usage:" in out
    assert len(out.splitlines()) > 3


def test_init_prints_one_time_admin_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "d"
    code, out, _ = run(capsys, "--data-dir", str(d), "init")
    assert code == 0
    assert "username: admin" in out
    password = next(line.split(": ", 1)[1] for line in out.splitlines() if "password:" in line)
    assert len(password) >= 20
    code, out, _ = run(capsys, "--data-dir", str(d), "init")
    assert code == 0
    assert "password" not in out
    # The password is stored only as an argon2id hash.
    raw = (d / "vallum.db").read_bytes() + b"".join(p.read_bytes() for p in d.glob("vallum.db-*"))
    assert password.encode() not in raw
    assert b"$argon2id$" in raw


def test_commands_refuse_an_uninitialised_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--data-dir", str(tmp_path / "none"), "audit", "verify")
    assert code == 2
    assert out == ""
    assert "vallum init" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_up_refuses_unmigrated_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "d"
    run(capsys, "--data-dir", str(d), "init")
    # Drop the schema version: the database now looks unmigrated.
    engine = make_engine(load_settings(data_dir=d).sqlalchemy_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    engine.dispose()
    code, _, err = run(capsys, "--data-dir", str(d), "up", "--port", "8699")
    assert code == 2
    assert "not been initialised" in err
    assert "vallum init" in err


def test_up_checks_tls_arguments(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not really")
    code, _, err = run(capsys, "--data-dir", str(data_dir), "up", "--tls-cert", str(cert))
    assert code == 2
    assert "both --tls-cert and --tls-key" in err
    code, _, err = run(
        capsys,
        "--data-dir",
        str(data_dir),
        "up",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(tmp_path / "missing.pem"),
    )
    assert code == 2
    assert "does not exist" in err


def test_audit_verify_exit_codes(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "audit", "verify")
    assert code == 0
    assert "intact" in out
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "audit", "verify", "--format", "json")
    assert code == 0
    assert json.loads(out)["ok"] is True
    engine = make_engine(load_settings(data_dir=data_dir).sqlalchemy_url)
    tamper(engine, "UPDATE ledger_events SET subject = 'user:evil' WHERE seq = 2")
    engine.dispose()
    code, out, err = run(capsys, "--data-dir", str(data_dir), "audit", "verify")
    assert code == 1
    assert "first bad seq 2" in err


def test_audit_verify_with_pinned_wrong_key_fails(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "--data-dir", str(data_dir), "audit", "verify", "--public-key", "11" * 32
    )
    assert code == 1
    assert "signature" in err
    code, _, err = run(capsys, "--data-dir", str(data_dir), "audit", "verify", "--public-key", "zz")
    assert code == 2


@pytest.mark.parametrize("fmt", ["jsonl", "ocsf", "cef"])
def test_audit_export(data_dir: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "audit", "export", "--format", fmt)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) >= 2
    if fmt == "cef":
        assert all(line.startswith("CEF:0|Vallum|Vallum|") for line in lines)
    else:
        assert all(isinstance(json.loads(line), dict) for line in lines)
    code, out, _ = run(
        capsys, "--data-dir", str(data_dir), "audit", "export", "--format", fmt, "--since", "1"
    )
    assert code == 0
    assert len(out.splitlines()) >= 1


def test_audit_export_to_file_is_written_only_on_success(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.jsonl"
    code, out, _ = run(
        capsys, "--data-dir", str(data_dir), "audit", "export", "--output", str(target)
    )
    assert code == 0
    assert out == ""
    events = [json.loads(line) for line in target.read_text().splitlines()]
    assert events[0]["seq"] == 1
    assert not list(tmp_path.glob("*.partial"))


def test_audit_proof_and_offline_check(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "--data-dir", str(data_dir), "audit", "checkpoint")
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "audit", "proof", "1")
    assert code == 0
    proof = json.loads(out)
    path = tmp_path / "proof.json"
    path.write_text(out)
    key = proof["public_key"]
    code, out, _ = run(capsys, "audit", "check-proof", str(path), "--public-key", key)
    assert code == 0
    assert "included: seq 1" in out
    proof["entry"] = proof["entry"].replace("system.initialized", "system.tampered")
    path.write_text(json.dumps(proof))
    code, _, err = run(capsys, "audit", "check-proof", str(path), "--public-key", key)
    assert code == 1
    assert "does NOT verify" in err


def test_audit_consistency(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "--data-dir", str(data_dir), "audit", "checkpoint")
    first = json.loads(run(capsys, "--data-dir", str(data_dir), "audit", "proof", "1")[1])
    first_size = first["tree_size"]
    run(capsys, "--data-dir", str(data_dir), "audit", "verify")  # adds an event
    run(capsys, "--data-dir", str(data_dir), "audit", "checkpoint")
    second = json.loads(run(capsys, "--data-dir", str(data_dir), "audit", "proof", "1")[1])
    code, out, _ = run(
        capsys,
        "--data-dir",
        str(data_dir),
        "audit",
        "consistency",
        str(first_size),
        str(second["tree_size"]),
    )
    assert code == 0
    path = tmp_path / "c.json"
    path.write_text(out)
    code, out, _ = run(
        capsys, "audit", "check-proof", str(path), "--public-key", first["public_key"]
    )
    assert code == 0
    assert "consistent" in out


def test_audit_proof_of_missing_event(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--data-dir", str(data_dir), "audit", "proof", "999")
    assert code == 2
    assert "999" in err


def test_audit_tail(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "audit", "tail", "--format", "json")
    assert code == 0
    actions = [json.loads(line)["action"] for line in out.splitlines()]
    assert actions[0] == "system.initialized"
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "audit", "tail", "-n", "1")
    assert code == 0
    assert "users.created" in out


def test_controls_and_attest(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "controls", "--format", "json")
    assert code == 0
    controls = json.loads(out)["controls"]
    assert len(controls) == len(load_catalog())
    attested = next(c for c in load_catalog() if c.kind is ControlKind.ATTESTED)
    code, out, _ = run(
        capsys,
        "--data-dir",
        str(data_dir),
        "controls",
        "attest",
        attested.id,
        "--statement",
        "Quarterly tabletop held 2026-11-01",
        "--expires",
        "90d",
    )
    assert code == 0
    assert "ledger seq" in out
    code, out, _ = run(
        capsys, "--data-dir", str(data_dir), "controls", "--format", "json", "--framework", "soc2"
    )
    got = {c["id"]: c for c in json.loads(out)["controls"]}
    if attested.id in got:
        assert got[attested.id]["status"] == "pass"
    code, _, err = run(
        capsys,
        "--data-dir",
        str(data_dir),
        "controls",
        "attest",
        attested.id,
        "--statement",
        "x",
        "--expires",
        "soon",
    )
    assert code == 2
    assert "duration" in err
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "controls")
    assert code == 0
    assert attested.id in out


def test_keys_rotate_and_shred(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "keys", "rotate", "--format", "json")
    assert code == 0
    result = json.loads(out)
    assert result["rewrapped"] >= 1
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "audit", "verify")
    assert code == 0  # the signing key still unseals after rotation
    code, _, err = run(
        capsys, "--data-dir", str(data_dir), "keys", "shred", "nope", "--reason", "t", "--yes"
    )
    assert code == 2
    assert "does not exist" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "audit", "export", "--format", "xml")
    assert code == 2
    assert "xml" in err
    code, _, _ = run(capsys, "no-such-command")
    assert code == 2


def test_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vallum.toml").write_text("port = 'many'\n")
    code, _, err = run(capsys, "--data-dir", str(tmp_path / "d"), "init")
    assert code == 2
    assert err.count("\n") == 1
    assert "port" in err


def test_debug_shows_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--debug", "--data-dir", str(tmp_path / "none"), "audit", "tail")
    assert code == 2
    assert "Traceback" in err


def test_python_dash_m_and_console_script(tmp_path: Path) -> None:
    env = {**os.environ, "VALLUM_DATA_DIR": str(tmp_path / "d")}
    out = subprocess.run(
        [sys.executable, "-m", "vallum", "--version"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "vallum" in out.stdout
    script = Path(sys.executable).parent / "vallum"
    done = subprocess.run(
        [str(script), "init", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created_instance"] is True


def test_keys_list_and_shred_refuses_the_signing_key(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "keys", "data-keys", "--format", "json")
    assert code == 0
    keys = json.loads(out)["keys"]
    signing = next(k for k in keys if k["purpose"] == "sealed:ledger.signing_key")
    assert set(signing) == {"id", "purpose", "master_key_id", "created_at", "destroyed_at"}
    code, _, err = run(
        capsys,
        "--data-dir",
        str(data_dir),
        "keys",
        "shred",
        signing["id"],
        "--reason",
        "t",
        "--yes",
    )
    assert code == 2
    assert "unusable" in err
    code, _, _ = run(capsys, "--data-dir", str(data_dir), "audit", "verify")
    assert code == 0


def test_check_proof_rejects_odd_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for doc in ('{"type": 5}', "[]", "{", '{"type": "vallum.consistency/v1"}'):
        path = tmp_path / "p.json"
        path.write_text(doc)
        code, _, err = run(capsys, "audit", "check-proof", str(path), "--public-key", "11" * 32)
        assert code in (1, 2), (doc, err)
        assert "internal error" not in err


def test_controls_exit_1_when_a_control_fails(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vallum.context import open_context
    from vallum.governance.catalog import Evaluator

    control = next(
        c
        for c in load_catalog()
        if c.evidence is not None and c.evidence.evaluator is Evaluator.LATEST_OUTCOME
    )
    assert control.evidence is not None
    ctx = open_context(load_settings(data_dir=data_dir))
    try:
        ctx.record(control.evidence.actions[0], "x:1", outcome="failure")
    finally:
        ctx.close()
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "controls", "--format", "json")
    assert code == 1
    status = {c["id"]: c["status"] for c in json.loads(out)["controls"]}
    assert status[control.id] == "fail"


def test_verify_no_record_leaves_the_ledger_alone(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = run(capsys, "--data-dir", str(data_dir), "audit", "tail", "--format", "json")[1]
    code, _, _ = run(capsys, "--data-dir", str(data_dir), "audit", "verify", "--no-record")
    assert code == 0
    after = run(capsys, "--data-dir", str(data_dir), "audit", "tail", "--format", "json")[1]
    assert before == after


def test_audit_instance(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "audit", "instance", "--format", "json")
    assert code == 0
    info = json.loads(out)
    assert len(bytes.fromhex(info["public_key"])) == 32
