# ruff: noqa: E501, SIM905 - data tables and report lines read better unwrapped
"""Synthetic clinical notes with gold PHI spans, for bench/phi_bench.py.

Every value is invented here (own pools, random digits, valid check digits where
the identifier has one), so nothing comes from a real record or from the
detector's lexicons. Notes mix many section templates, identifier formats,
mixed case, ALL CAPS (like ICU nursing notes) and lower case. Seeded and
reproducible: ``generate(n, seed)``.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass

FIRST = (
    "James Maria Wei Aisha Olumide Priya Dmitri Sofia Mateo Hannah Kwame Yuki Fatima Liam Chloe "
    "Arjun Ingrid Tomasz Leilani Rashid Beatriz Connor Mei Oluwaseun Svetlana Diego Amara Henrik "
    "Nadia Kenji Grace Samuel Esperanza Tariq Elena Bogdan Siobhan Thabo Camille Rohan Ahmed Lucia "
    "Patrick Noor Gustavo Ewa Marcus Imani Vikram Astrid Jorge Yasmin Dorothy Harold Mildred Eugene"
).split()
LAST = (
    "Okafor Lindqvist Nakamura Castellanos Brennan Haddad Kowalski Abernathy Oyelaran Petrov "
    "Fitzgerald Ramirez Chowdhury Vasquez Delacroix Moreau Nguyen Adeyemi Schultz Oconnell "
    "Papadopoulos Ivanova Mbeki Rossi Kaur Delgado Whitfield Thornton Balogun Sandoval Hartmann "
    "Yilmaz Kaminski Obi Lachance Mendoza Achterberg Szabo Fairbanks Grunewald Iwu Pemberton "
    "Quintero Rasmussen Stavros Tremblay Underwood Varga Wojcik Zeller Holloway Marchetti"
).split()
CITIES = (
    "Baltimore|Springfield|Columbus|Sacramento|Tucson|Albany|Dayton|Fresno|Toledo|Macon|Tulsa|"
    "Boise|Des Moines|Little Rock|Cedar Rapids|Ann Arbor|Wichita|Lansing|Spokane|Provo|Reno|"
    "Towson|Catonsville|Bethesda|Framingham|Worcester|Quincy|Somerville|Yonkers|Scranton|Akron|"
    "Flagstaff|Chattanooga|Savannah|Green Bay|Fort Wayne|Lubbock|Augusta|Billings|Duluth"
).split("|")
STATES = "MD MA OH CA AZ NY TX GA OK ID IA AR MI KS WA UT NV PA TN WI IN MT MN".split()
STREETS = (
    "Maple|Oak|Cedar|Willow|Birch|Chestnut|Highland|Lakeview|Ridgewood|Sycamore|Magnolia|Prospect|"
    "Harbor|Meadowbrook|Kensington|Juniper|Fairview|Orchard|Riverside|Hawthorne|Linden|Beacon"
).split("|")
SUFFIX = "Street St Avenue Ave Road Rd Drive Dr Lane Ln Court Ct Boulevard Blvd Way Place Terrace".split()
HOSP_KIND = (
    "Memorial Hospital|General Hospital|Medical Center|Regional Medical Center|Community Hospital|"
    "Rehabilitation Center|Nursing Home|Clinic|Health Center|Hospice"
).split("|")
RELATION = "daughter son wife husband sister brother niece nephew granddaughter friend".split()
MONTHS = (
    "January February March April May June July August September October November December".split()
)


@dataclass(frozen=True)
class Note:
    text: str
    spans: tuple[tuple[str, int, int], ...]


def _digits(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(n))


def _luhn_complete(r: random.Random, prefix: str, length: int) -> str:
    body = prefix + _digits(r, length - len(prefix) - 1)
    for check in string.digits:
        cand = body + check
        total = 0
        for i, ch in enumerate(reversed(cand)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return cand
    raise AssertionError("unreachable")


def _npi(r: random.Random) -> str:
    while True:
        body = r.choice("12") + _digits(r, 8)
        for check in string.digits:
            cand = "80840" + body + check
            total = 0
            for i, ch in enumerate(reversed(cand)):
                d = int(ch) * (2 if i % 2 else 1)
                total += d - 9 if d > 9 else d
            if total % 10 == 0:
                return body + check


def _dea(r: random.Random, last: str) -> str:
    d = [r.randrange(10) for _ in range(6)]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return r.choice("ABFM") + last[0].upper() + "".join(map(str, d)) + str(check)


def _date(r: random.Random) -> str:
    y, m, d = r.randint(1930, 2025), r.randint(1, 12), r.randint(1, 28)
    return r.choice(
        [
            f"{m}/{d}/{y}",
            f"{m:02d}/{d:02d}/{y}",
            f"{m}/{d}/{y % 100:02d}",
            f"{m}/{d}",
            f"{y}-{m:02d}-{d:02d}",
            f"{MONTHS[m - 1]} {d}, {y}",
            f"{MONTHS[m - 1][:3]} {d}",
            f"{d} {MONTHS[m - 1]} {y}",
            f"{MONTHS[m - 1]} {y}",
            f"{d}-{MONTHS[m - 1][:3]}-{y}",
        ]
    )


def _phone(r: random.Random) -> str:
    a, b, c = r.randint(201, 989), r.randint(200, 999), _digits(r, 4)
    return r.choice(
        [
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"+1 {a} {b} {c}",
            f"{a}-{b}-{c} x{r.randint(10, 9999)}",
        ]
    )


def _value(r: random.Random, kind: str, ctx: dict[str, str]) -> str:
    f, s = ctx["first"], ctx["last"]
    match kind:
        case "PTNAME":
            return r.choice(
                [f"{f} {s}", f"{s}, {f}", f"{f} {r.choice(string.ascii_uppercase)}. {s}"]
            )
        case "FIRST":
            return f
        case "LAST":
            return s
        case "OTHERNAME":
            return f"{r.choice(FIRST)} {r.choice(LAST)}"
        case "OTHERFIRST":
            return r.choice(FIRST)
        case "DRLAST":
            return r.choice(LAST)
        case "DATE":
            return _date(r)
        case "AGE":
            return str(r.randint(90, 104))
        case "PHONE" | "FAX":
            return _phone(r)
        case "EMAIL":
            return f"{f.lower()}.{s.lower()}{r.randint(1, 99)}@{r.choice(['gmail.com', 'yahoo.com', 'outlook.com', 'mail.example.org'])}"
        case "SSN":
            return f"{r.randint(100, 665)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}"
        case "MRN":
            return r.choice(
                [
                    _digits(r, 7),
                    _digits(r, 8),
                    f"MR{_digits(r, 6)}",
                    f"{_digits(r, 3)}-{_digits(r, 2)}-{_digits(r, 2)}",
                ]
            )
        case "PLAN":
            return r.choice(
                [
                    f"{r.choice('ABCXYZ')}{r.choice('ABCXYZ')}{r.choice('ABCHJK')}{_digits(r, 9)}",
                    f"{_digits(r, 1)}EG{_digits(r, 1)}-TE{_digits(r, 1)}-MK{_digits(r, 2)}",
                    f"W{_digits(r, 9)}",
                ]
            )
        case "ACCOUNT":
            return r.choice(
                [_digits(r, 10), f"{_digits(r, 4)}-{_digits(r, 6)}", f"AC{_digits(r, 8)}"]
            )
        case "LICENSE":
            return r.choice(
                [
                    f"{r.choice(string.ascii_uppercase)}{_digits(r, 7)}",
                    f"{r.choice(string.ascii_uppercase)}{_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 3)}",
                    _digits(r, 9),
                ]
            )
        case "VIN":
            chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
            return (
                "".join(r.choice(chars) for _ in range(8))
                + r.choice("0123456789X")
                + "".join(r.choice(chars) for _ in range(8))
            )
        case "PLATE":
            return f"{''.join(r.choice(string.ascii_uppercase) for _ in range(3))}-{_digits(r, 4)}"
        case "DEVICE":
            return r.choice(
                [
                    f"SN{_digits(r, 8)}",
                    f"{''.join(r.choice(string.ascii_uppercase) for _ in range(3))}{_digits(r, 6)}",
                    f"PJN{_digits(r, 6)}H",
                ]
            )
        case "URL":
            return r.choice(
                [
                    f"https://www.{s.lower()}family.org/updates",
                    f"http://{f.lower()}{s.lower()}.net",
                    f"www.{s.lower()}-care.com",
                ]
            )
        case "IP":
            return (
                f"{r.randint(10, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
            )
        case "BIO":
            return f"FP-{_digits(r, 6)}-{r.choice(string.ascii_uppercase)}"
        case "OTHERID":
            return f"{r.choice(['CT', 'ST', 'ACC', 'CL'])}-{_digits(r, 6)}"
        case "STREET":
            return f"{r.randint(1, 9999)} {r.choice(STREETS)} {r.choice(SUFFIX)}" + r.choice(
                ["", "", f", Apt {r.randint(1, 40)}", f" Unit {r.randint(1, 9)}B"]
            )
        case "CITY":
            return r.choice(CITIES)
        case "ZIP":
            return _digits(r, 5)
        case "HOSP":
            return r.choice(
                [
                    f"{r.choice(LAST)} {r.choice(HOSP_KIND)}",
                    f"St. {r.choice(FIRST)}'s {r.choice(HOSP_KIND)}",
                    f"{r.choice(CITIES)} {r.choice(HOSP_KIND)}",
                ]
            )
        case "CARD":
            return _luhn_complete(r, r.choice(["4", "51", "37", "6011"]), 16)
        case "NPI":
            return _npi(r)
        case "DEA":
            return _dea(r, s)
    raise ValueError(kind)


GOLD_TYPE = {
    "PTNAME": "NAME", "FIRST": "NAME", "LAST": "NAME", "OTHERNAME": "NAME", "OTHERFIRST": "NAME",
    "DRLAST": "NAME", "DATE": "DATE", "AGE": "AGE_OVER_89", "PHONE": "PHONE", "FAX": "FAX",
    "EMAIL": "EMAIL", "SSN": "SSN", "MRN": "MRN", "PLAN": "HEALTH_PLAN_ID",
    "ACCOUNT": "ACCOUNT_NUMBER", "LICENSE": "LICENSE_NUMBER", "VIN": "VEHICLE_ID",
    "PLATE": "VEHICLE_ID", "DEVICE": "DEVICE_ID", "URL": "URL", "IP": "IP_ADDRESS",
    "BIO": "BIOMETRIC_ID", "OTHERID": "OTHER_UNIQUE_ID", "STREET": "GEOGRAPHIC",
    "CITY": "GEOGRAPHIC", "ZIP": "GEOGRAPHIC", "HOSP": "GEOGRAPHIC", "CARD": "CREDIT_CARD",
    "NPI": "NPI", "DEA": "DEA",
}  # fmt: skip

SECTIONS = (
    "Patient: {PTNAME}   DOB: {DATE}   MRN: {MRN}",
    "Name: {PTNAME}\nDate of admission: {DATE}\nAttending: Dr. {DRLAST}",
    "{PTNAME} is a {AGE} year old woman admitted on {DATE} with CHF exacerbation.",
    "Pt is a {AGE} yo male with hx of Parkinson disease and Crohn's, on warfarin and Lasix.",
    "HPI: Mr. {LAST} presented to the ED after a fall at home. Seen at {HOSP} on {DATE}.",
    "Social: lives at {STREET}, {CITY}, {STATE} {ZIP} with his {RELATION} {OTHERFIRST}.",
    "Lives alone in {CITY}. Daughter {OTHERNAME} is the health care proxy, tel {PHONE}.",
    "Family: {RELATION} {OTHERFIRST} called at 14:00, updated on plan of care. Call back at {PHONE}.",
    "Insurance: Medicare, member ID {PLAN}. Secondary: BCBS policy # {PLAN}.",
    "Billing account number: {ACCOUNT}. SSN {SSN}.",
    "Driver's license {LICENSE}; vehicle VIN {VIN}, license plate {PLATE}.",
    "Pacemaker serial number {DEVICE} interrogated on {DATE}; normal function.",
    "Patient portal: {URL}. Access from IP {IP} flagged by security.",
    "Fingerprint ID {BIO} on file for medication cabinet access.",
    "Enrolled in study, subject ID {OTHERID}. Consent signed {DATE}.",
    "Referred by Dr. {OTHERNAME} (NPI {NPI}, DEA {DEA}). Fax records to {FAX}.",
    "E-mail from patient ({EMAIL}) asking about Alzheimer's screening and Hodgkin lymphoma follow-up.",
    "Transferred from {HOSP} for cardiac cath. Follow up with Dr. {DRLAST} in 2 weeks.",
    "Copay paid with card {CARD}.",
    "Neuro: A&Ox3, MAE. Resp: LS clear, sats 96% on 2L NC. GI: abd soft, +BS. Plan: cont Lasix 40 mg IV bid.",
    "Assessment: Stable overnight. Heparin gtt at 900 units/hr, PTT 62. Will recheck in 6 hrs.",
    "Discussed with {OTHERNAME}, RN and {OTHERNAME}, MD. Plan agreed.",
    "{RELATION} {OTHERNAME} visited this evening, questions answered.",
    "Electronically signed: {OTHERNAME}, MD {DATE}",
    "D/C planning: to {HOSP} in {CITY} on {DATE}. Contact case manager {OTHERFIRST} at {PHONE}.",
    "Hx of Cushing syndrome, Graves disease; s/p Whipple procedure. Takes Coumadin, Synthroid.",
    "BP 132/78, HR 88, RR 18, T 98.6. Labs: Na 138, K 4.1, Cr 1.2.",
    "Seen today with {RELATION}. {FIRST} reports improved sleep; denies chest pain.",
)

RELATIONS = RELATION


def _fill(
    r: random.Random, template: str, ctx: dict[str, str]
) -> tuple[str, list[tuple[str, int, int]]]:
    out: list[str] = []
    spans: list[tuple[str, int, int]] = []
    pos = 0
    for part in re.split(r"(\{[A-Z]+\})", template):
        if part.startswith("{") and part.endswith("}"):
            kind = part[1:-1]
            if kind == "STATE":
                value = r.choice(STATES)
            elif kind == "RELATION":
                value = r.choice(RELATIONS)
            else:
                value = _value(r, kind, ctx)
                spans.append((GOLD_TYPE[kind], pos, pos + len(value)))
            out.append(value)
            pos += len(value)
        else:
            out.append(part)
            pos += len(part)
    return "".join(out), spans


def generate(n: int, seed: int) -> list[Note]:
    r = random.Random(seed)
    notes: list[Note] = []
    for _ in range(n):
        ctx = {"first": r.choice(FIRST), "last": r.choice(LAST)}
        chosen = r.sample(SECTIONS, r.randint(5, 10))
        text = ""
        spans: list[tuple[str, int, int]] = []
        for sec in chosen:
            body, sp = _fill(r, sec, ctx)
            spans.extend((t, s + len(text), e + len(text)) for t, s, e in sp)
            text += body + r.choice(["\n", "\n\n", " "])
        case = r.random()
        if case < 0.3:
            text = text.upper()
        elif case < 0.4:
            text = text.lower()
        notes.append(Note(text, tuple(spans)))
    return notes
