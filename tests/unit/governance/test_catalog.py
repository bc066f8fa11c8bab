"""The SEC-POL-012 control catalog: completeness against the policy, mappings, validation."""

from __future__ import annotations

import datetime
import importlib.resources
import re
from collections import Counter
from pathlib import Path

import pytest

from vallum.governance.catalog import (
    KNOWN_ACTIONS,
    Catalog,
    ControlKind,
    Evaluator,
    Framework,
    load_catalog,
    load_catalog_from,
    parse_duration,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
# The policy lives outside the repository: ../shared/policy relative to the repo root.
POLICY_PATH = REPO_ROOT.parent / "shared" / "policy" / "SEC-POL-012.md"

# Bullets per subsection of SEC-POL-012 3.1-3.6, checked in so the catalog stays
# complete even in checkouts without the policy text.
EXPECTED_COUNTS = {
    "3.1.1": 10,
    "3.1.2": 10,
    "3.2.1": 10,
    "3.2.2": 10,
    "3.3.1": 10,
    "3.3.2": 10,
    "3.4.1": 10,
    "3.4.2": 10,
    "3.5.1": 10,
    "3.5.2": 10,
    "3.6.1": 5,
    "3.6.2": 5,
}

# Top-level sections whose bullets are controls (3.7 is out of scope).
IN_SCOPE = frozenset({"3.1", "3.2", "3.3", "3.4", "3.5", "3.6"})

# Policy table 4.1: top-level sections that map to each framework.
FRAMEWORK_SECTIONS = {
    Framework.HITRUST: {"3.1", "3.2", "3.3", "3.4", "3.5", "3.6"},
    Framework.HIPAA: {"3.2", "3.5", "3.6"},
    Framework.SOC2: {"3.1", "3.2", "3.3", "3.4", "3.5"},
    Framework.NIST_CSF: {"3.1", "3.2", "3.5"},
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _policy_bullets(markdown: str) -> list[tuple[str, str, str]]:
    """(subsection, group, text) for every sub-bullet of sections 3.1 to 3.6."""
    bullets: list[tuple[str, str, str]] = []
    top = subsection = group = None
    for line in markdown.splitlines():
        if re.match(r"#{1,3} ", line):  # "### 4. Standards Compliance" etc. ends section 3
            top = subsection = group = None
        elif heading := re.match(r"#### (\d+\.\d+) ", line):
            top, subsection, group = heading[1], None, None
        elif heading := re.match(r"##### (\d+\.\d+\.\d+) ", line):
            subsection, group = heading[1], None
        elif bold := re.match(r"- \*\*(.+?):\*\*\s*$", line):
            group = bold[1]
        elif (bullet := re.match(r"\s+- (.+?)\s*$", line)) and subsection and top in IN_SCOPE:
            assert group is not None, f"bullet outside a group: {line!r}"
            bullets.append((subsection, group, bullet[1]))
    return bullets


@pytest.fixture(scope="module")
def policy_bullets() -> list[tuple[str, str, str]]:
    if not POLICY_PATH.is_file():
        pytest.skip(f"policy text not present at {POLICY_PATH}; per-section counts still checked")
    bullets = _policy_bullets(POLICY_PATH.read_text(encoding="utf-8"))
    assert bullets, f"no bullets parsed from {POLICY_PATH}"
    return bullets


# --- completeness against the policy ------------------------------------------


def test_every_policy_bullet_is_exactly_one_control(
    catalog: Catalog, policy_bullets: list[tuple[str, str, str]]
) -> None:
    texts = Counter(control.text for control in catalog)
    for section, _group, text in policy_bullets:
        assert texts[text] == 1, f"{section} bullet is in {texts[text]} controls: {text!r}"
    extras = set(texts) - {text for _, _, text in policy_bullets}
    assert not extras, f"controls with no policy bullet: {sorted(extras)}"
    assert len(catalog) == len(policy_bullets)


def test_controls_follow_policy_order_sections_and_groups(
    catalog: Catalog, policy_bullets: list[tuple[str, str, str]]
) -> None:
    assert [(c.section, c.group, c.text) for c in catalog] == policy_bullets


def test_checked_in_counts_match_policy(policy_bullets: list[tuple[str, str, str]]) -> None:
    assert Counter(section for section, _, _ in policy_bullets) == EXPECTED_COUNTS


def test_catalog_counts_per_section(catalog: Catalog) -> None:
    assert Counter(control.section for control in catalog) == EXPECTED_COUNTS


def test_no_controls_outside_sections_3_1_to_3_6(catalog: Catalog) -> None:
    assert {control.top_section for control in catalog} == IN_SCOPE


# --- ids, titles, kinds ---------------------------------------------------------


def test_ids_are_stable_and_number_bullets_in_policy_order(catalog: Catalog) -> None:
    for section in EXPECTED_COUNTS:
        ids = [c.id for c in catalog if c.section == section]
        digits = section.replace(".", "")
        assert ids == [f"SEC-{digits}-{n:02d}" for n in range(1, len(ids) + 1)]
    assert catalog.by_id("SEC-311-01").text.startswith("Security requirements shall be integrated")
    assert catalog.by_id("SEC-312-06").group == "Adversarial Attack Prevention"
    assert catalog.by_id("SEC-362-05").title == "Contractual protections for AI service use"


def test_by_id_unknown_raises_key_error(catalog: Catalog) -> None:
    with pytest.raises(KeyError, match="SEC-999-01"):
        catalog.by_id("SEC-999-01")


def test_titles_are_short(catalog: Catalog) -> None:
    for control in catalog:
        assert 1 <= len(control.title.split()) <= 8, control.id


def test_evidence_matches_kind(catalog: Catalog) -> None:
    for control in catalog:
        if control.kind is ControlKind.AUTOMATED:
            assert control.evidence is not None, control.id
            assert control.evidence.actions, control.id
            assert set(control.evidence.actions) <= KNOWN_ACTIONS, control.id
            assert control.evidence.freshness > datetime.timedelta(0)
            assert isinstance(control.evidence.evaluator, Evaluator)
        else:
            assert control.evidence is None, control.id


@pytest.mark.parametrize(
    "control_id",
    [
        "SEC-311-08",  # developer workstations with endpoint protection
        "SEC-312-05",  # confidentiality agreements
        "SEC-331-02",  # container runtime protection
        "SEC-331-04",  # GPU firmware
        "SEC-331-07",  # service mesh
        "SEC-351-10",  # BI integration
        "SEC-352-10",  # tabletop exercises
        "SEC-361-05",  # vendor SLAs
    ],
)
def test_organisational_controls_are_attested(catalog: Catalog, control_id: str) -> None:
    assert catalog.by_id(control_id).kind is ControlKind.ATTESTED


@pytest.mark.parametrize(
    ("control_id", "action"),
    [
        ("SEC-312-03", "models.fingerprinted"),
        ("SEC-321-03", "datasets.lineage_recorded"),
        ("SEC-332-06", "access.reviewed"),
        ("SEC-341-06", "models.verified"),
        ("SEC-342-05", "siem.exported"),
        ("SEC-362-02", "detect.phi_tokenized"),
    ],
)
def test_vallum_controls_are_automated(catalog: Catalog, control_id: str, action: str) -> None:
    control = catalog.by_id(control_id)
    assert control.kind is ControlKind.AUTOMATED
    assert control.evidence is not None
    assert action in control.evidence.actions


# --- framework mappings ---------------------------------------------------------


def test_every_control_maps_to_a_framework(catalog: Catalog) -> None:
    for control in catalog:
        assert control.frameworks, control.id


@pytest.mark.parametrize("framework", list(Framework))
def test_for_framework_selects_mapped_sections(catalog: Catalog, framework: Framework) -> None:
    selected = catalog.for_framework(framework)
    expected = [c for c in catalog if c.top_section in FRAMEWORK_SECTIONS[framework]]
    assert list(selected) == expected
    assert all(c.references(framework) for c in selected)


def test_for_framework_hipaa_by_name(catalog: Catalog) -> None:
    hipaa = catalog.for_framework("hipaa")
    assert hipaa
    assert {c.top_section for c in hipaa} == {"3.2", "3.5", "3.6"}
    assert hipaa == catalog.for_framework(Framework.HIPAA)
    assert not any(c.top_section in {"3.1", "3.3", "3.4"} for c in hipaa)


def test_for_framework_unknown_raises(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="iso27001"):
        catalog.for_framework("iso27001")


def test_references_are_copied_from_table(catalog: Catalog) -> None:
    assert catalog.by_id("SEC-311-01").references("hitrust") == (
        "09.b System Development Controls",
        "06.a Configuration Management Policy",
    )
    assert catalog.by_id("SEC-351-01").references(Framework.HIPAA) == (
        "45 CFR 164.312(b) Audit Controls",
    )
    assert catalog.by_id("SEC-321-01").references(Framework.HIPAA) == (
        "45 CFR 164.308(a)(4) Information Access Management",
        "45 CFR 164.312(a)(2)(iv) Encryption and Decryption",
    )
    assert catalog.by_id("SEC-311-01").references(Framework.NIST_CSF) == (
        "PR.PT Protective Technology",
    )
    assert catalog.by_id("SEC-331-01").references(Framework.HIPAA) == ()
    # Table row "3.1, 3.4" maps both sections to CC8.1.
    for control_id in ("SEC-311-01", "SEC-342-10"):
        assert catalog.by_id(control_id).references("soc2") == ("CC8.1 System Development",)


# --- loading --------------------------------------------------------------------


def test_load_catalog_is_cached_and_matches_packaged_file(catalog: Catalog) -> None:
    assert load_catalog() is catalog
    assert catalog.policy == "SEC-POL-012"
    assert catalog.version == 1
    packaged = importlib.resources.files("vallum.governance").joinpath("catalog.yaml")
    with importlib.resources.as_file(packaged) as path:
        assert load_catalog_from(path) == catalog


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", datetime.timedelta(seconds=45)),
        ("15m", datetime.timedelta(minutes=15)),
        ("24h", datetime.timedelta(hours=24)),
        ("30d", datetime.timedelta(days=30)),
        ("2w", datetime.timedelta(weeks=2)),
    ],
)
def test_parse_duration(text: str, expected: datetime.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "30", "d", "0d", "-1d", "1.5d", "30D", "1y", "30 d", " 30d", "30d ", "1d2h"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_parse_duration_rejects_overflow() -> None:
    with pytest.raises(ValueError, match="too large"):
        parse_duration("99999999999999d")


# --- validation of bad data -----------------------------------------------------

VALID = """\
policy: SEC-POL-012
version: 1
sections:
  "3.1": Development
  "3.1.1": Lifecycle
  "3.2": Data
  "3.2.1": Training data
mappings:
  "3.1":
    soc2: ["CC8.1 System Development"]
  "3.2":
    hipaa: ["45 CFR 164.312(b) Audit Controls"]
controls:
  - id: SEC-311-01
    section: "3.1.1"
    group: Principles
    title: Threat modelling
    text: Threat modeling shall be conducted
    kind: attested
  - id: SEC-321-01
    section: "3.2.1"
    group: Protection
    title: Encrypt training data
    text: Encryption of all AI training datasets
    kind: automated
    evidence:
      actions: [datasets.registered]
      freshness: 30d
      evaluator: any_success
"""

EVIDENCE_BLOCK = """\
    evidence:
      actions: [datasets.registered]
      freshness: 30d
      evaluator: any_success
"""

EXTRA_CONTROL = """\
  - id: {id}
    section: "3.1.1"
    group: Principles
    title: Another control
    text: {text}
    kind: attested
  - id: SEC-321-01
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_catalog_loads(tmp_path: Path) -> None:
    catalog = load_catalog_from(_write(tmp_path, VALID))
    assert [c.id for c in catalog] == ["SEC-311-01", "SEC-321-01"]
    assert catalog.for_framework("hipaa") == (catalog.by_id("SEC-321-01"),)
    evidence = catalog.by_id("SEC-321-01").evidence
    assert evidence is not None
    assert evidence.freshness == datetime.timedelta(days=30)
    assert evidence.evaluator is Evaluator.ANY_SUCCESS


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param(
            "  - id: SEC-321-01\n",
            EXTRA_CONTROL.format(id="SEC-311-01", text="Something else"),
            "duplicate control id 'SEC-311-01'",
            id="duplicate-id",
        ),
        pytest.param(
            "  - id: SEC-321-01\n",
            EXTRA_CONTROL.format(id="SEC-311-02", text="Threat modeling shall be conducted"),
            "same text as control SEC-311-01",
            id="duplicate-text",
        ),
        pytest.param("id: SEC-311-01", "id: SEC-311-1", "id does not match", id="id-digits"),
        pytest.param("id: SEC-311-01", "id: sec-311-01", "id does not match", id="id-case"),
        pytest.param("id: SEC-311-01", "id: SEC-312-01", "SEC-311-<nn>", id="id-section"),
        pytest.param("id: SEC-311-01", "id: SEC-311-00", "start at 01", id="id-zero"),
        pytest.param(
            'section: "3.1.1"', 'section: "3.1.9"', "not a subsection", id="unknown-section"
        ),
        pytest.param('section: "3.1.1"', 'section: "3.1"', "not a subsection", id="top-section"),
        pytest.param('section: "3.1.1"', "section: 3.1", "non-empty string", id="float-section"),
        pytest.param("kind: attested", "kind: manual", "manual", id="kind"),
        pytest.param(EVIDENCE_BLOCK, "", "needs an evidence block", id="automated-no-evidence"),
        pytest.param(
            "    kind: attested\n",
            "    kind: attested\n" + EVIDENCE_BLOCK,
            "must not have an evidence block",
            id="attested-with-evidence",
        ),
        pytest.param(
            "evaluator: any_success", "evaluator: most_recent", "most_recent", id="evaluator"
        ),
        pytest.param("freshness: 30d", "freshness: 30x", "invalid duration", id="freshness-unit"),
        pytest.param("freshness: 30d", "freshness: 0d", "invalid duration", id="freshness-zero"),
        pytest.param("freshness: 30d", "freshness: 30", "string like '30d'", id="freshness-int"),
        pytest.param(
            "[datasets.registered]",
            "[datasets.registered, datasets.deleted]",
            "unknown ledger action.*datasets.deleted",
            id="unknown-action",
        ),
        pytest.param("[datasets.registered]", "[]", "non-empty list", id="no-actions"),
        pytest.param(
            "    kind: attested\n", "    kind: attested\n    owner: me\n", "owner", id="extra-key"
        ),
        pytest.param("    title: Threat modelling\n", "", "missing title", id="no-title"),
        pytest.param(
            "title: Threat modelling",
            "title: one two three four five six seven eight nine",
            "more than 8 words",
            id="long-title",
        ),
        pytest.param("soc2:", "iso27001:", "iso27001", id="unknown-framework"),
        pytest.param(
            '  "3.2":\n    hipaa', '  "3.9":\n    hipaa', "top-level section", id="mapping-section"
        ),
        pytest.param(
            '  "3.2":\n    hipaa: ["45 CFR 164.312(b) Audit Controls"]\n',
            "",
            "section 3.2 has no framework mappings",
            id="unmapped-section",
        ),
        pytest.param("version: 1", "version: 2", "unsupported catalog version", id="version"),
        pytest.param("policy: SEC-POL-012", "policy: [", "not valid YAML", id="yaml"),
    ],
)
def test_loader_rejects_bad_data(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert VALID.count(old) == 1, "test case must change exactly one place"
    path = _write(tmp_path, VALID.replace(old, new))
    with pytest.raises(ValueError, match=message) as excinfo:
        load_catalog_from(path)
    assert str(path) in str(excinfo.value)


@pytest.mark.parametrize("text", ["", "- just a list\n", "policy: SEC-POL-012\n"])
def test_loader_rejects_malformed_documents(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match="catalog"):
        load_catalog_from(_write(tmp_path, text))
