"""``vallum sign`` / ``vallum verify``: interoperability with the ``model_signing`` CLI in
both directions, exit codes and one-line errors, and the ledger events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.conftest import run
from tests.unit.signing.material import KeyPair, Pki, make_model, make_pki, write_key

MODEL_SIGNING = Path(sys.executable).parent / "model_signing"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_model(tmp_path)


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    (tmp_path / "keys").mkdir()
    return write_key(tmp_path / "keys", "signer")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def model_signing(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert MODEL_SIGNING.is_file(), f"the model_signing CLI is not installed at {MODEL_SIGNING}"
    return subprocess.run(
        [str(MODEL_SIGNING), *map(str, args)], capture_output=True, text=True, timeout=120
    )


def no_data(tmp_path: Path) -> tuple[str, str]:
    return ("--data-dir", str(tmp_path / "uninitialised"))


# --- interoperability -----------------------------------------------------------------


def test_model_signing_signs_vallum_verifies(
    model: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sig = model / "model.sig"
    done = model_signing("sign", "key", model, "--private_key", keys.private, "--signature", sig)
    assert done.returncode == 0, done.stderr
    code, out, _ = run(
        capsys, *no_data(tmp_path), "verify", str(model), "--public-key", str(keys.public)
    )
    assert code == 0
    assert "verified" in out
    (model / "weights" / "part-2.bin").write_bytes(b"tampered")
    code, _, err = run(
        capsys, *no_data(tmp_path), "verify", str(model), "--public-key", str(keys.public)
    )
    assert code == 1
    assert "[integrity.model]" in err
    assert "changed 'weights/part-2.bin'" in err


def test_vallum_signs_model_signing_verifies(
    model: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(
        capsys, *no_data(tmp_path), "sign", str(model), "--private-key", str(keys.private)
    )
    assert code == 0
    sig = model / "model.sig"
    done = model_signing("verify", "key", model, "--signature", sig, "--public_key", keys.public)
    assert done.returncode == 0, done.stderr
    assert "Verification succeeded" in done.stdout
    (model / "added.bin").write_bytes(b"new")
    done = model_signing("verify", "key", model, "--signature", sig, "--public_key", keys.public)
    assert done.returncode != 0
    assert "added.bin" in done.stderr


def test_single_file_both_ways(
    model: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = model / "weights" / "part-1.bin"
    code, _, _ = run(
        capsys, *no_data(tmp_path), "sign", str(weights), "--private-key", str(keys.private)
    )
    assert code == 0
    ours = weights.with_name("part-1.bin.sig")
    done = model_signing("verify", "key", weights, "--signature", ours, "--public_key", keys.public)
    assert done.returncode == 0, done.stderr
    theirs = tmp_path / "theirs.sig"
    done = model_signing(
        "sign", "key", weights, "--private_key", keys.private, "--signature", theirs
    )
    assert done.returncode == 0, done.stderr
    code, _, _ = run(
        capsys,
        *no_data(tmp_path),
        "verify",
        str(weights),
        "--signature",
        str(theirs),
        "--public-key",
        str(keys.public),
    )
    assert code == 0


def test_certificate_chain_both_ways(
    model: Path, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(
        capsys,
        *no_data(tmp_path),
        "sign",
        str(model),
        "--private-key",
        str(pki.leaf_key),
        "--signing-certificate",
        str(pki.leaf),
        "--certificate-chain",
        str(pki.intermediate),
    )
    assert code == 0
    sig = model / "model.sig"
    done = model_signing(
        "verify", "certificate", model, "--signature", sig, "--certificate_chain", pki.root
    )
    assert done.returncode == 0, done.stderr
    sig.unlink()
    done = model_signing(
        "sign",
        "certificate",
        model,
        "--private_key",
        pki.leaf_key,
        "--signing_certificate",
        pki.leaf,
        "--certificate_chain",
        pki.intermediate,
        "--signature",
        sig,
    )
    assert done.returncode == 0, done.stderr
    code, out, _ = run(
        capsys,
        *no_data(tmp_path),
        "verify",
        str(model),
        "--certificate-chain",
        str(pki.root),
        "--format",
        "json",
    )
    assert code == 0
    assert json.loads(out)["method"] == "certificate"


# --- exit codes and messages ------------------------------------------------------------


def test_json_output(
    model: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        *no_data(tmp_path),
        "sign",
        str(model),
        "--private-key",
        str(keys.private),
        "--format",
        "json",
    )
    assert code == 0
    signed = json.loads(out)
    assert set(signed) == {"model", "signature", "method", "digest", "files", "key_fingerprint"}
    assert signed["files"] == 5
    assert signed["method"] == "key"
    assert "not recorded" in err
    code, out, _ = run(
        capsys,
        *no_data(tmp_path),
        "verify",
        str(model),
        "--public-key",
        str(keys.public),
        "--format",
        "json",
    )
    assert code == 0
    verified = json.loads(out)
    assert verified["verified"] is True
    assert verified["digest"] == signed["digest"]
    assert verified["key_fingerprint"] == signed["key_fingerprint"]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda m: (m / "config.json").write_text("{}"), "changed 'config.json'"),
        (lambda m: (m / "new.bin").write_bytes(b"x"), "added 'new.bin'"),
        (lambda m: (m / "tokenizer.json").unlink(), "removed 'tokenizer.json'"),
        (
            lambda m: (m / "config.json").rename(m / "settings.json"),
            "renamed 'config.json' to 'settings.json'",
        ),
        (lambda m: (m / "link").symlink_to(m / "config.json"), "'link' is a symbolic link"),
    ],
    ids=["changed", "added", "removed", "renamed", "symlink"],
)
def test_tampering_exits_1_naming_the_file(
    model: Path,
    keys: KeyPair,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tamper: object,
    expected: str,
) -> None:
    code, _, _ = run(
        capsys, *no_data(tmp_path), "sign", str(model), "--private-key", str(keys.private)
    )
    assert code == 0
    assert callable(tamper)
    tamper(model)
    code, out, err = run(
        capsys, *no_data(tmp_path), "verify", str(model), "--public-key", str(keys.public)
    )
    assert code == 1
    assert out == ""
    line = [ln for ln in err.splitlines() if ln.startswith("vallum: error")]
    assert len(line) == 1
    assert line[0].startswith("vallum: error [integrity.model]: ")
    assert expected in line[0]
    assert "Traceback" not in err


def test_wrong_key_exits_1(
    model: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_key(tmp_path / "keys", "other")
    run(capsys, *no_data(tmp_path), "sign", str(model), "--private-key", str(keys.private))
    code, _, err = run(
        capsys, *no_data(tmp_path), "verify", str(model), "--public-key", str(other.public)
    )
    assert code == 1
    assert "[integrity.signature]" in err


@pytest.mark.parametrize("problem", ["missing", "garbled"])
def test_missing_or_garbled_signature_exits_2(
    model: Path, keys: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str], problem: str
) -> None:
    if problem == "garbled":
        (model / "model.sig").write_bytes(b"\x00garbage")
    code, _, err = run(
        capsys, *no_data(tmp_path), "verify", str(model), "--public-key", str(keys.public)
    )
    assert code == 2
    assert "vallum: error [signing.signature_file]: signature" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("problem", ["missing", "garbled"])
def test_missing_or_garbled_key_exits_2(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], problem: str
) -> None:
    key = tmp_path / "k.pem"
    if problem == "garbled":
        key.write_text("not a key", encoding="utf-8")
    code, _, err = run(capsys, *no_data(tmp_path), "sign", str(model), "--private-key", str(key))
    assert code == 2
    assert "vallum: error [signing.key_file]: private key" in err
    assert not (model / "model.sig").exists()


def test_no_method_is_a_usage_error(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *no_data(tmp_path), "sign", str(model))
    assert code == 2
    assert "choose how to sign" in err


def test_keyless_offline_says_it_needs_network(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    code, _, err = run(capsys, *no_data(tmp_path), "sign", str(model), "--sigstore")
    assert code == 3
    assert "vallum: error [unavailable]: Sigstore keyless signing" in err
    assert "need network access" in err
    assert "Traceback" not in err
    assert "WARNING" not in err


# --- the ledger ----------------------------------------------------------------------


def _events(
    data_dir: Path, capsys: pytest.CaptureFixture[str], action: str
) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "audit", "export")
    assert code == 0
    return [e for e in map(json.loads, out.splitlines()) if e["action"] == action]


def test_sign_and_verify_are_recorded_without_key_material(
    model: Path, keys: KeyPair, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--data-dir", str(data_dir))
    code, out, err = run(
        capsys, *base, "sign", str(model), "--private-key", str(keys.private), "--format", "json"
    )
    assert code == 0
    assert "not recorded" not in err
    signed = json.loads(out)
    code, _, _ = run(capsys, *base, "verify", str(model), "--public-key", str(keys.public))
    assert code == 0
    (model / "config.json").write_text("{}", encoding="utf-8")
    code, _, _ = run(capsys, *base, "verify", str(model), "--public-key", str(keys.public))
    assert code == 1

    (sign_event,) = _events(data_dir, capsys, "models.signed")
    assert sign_event["subject"] == "model:model"
    assert sign_event["outcome"] == "success"
    assert sign_event["data"] == {
        "model": "model",
        "digest": signed["digest"],
        "method": "key",
        "key_fingerprint": signed["key_fingerprint"],
        "files": 5,
    }
    ok, failed = _events(data_dir, capsys, "models.verified")
    assert ok["outcome"] == "success"
    assert ok["data"]["digest"] == signed["digest"]
    assert failed["outcome"] == "failure"
    assert failed["data"]["error"] == "integrity.model"
    assert failed["data"]["method"] == "key"
    code, everything, _ = run(capsys, *base, "audit", "export")
    assert code == 0
    private = keys.private.read_text(encoding="utf-8")
    public = keys.public.read_text(encoding="utf-8")
    body = "".join(private.splitlines()[1:-1])
    assert body[:40] not in everything
    assert "".join(public.splitlines()[1:-1])[:40] not in everything
    assert "layers" not in everything  # no file contents
