"""AI-BOM: a valid CycloneDX 1.6 document with the model, its datasets and its environment."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.unit.registry.conftest import events
from vallum.context import Context
from vallum.errors import NotFoundError
from vallum.registry import (
    Dataset,
    ModelCard,
    Ref,
    RegisterRequest,
    detail,
    generate_bom,
    register,
    stored_bom,
)
from vallum.registry.depaudit import AuditStatus, audit_environment

REF = Ref("triage", "3")

PIP_AUDIT_JSON = {
    "dependencies": [
        {"name": "sqlalchemy", "version": "2.0.0", "vulns": []},
        {
            "name": "PyYAML",
            "version": "5.3",
            "vulns": [
                {
                    "id": "PYSEC-2021-142",
                    "fix_versions": ["5.4"],
                    "aliases": ["CVE-2020-14343"],
                    "description": "arbitrary code execution via full_load",
                }
            ],
        },
        {"name": "vallum", "skip_reason": "not on PyPI"},
    ],
    "fixes": [],
}


def fake_pip_audit(tmp_path: Path, body: str) -> list[str]:
    """A stand-in for the pip-audit executable (a third-party tool, faked at its edge)."""
    script = tmp_path / "fake_pip_audit.py"
    script.write_text(body, encoding="utf-8")
    return [sys.executable, str(script)]


@pytest.fixture
def registered(ctx: Context, model_dir: Path) -> None:
    register(
        ctx,
        RegisterRequest(
            REF,
            model_dir,
            datasets=(Dataset("notes", "2"), Dataset("triage-labels", "2026.1")),
            card=ModelCard(
                task="classification",
                architecture="mlp",
                description="Triage priority classifier",
                use_cases=("emergency triage support",),
                limitations=("English notes only",),
            ),
        ),
    )


def component(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    return next(c for c in doc["components"] if c.get("bom-ref") == ref)


@pytest.mark.usefixtures("registered")
def test_the_bom_is_valid_cyclonedx_with_model_datasets_and_libraries(ctx: Context) -> None:
    done = generate_bom(ctx, REF, audit=False)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(done.text) is None
    doc = json.loads(done.text)
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.6")
    model = component(doc, "model:triage@3")
    info = detail(ctx.engine, REF).info
    assert model["type"] == "machine-learning-model"
    assert model["hashes"] == [{"alg": "SHA-256", "content": info.manifest_digest}]
    assert {c["name"] for c in model["components"]} == {"model.pt", "extra/embeddings.npz"}
    card = model["modelCard"]
    assert card["modelParameters"]["task"] == "classification"
    assert card["modelParameters"]["datasets"] == [
        {"ref": "dataset:notes@2"},
        {"ref": "dataset:triage-labels@2026.1"},
    ]
    assert card["considerations"]["technicalLimitations"] == ["English notes only"]
    data = component(doc, "dataset:notes@2")
    assert (data["type"], data["version"], data["data"][0]["type"]) == ("data", "2", "dataset")
    purls = {c.get("purl") for c in doc["components"] if c["type"] == "library"}
    assert any(p and p.startswith("pkg:pypi/sqlalchemy@") for p in purls)
    assert any(p and p.startswith("pkg:pypi/cyclonedx-python-lib@") for p in purls)
    props = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
    assert props["vallum:vulnerabilities"] == "unchecked"
    assert props["vallum:vulnerabilities-reason"] == "skipped (--no-audit)"

    record, stored = stored_bom(ctx, REF)
    assert stored == doc
    assert record.serial_number == doc["serialNumber"]
    assert detail(ctx.engine, REF).bom == record
    (event,) = events(ctx, "models.bom_generated")
    assert (event["subject"], event["vulnerabilities"]) == ("model:triage@3", "unchecked")
    assert event["components"] == len(doc["components"])


@pytest.mark.usefixtures("registered")
def test_pip_audit_findings_become_vulnerabilities(ctx: Context, tmp_path: Path) -> None:
    command = fake_pip_audit(tmp_path, f"print({json.dumps(json.dumps(PIP_AUDIT_JSON))})")
    done = generate_bom(ctx, REF, audit_command=command)
    assert done.record.vulnerabilities == "checked"
    assert done.record.vulnerability_count == 1
    doc = json.loads(done.text)
    (vuln,) = doc["vulnerabilities"]
    assert vuln["id"] == "PYSEC-2021-142"
    assert vuln["recommendation"] == "upgrade PyYAML to 5.4"
    assert vuln["affects"][0]["ref"].startswith("pkg:pypi/pyyaml@")


def test_pip_audit_that_cannot_answer_is_unchecked_with_the_reason(tmp_path: Path) -> None:
    slow = audit_environment(
        timeout=1, command=fake_pip_audit(tmp_path, "import time\ntime.sleep(30)\n")
    )
    assert (slow.status, slow.reason) == (
        AuditStatus.UNCHECKED,
        "the vulnerability database did not answer in 1 s",
    )
    broken = audit_environment(
        command=fake_pip_audit(
            tmp_path, "import sys\nsys.stderr.write('ConnectionError: offline\\n')\nsys.exit(1)\n"
        )
    )
    assert broken.status is AuditStatus.UNCHECKED
    assert broken.reason == "pip-audit failed (exit 1): ConnectionError: offline"
    garbage = audit_environment(command=fake_pip_audit(tmp_path, "print('[1, 2]')"))
    assert garbage.status is AuditStatus.UNCHECKED
    assert audit_environment(command=fake_pip_audit(tmp_path, "print('{}')")).status is (
        AuditStatus.UNCHECKED
    )
    legacy = json.dumps(PIP_AUDIT_JSON["dependencies"])
    old = audit_environment(command=fake_pip_audit(tmp_path, f"print({json.dumps(legacy)})"))
    assert (old.status, [v.id for v in old.vulnerabilities]) == (
        AuditStatus.CHECKED,
        ["PYSEC-2021-142"],
    )


def test_without_pip_audit_installed_it_says_so() -> None:
    import importlib.util

    if importlib.util.find_spec("pip_audit") is not None:
        pytest.skip("pip-audit is installed here")
    result = audit_environment()
    assert result.status is AuditStatus.UNCHECKED
    assert result.reason is not None and "not installed" in result.reason


@pytest.mark.usefixtures("registered")
def test_no_bom_yet_is_not_found(ctx: Context) -> None:
    with pytest.raises(NotFoundError, match="has no AI-BOM"):
        stored_bom(ctx, REF)
