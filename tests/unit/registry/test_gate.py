"""The gate: integrity, a fresh scan, a trusted signature and a BOM, or no deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.registry.conftest import KeyPair, events, make_keys
from tests.unit.registry.test_export import blob_file
from vallum.context import Context
from vallum.errors import ConfigError
from vallum.registry import (
    GatePolicy,
    Ref,
    RegisterRequest,
    detail,
    gate,
    generate_bom,
    load_policy,
    register,
)
from vallum.signing import sign_model

REF = Ref("triage", "3")


def policy_file(where: Path, body: str, name: str = "policy.yaml") -> Path:
    path = where / name
    path.write_text(body, encoding="utf-8")
    return path


@pytest.fixture
def policy(tmp_path: Path, keys: KeyPair) -> GatePolicy:
    return load_policy(policy_file(keys.public.parent, f"trusted_keys:\n  - {keys.public.name}\n"))


def signed_version(ctx: Context, model_dir: Path, keys: KeyPair, *, bom: bool = True) -> None:
    sign_model(model_dir, private_key=keys.private)
    register(ctx, RegisterRequest(REF, model_dir, public_key=keys.public))
    if bom:
        generate_bom(ctx, REF, audit=False)


def checks(result: object) -> dict[str, bool]:
    return {c.name: c.passed for c in result.checks}  # type: ignore[attr-defined]


def test_a_signed_scanned_version_with_a_bom_passes(
    ctx: Context, model_dir: Path, keys: KeyPair, policy: GatePolicy
) -> None:
    signed_version(ctx, model_dir, keys)
    result = gate(ctx, REF, policy)
    assert result.passed
    assert checks(result) == {"integrity": True, "scan": True, "signature": True, "bom": True}
    (event,) = events(ctx, "models.gated")
    assert (event["subject"], event["outcome"]) == ("model:triage@3", "success")
    assert event["policy_sha256"] == policy.digest
    assert event["checks"] == {
        "integrity": "pass",
        "scan": "pass",
        "signature": "pass",
        "bom": "pass",
    }
    # the gate re-scanned the stored files: that scan is now the latest
    scans = events(ctx, "models.scanned")
    assert len(scans) == 4
    assert detail(ctx.engine, REF).scan is not None
    assert [e["outcome"] for e in events(ctx, "models.verified")] == ["success", "success"]


def test_no_bom_is_refused(
    ctx: Context, model_dir: Path, keys: KeyPair, policy: GatePolicy
) -> None:
    signed_version(ctx, model_dir, keys, bom=False)
    result = gate(ctx, REF, policy)
    assert not result.passed
    assert checks(result)["bom"] is False
    assert checks(result)["signature"] is True
    assert events(ctx, "models.gated")[0]["outcome"] == "denied"


def test_an_unsigned_version_is_refused(ctx: Context, model_dir: Path, policy: GatePolicy) -> None:
    register(ctx, RegisterRequest(REF, model_dir))
    generate_bom(ctx, REF, audit=False)
    result = gate(ctx, REF, policy)
    assert checks(result) == {"integrity": True, "scan": True, "signature": False, "bom": True}
    assert "without a signature" in result.checks[2].reason


def test_a_key_the_policy_does_not_trust_is_refused(
    ctx: Context, model_dir: Path, keys: KeyPair, tmp_path: Path
) -> None:
    signed_version(ctx, model_dir, keys)
    other = make_keys(keys.public.parent, "other")
    strict = load_policy(policy_file(tmp_path, f"trusted_keys: [{other.public}]\n", "p.yaml"))
    result = gate(ctx, REF, strict)
    assert not result.passed
    assert checks(result)["signature"] is False
    assert "not signed by a trusted key" in result.checks[2].reason
    assert events(ctx, "models.verified")[-1]["outcome"] == "failure"


def test_tampered_storage_fails_integrity_and_skips_the_rest(
    ctx: Context, model_dir: Path, keys: KeyPair, policy: GatePolicy
) -> None:
    signed_version(ctx, model_dir, keys)
    blob = detail(ctx.engine, REF).files[0].blob
    path = blob_file(ctx, blob)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    result = gate(ctx, REF, policy)
    assert checks(result) == {"integrity": False, "scan": False, "signature": False, "bom": True}
    assert events(ctx, "models.gated")[0]["outcome"] == "denied"


def test_a_toml_policy_with_two_keys(
    ctx: Context, model_dir: Path, keys: KeyPair, tmp_path: Path
) -> None:
    signed_version(ctx, model_dir, keys)
    other = make_keys(keys.public.parent, "other")
    body = f'trusted_keys = ["{other.public}", "{keys.public}"]\n'
    result = gate(ctx, REF, load_policy(policy_file(tmp_path, body, "gate.toml")))
    assert result.passed


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("empty.yaml", "", "trusts no key"),
        ("empty.toml", "trusted_keys = []\n", "trusts no key"),
        ("typo.yaml", "trusted_key: [a.pub]\n", "unknown field"),
        ("missing.yaml", "trusted_keys: [nowhere.pub]\n", "does not exist"),
        ("list.yaml", "- a\n- b\n", "not a mapping"),
        ("bad.yaml", "trusted_keys: [\n", "cannot be parsed"),
        ("bad.toml", "trusted_keys = \n", "cannot be parsed"),
        ("policy.json", "{}", "must be a .yaml"),
        ("chain.yaml", "certificate_chains: [[]]\n", "empty certificate chain"),
        ("scalar.yaml", "trusted_keys: a.pub\n", "must be a list"),
    ],
)
def test_a_policy_that_cannot_decide_is_an_error(
    tmp_path: Path, name: str, body: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_policy(policy_file(tmp_path, body, name))


def test_a_missing_policy_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")


def test_a_certificate_chain_in_the_policy(ctx: Context, model_dir: Path, tmp_path: Path) -> None:
    from tests.unit.signing.material import make_pki

    pki = make_pki(tmp_path / "pki")
    sign_model(
        model_dir,
        private_key=pki.leaf_key,
        signing_certificate=pki.leaf,
        certificate_chain=[pki.intermediate],
    )
    register(ctx, RegisterRequest(REF, model_dir, certificate_chain=(pki.root,)))
    generate_bom(ctx, REF, audit=False)
    info = detail(ctx.engine, REF).info
    assert info.signed and info.signature_method == "certificate"
    trusted = load_policy(policy_file(tmp_path, f"certificate_chains:\n  - [{pki.root}]\n"))
    assert gate(ctx, REF, trusted).passed
    other = make_pki(tmp_path / "other", "Other ")
    strange = load_policy(
        policy_file(tmp_path, f"certificate_chains:\n  - [{other.root}]\n", "other.yaml")
    )
    result = gate(ctx, REF, strange)
    assert checks(result)["signature"] is False
