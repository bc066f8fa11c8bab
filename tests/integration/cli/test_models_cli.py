"""``vallum models`` and ``vallum gate`` end to end: register, list, show, bom, gate,
identify, export, and the controls they evidence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.cli.conftest import run
from tests.unit.registry import builders as b
from tests.unit.registry.conftest import KeyPair, make_keys, torch_model
from vallum.signing import sign_model

MALICIOUS = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    d = tmp_path / "keys"
    d.mkdir()
    return make_keys(d)


@pytest.fixture
def signed_model(tmp_path: Path, keys: KeyPair) -> Path:
    model = torch_model(tmp_path / "triage-v3")
    sign_model(model, private_key=keys.private)
    return model


@pytest.fixture
def policy(tmp_path: Path, keys: KeyPair) -> Path:
    path = tmp_path / "gate-policy.yaml"
    path.write_text(f"trusted_keys:\n  - {keys.public}\n", encoding="utf-8")
    return path


def test_register_bom_gate_and_the_controls_turn_green(
    data_dir: Path,
    signed_model: Path,
    keys: KeyPair,
    policy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    d = ("--data-dir", str(data_dir))
    code, out, err = run(
        capsys, *d, "models", "register", "triage", str(signed_model), "--version", "3",
        "--public-key", str(keys.public), "--dataset", "triage-notes@2", "--owner", "ml",
        "--task", "classification",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("registered triage@3: 2 file(s)")
    assert "scan safe" in out and "signed" in out

    code, out, _ = run(capsys, *d, "models", "list", "--format", "json")
    assert code == 0
    (listed,) = json.loads(out)["models"]
    assert (listed["name"], listed["version"], listed["signed"]) == ("triage", "3", True)
    assert listed["scan"]["verdict"] == "safe"
    assert listed["bom"] is None

    code, out, _ = run(capsys, *d, "gate", "triage@3", "--policy", str(policy))
    assert code == 1
    assert "FAIL  bom" in out and "PASS  signature" in out and out.endswith("refused\n")

    bom = tmp_path / "triage-3.cdx.json"
    code, out, err = run(capsys, *d, "models", "bom", "triage@3", "--output", str(bom))
    assert code == 0 and out == ""
    assert "vulnerabilities unchecked" in err
    doc = json.loads(bom.read_text(encoding="utf-8"))
    assert doc["specVersion"] == "1.6"
    types = [c["type"] for c in doc["components"]]
    assert types.count("machine-learning-model") == 1 and types.count("data") == 1

    code, out, _ = run(capsys, *d, "gate", "triage@3", "--policy", str(policy), "--format", "json")
    assert code == 0
    result = json.loads(out)
    assert result["passed"] is True
    assert [c["check"] for c in result["checks"]] == ["integrity", "scan", "signature", "bom"]

    code, out, _ = run(capsys, *d, "controls", "--format", "json")
    status = {c["id"]: c["status"] for c in json.loads(out)["controls"]}
    for control in (
        "SEC-311-04", "SEC-311-07", "SEC-312-02", "SEC-312-03", "SEC-312-10",
        "SEC-341-01", "SEC-341-02", "SEC-341-06",
    ):  # fmt: skip
        assert status[control] == "pass", control

    code, out, _ = run(capsys, *d, "models", "show", "triage@3")
    assert code == 0
    assert "datasets    triage-notes@2" in out
    assert "model.pt" in out


def test_identify_and_export(
    data_dir: Path, signed_model: Path, keys: KeyPair, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    d = ("--data-dir", str(data_dir))
    base = ("models", "register", "triage", str(signed_model), "--public-key", str(keys.public))
    assert run(capsys, *d, *base, "--version", "3")[0] == 0

    code, out, _ = run(capsys, *d, "models", "identify", str(signed_model))
    assert (code, out.strip()) == (0, "triage-v3 is exactly triage@3")

    repacked = tmp_path / "repacked"
    shutil.copy(signed_model / "extra" / "embeddings.npz", tmp_path / "emb.npz")
    b.write(repacked / "weights.npz", (tmp_path / "emb.npz").read_bytes())
    code, out, _ = run(capsys, *d, "models", "identify", str(repacked), "--format", "json")
    found = json.loads(out)
    assert found["exact"] is None
    assert found["matches"][0]["model"] == "triage@3"
    assert found["matches"][0]["shared"] == 1.0
    assert found["matches"][0]["covers"] == pytest.approx(1 / 5, abs=1e-4)

    dest = tmp_path / "deploy"
    code, out, _ = run(capsys, *d, "models", "export", "triage@3", str(dest))
    assert code == 0 and "verified" in out
    assert (dest / "model.pt").read_bytes() == (signed_model / "model.pt").read_bytes()
    assert (dest / "model.sig").is_file()
    code, _, err = run(capsys, *d, "models", "export", "triage@3", str(dest))
    assert code == 2 and "not empty" in err


def test_refusals_and_their_exit_codes(
    data_dir: Path, tmp_path: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ("--data-dir", str(data_dir))
    model = torch_model(tmp_path / "m")
    b.write(model / "payload.pkl", MALICIOUS)
    code, _, err = run(capsys, *d, "models", "register", "m", str(model), "--version", "1")
    assert code == 1
    assert "unsafe: payload.pkl" in err
    (model / "payload.pkl").unlink()
    assert run(capsys, *d, "models", "register", "m", str(model), "--version", "1")[0] == 0
    code, _, err = run(capsys, *d, "models", "register", "m", str(model), "--version", "1")
    assert code == 2 and "[models.version_exists]" in err

    code, _, err = run(capsys, *d, "gate", "m@1")
    assert code == 2 and "no gate policy" in err
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    code, _, err = run(capsys, *d, "gate", "m@1", "--policy", str(empty))
    assert code == 2 and "trusts no key" in err
    policy = tmp_path / "p.toml"
    policy.write_text(f'trusted_keys = ["{keys.public}"]\n', encoding="utf-8")
    code, out, _ = run(capsys, *d, "gate", "m@1", "--policy", str(policy))
    assert code == 1 and "FAIL  signature  the version was registered without a signature" in out

    code, _, err = run(capsys, *d, "models", "show", "m@9")
    assert code == 2 and "no registered model m@9" in err
    code, _, err = run(capsys, *d, "models", "show", "m")
    assert code == 2 and "NAME@VERSION" in err


def test_the_gate_reads_its_policy_from_the_environment(
    data_dir: Path, signed_model: Path, keys: KeyPair, policy: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    d = ("--data-dir", str(data_dir))
    reg = ("models", "register", "t", str(signed_model), "--version", "1")
    assert run(capsys, *d, *reg, "--public-key", str(keys.public))[0] == 0
    assert run(capsys, *d, "models", "bom", "t@1", "--no-audit")[0] == 0
    monkeypatch.setenv("VALLUM_MODEL_GATE_POLICY", str(policy))
    code, out, _ = run(capsys, *d, "gate", "t@1")
    assert code == 0 and out.endswith("t@1: passed\n")
    stranger = make_keys(keys.public.parent, "stranger")
    other = policy.with_name("other.yaml")
    other.write_text(f"trusted_keys: [{stranger.public}]\n", encoding="utf-8")
    code, out, _ = run(capsys, *d, "gate", "t@1", "--policy", str(other))
    assert code == 1 and "FAIL  signature" in out


def test_a_hugging_face_folder_scans_safe_and_registers_without_allow_unscannable(
    data_dir: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "hf-model"
    model.mkdir()
    (model / "config.json").write_text('{"architectures": ["BertModel"], "hidden_size": 8}\n')
    (model / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "WordPiece"}}')
    (model / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\nhello\nworld\n")
    (model / "README.md").write_text("---\nlicense: apache-2.0\n---\n# hf-model\n")
    b.write(model / "model.safetensors", b.safetensors({"w": b.values(64, 1), "b": b.values(8, 2)}))
    sign_model(model, private_key=keys.private)
    d = ("--data-dir", str(data_dir))

    code, out, err = run(capsys, *d, "scan", str(model), "--format", "json")
    assert code == 0, err
    formats = {
        Path(r["path"]).name: (r["format"], r["verdict"]) for r in json.loads(out)["results"]
    }
    assert formats["config.json"] == ("json", "safe")
    assert formats["tokenizer.json"] == ("json", "safe")
    assert formats["vocab.txt"] == ("text", "safe")
    assert formats["README.md"] == ("text", "safe")
    assert formats["model.safetensors"] == ("safetensors", "safe")

    code, out, err = run(
        capsys, *d, "models", "register", "hf", str(model), "--version", "1",
        "--public-key", str(keys.public),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("registered hf@1: 5 file(s)") and "scan safe" in out
