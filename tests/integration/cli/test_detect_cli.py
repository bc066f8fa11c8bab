"""vallum detect phi|secrets, redact, tokenize, detokenize from the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.integration.cli.conftest import run

NOTE = "Patient: Maria Okafor, MRN: 4482913, seen 03/14/2024. Call (410) 555-0142."


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_detect_phi_table_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "detect", "phi", NOTE)
    assert code == 1
    assert "NAME" in out and "MRN" in out and "PHONE" in out
    assert "Okafor" not in out  # offsets only, unless --show-text
    code, out, _ = run(capsys, "detect", "phi", "--show-text", NOTE)
    assert "Maria Okafor" in out


def test_detect_phi_clean_is_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "detect", "phi", "--format", "json", "Lungs clear, abd soft.")
    assert code == 0
    assert json.loads(out) == {"flagged": False, "score": 0.0, "findings": []}


def test_detect_jsonl(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _stdin(monkeypatch, json.dumps({"text": NOTE}) + "\n" + json.dumps({"text": "no phi"}) + "\n")
    code, out, _ = run(capsys, "detect", "phi", "--jsonl", "--threshold", "0.8")
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 1 and len(lines) == 2
    assert lines[0]["flagged"] is True and lines[1]["flagged"] is False
    assert set(lines[0]["findings"][0]) == {"type", "start", "end", "score"}
    assert all(f["score"] >= 0.8 for f in lines[0]["findings"])


def test_detect_jsonl_bad_line_is_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _stdin(monkeypatch, "not json\n")
    code, _, err = run(capsys, "detect", "phi", "--jsonl")
    assert code == 2 and "line 1" in err


def test_detect_secrets_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "env"
    f.write_text("AWS_KEY=" + "AKIA" + "IOSFODNN7EXAMPLE\n")
    code, out, _ = run(capsys, "detect", "secrets", "--file", str(f), "--format", "json")
    assert code == 1
    assert json.loads(out)["findings"][0]["type"] == "AWS_ACCESS_KEY"


def test_threshold_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "detect", "phi", "--threshold", "2", "x")
    assert code == 2 and "threshold" in err


def test_redact_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _stdin(monkeypatch, NOTE)
    code, out, _ = run(capsys, "redact")
    assert code == 0
    assert out.strip() == "Patient: [NAME], MRN: [MRN], seen [DATE]. Call [PHONE]."


def test_tokenize_needs_init(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--data-dir", str(tmp_path / "none"), "tokenize", "-c", "x", NOTE)
    assert code == 2 and "init" in err


def test_tokenize_detokenize_shred(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    d = ["--data-dir", str(data_dir)]
    code, tokenized, _ = run(capsys, *d, "tokenize", "-c", "c1", NOTE)
    assert code == 0 and "[NAME_1]" in tokenized and "Okafor" not in tokenized
    f = tmp_path / "t.txt"
    f.write_text(tokenized)
    code, restored, _ = run(capsys, *d, "detokenize", "-c", "c1", "--file", str(f))
    assert code == 0 and restored.strip() == NOTE
    code, _, _ = run(capsys, *d, "detokenize", "-c", "c1", "--shred", "--file", str(f))
    assert code == 0
    code, _, err = run(capsys, *d, "detokenize", "-c", "c1", "--file", str(f))
    assert code == 2 and "expired or shredded" in err
    code, out, _ = run(capsys, *d, "audit", "tail", "-n", "50", "--format", "json")
    assert code == 0 and "detect.phi_tokenized" in out and "keys.shredded" in out
    assert "Okafor" not in out and "4482913" not in out
