"""PhiDetector: every identifier type, positive and negative, and clinical allowlists."""

from __future__ import annotations

import pytest

from vallum.detect import DetectorConfig, Outcome, redact
from vallum.detect.phi import PHI_TYPES, PhiDetector

DET = PhiDetector()


def found(text: str) -> set[tuple[str, str]]:
    return {(f.type, text[f.start : f.end]) for f in DET.detect(text).findings}


POSITIVE = [
    ("NAME", "Patient: Maria Okafor was admitted.", "Maria Okafor"),
    ("NAME", "Seen by Dr. Henrik Lindqvist today.", "Henrik Lindqvist"),
    ("NAME", "SPOKE WITH DAUGHTER HEIDI ABOUT PLAN.", "HEIDI"),
    ("NAME", "Discussed with Priya Raman, RN at bedside.", "Priya Raman"),
    ("DATE", "Admitted on 03/14/2024 for CHF.", "03/14/2024"),
    ("DATE", "Follow up January 5, 2025 in clinic.", "January 5, 2025"),
    ("DATE", "Surgery 2023-11-02 was uneventful.", "2023-11-02"),
    ("AGE_OVER_89", "A 94 year old woman with dementia.", "94"),
    ("PHONE", "Call her at (410) 555-0142 tomorrow.", "(410) 555-0142"),
    ("FAX", "Fax: 410-555-0199 for records.", "410-555-0199"),
    ("EMAIL", "Email maria.okafor@example.com with results.", "maria.okafor@example.com"),
    ("SSN", "SSN 123-45-6789 on file.", "123-45-6789"),
    ("MRN", "MRN: 4482913", "4482913"),
    ("HEALTH_PLAN_ID", "Medicare member ID 1EG4-TE5-MK73.", "1EG4-TE5-MK73"),
    ("ACCOUNT_NUMBER", "Billing account number 0042-889123.", "0042-889123"),
    ("LICENSE_NUMBER", "Driver's license D1234567 verified.", "D1234567"),
    ("VEHICLE_ID", "Vehicle VIN 1HGCM82633A004352 towed.", "1HGCM82633A004352"),
    ("VEHICLE_ID", "License plate ABC-1234 in lot.", "ABC-1234"),
    ("DEVICE_ID", "Pacemaker serial number PJN123456H checked.", "PJN123456H"),
    (
        "URL",
        "Portal at https://www.okafor-family.org/updates today.",
        "https://www.okafor-family.org/updates",
    ),
    ("IP_ADDRESS", "Login from 192.168.10.24 was blocked.", "192.168.10.24"),
    ("BIOMETRIC_ID", "Fingerprint ID FP-883421-K enrolled.", "FP-883421-K"),
    ("GEOGRAPHIC", "Lives at 42 Elm Street with wife.", "42 Elm Street"),
    (
        "GEOGRAPHIC",
        "Transferred from Calvert Memorial Hospital overnight.",
        "Calvert Memorial Hospital",
    ),
    ("GEOGRAPHIC", "Springfield, IL 62704", "62704"),
    ("OTHER_UNIQUE_ID", "Enrolled in trial, subject ID CT-448812.", "CT-448812"),
    ("CREDIT_CARD", "Paid with card 4111 1111 1111 1111.", "4111 1111 1111 1111"),
    ("IBAN", "Refund to GB82 WEST 1234 5698 7654 32 please.", "GB82 WEST 1234 5698 7654 32"),
    ("NPI", "Referring NPI 1234567893.", "1234567893"),
    ("DEA", "Prescriber DEA AB1234563.", "AB1234563"),
]


@pytest.mark.parametrize(
    ("typ", "text", "value"), POSITIVE, ids=[p[0] + str(i) for i, p in enumerate(POSITIVE)]
)
def test_each_identifier_is_found(typ: str, text: str, value: str) -> None:
    assert (typ, value) in found(text)


def test_every_type_has_a_positive_example() -> None:
    assert {p[0] for p in POSITIVE} == set(PHI_TYPES)


NEGATIVE = [
    "Patient with Parkinson disease and Crohn's, started on warfarin.",
    "Hx of Alzheimer dementia and Hodgkin lymphoma in remission.",
    "BP 120/80, HR 72, Na 138, K 4.1, Cr 1.2; PEEP 5, PS 10/5.",
    "Card 4111 1111 1111 1112 is not a valid number.",
    "Give 1/2 tab of Lasix; strength 5/5 in all extremities.",
    "The patient is 45 years old and was seen in 2019.",
    "NEURO: ALERT AND ORIENTED, MAE. RESP: LUNGS CLEAR. GI: ABD SOFT.",
    "Refund to GB82 WEST 1234 5698 7654 33 please.",
    "Version 10.2.3 of the pump software.",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_clinical_text_without_identifiers_is_clean(text: str) -> None:
    assert found(text) == set()


def test_verdict_threshold_and_types() -> None:
    text = "Dr. Henrik Lindqvist called 410-555-0142."
    only_phone = PhiDetector(DetectorConfig(types=frozenset({"PHONE"}))).detect(text)
    assert {f.type for f in only_phone.findings} == {"PHONE"}
    assert only_phone.outcome is Outcome.FLAGGED
    assert PhiDetector().detect("Lungs clear.").outcome is Outcome.CLEAN


def test_redact_replaces_each_finding_with_its_type() -> None:
    text = "Patient: Maria Okafor, MRN: 4482913."
    assert redact(text, DET.detect(text).findings) == "Patient: [NAME], MRN: [MRN]."


def test_upper_case_notes() -> None:
    text = (
        "PT SEEN BY DR. OKONJO. WIFE GRETA LINDQVIST VISITED ON 7/22. "
        "TRANSFER FROM ASHBURY HOSPITAL."
    )
    got = found(text)
    assert ("NAME", "OKONJO") in got
    assert any(t == "NAME" and "GRETA" in v for t, v in got)
    assert ("DATE", "7/22") in got
    assert any(t == "GEOGRAPHIC" and "ASHBURY" in v for t, v in got)


def test_loads_lazily() -> None:
    det = PhiDetector()
    assert det._names is None
    det.detect("x")
    assert det._names is not None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("She lives at 5049 Harjukuja 54, Helsinki.", "5049 Harjukuja 54"),
        ("Office: Via Franscini 71, Lugano", "Via Franscini 71"),
        ("Ship to Suite 282 please", "Suite 282"),
        ("TRANSFERRED TO GH FOR CATH.", "GH"),
        ("Lives alone in Akron since 2001.", "Akron"),
    ],
)
def test_places(text: str, value: str) -> None:
    got = found(text)
    assert any(t == "GEOGRAPHIC" and value in v for t, v in got), got


@pytest.mark.parametrize(
    ("text", "value", "typ"),
    [
        ("Tomomi Nishiyama lives at 86036 Rua do Arenque 1634, Goiania", "86036", "GEOGRAPHIC"),
        ("Saw dr green this am, pain controlled.", "green", "NAME"),
        ("K+ repleted, Dr.King aware.", "King", "NAME"),
        ("Dr. Griffin and Swackhamer aware of the plan.", "Swackhamer", "NAME"),
        ("She had a heart transplant at Holy Cross last year.", "Holy Cross", "GEOGRAPHIC"),
        ("Was accepted by St. Agnes rehab.", "St. Agnes", "GEOGRAPHIC"),
        ("KEEP ROMERO FAMILY AWARE OF PLAN.", "ROMERO", "NAME"),
        ("Sons Smokey, Morris and Roger in to visit.", "Roger", "NAME"),
        ("TRANSFERED BACK TO QUARTERMAIN 3 POST PROCEDURE.", "QUARTERMAIN", "GEOGRAPHIC"),
    ],
)
def test_context_cues(text: str, value: str, typ: str) -> None:
    got = found(text)
    assert any(t == typ and value in v for t, v in got), got


@pytest.mark.parametrize(
    "text",
    [
        "Multiple family members at bedside.",
        "Remains in A-fib, HR 110s. Changed from AC to C-pap.",
        "EKG with nonspecific ST changes, 1 ST DEGREE AV BLOCK.",
        "Dermatology feels the rash is contact dermatitis.",
        "Dr aware and notified of the plan.",
        "Lasix given at 10 mg, BP is at 120 today.",
    ],
)
def test_context_cues_quiet(text: str) -> None:
    got = found(text)
    assert not any(t in {"NAME", "GEOGRAPHIC"} for t, _v in got), got


def test_address_block_lines_are_places() -> None:
    text = "Send to:\n28245 Puruntie 82 Apt. 595\nLAPPEENRANTA\n53650\n\nThanks"
    got = {v for t, v in found(text) if t == "GEOGRAPHIC"}
    assert "LAPPEENRANTA" in got and "53650" in got


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("MARTIN J. KOWALEWSKI, RRT", "MARTIN J. KOWALEWSKI"),
        ("PER T. FENWICKE AWARE", "T. FENWICKE"),
        ("social: son frank called for update", "frank"),
        ("dr. parkinson aware of labs", "parkinson"),
        ("Joe Wrzesniak (son) called", "Joe Wrzesniak"),
        ("Łukasz Kowalczyk was admitted", "Łukasz Kowalczyk"),
    ],
)
def test_names_in_hard_places(text: str, value: str) -> None:
    assert ("NAME", value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Weaned to PSV 12/5 at 35%; flowby 4/2; vent settings 12/5/40%.",
        "CO 4.8/55 post cath. Night shift 1900-0700 quiet.",
        "3 WAY FOLEY DRAINING. HR 80 AV PACED. SAT 95% ON 3L NP.",
        "S. aureus and E. coli grew; transferred to ICU.",
    ],
)
def test_icu_shorthand_is_not_phi(text: str) -> None:
    assert found(text) == set()
