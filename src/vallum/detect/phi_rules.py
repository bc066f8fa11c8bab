# ruff: noqa: E501 - long regular expressions read better on one line
"""Pattern rules for the structured PHI identifiers (dates, numbers, addresses).

Each :class:`Rule` is a compiled regex with the group that holds the identifier,
a base score and an optional validator (check digits, plausible ranges). Cue
rules (``MRN: ...``, ``member id ...``) find the value after a keyword; the
keyword itself is not part of the finding. Everything here is compiled once,
on the first detection (see :func:`rules`).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from vallum.detect.checksums import dea_valid, iban_valid, luhn_valid, npi_valid

__all__ = ["FAX_CUE", "PREFILTERS", "Rule", "rules"]

Validator = Callable[[str, str, int], float | None]
"""Given (value, text, start): a score capping the rule's, or ``None`` to drop it."""


@dataclass(frozen=True, slots=True)
class Rule:
    type: str
    regex: re.Pattern[str]
    score: float
    group: str | int = 0
    validate: Validator | None = None
    anchors: frozenset[str] = frozenset()
    """Three-letter word prefixes where the rule may match (then it is only tried there)."""
    gate: frozenset[str] = frozenset()
    """Run the rule only when the text has a word with one of these prefixes."""
    needs: tuple[str, ...] = ()
    """Run the rule only when the text contains one of these strings."""
    digit_led: bool = False
    """Matches start at a digit run (or a ``(``/``+`` just before one): tried only there."""
    run: Callable[[int, str], bool] | None = None
    """For digit-led rules: which runs (length, next character) can start a match."""
    pre: str = ""
    """Name of a cheap whole-text test (see :data:`PREFILTERS`) that must pass first."""
    lead: str = ""
    """Matches start near a digit run: ``letters2`` (two letters right before it, as in
    DEA and IBAN numbers) or ``word17`` (the start of a 17+ character alphanumeric word
    holding it, as in a VIN). Tried only there."""


_STREET_TAIL = re.compile(
    r"(?:vej|v[äa]gen|gatan|gata|katu|kuja|tie|laan|straat|stra(?:ss|ß)e|gasse|weg|platz|vegen|"
    r"veien|gade|allee|steig|ring|utca|ulica|cesta|sokak)\.?\s+\d"
)
PREFILTERS: dict[str, Callable[[str], bool]] = {
    "mac": lambda t: t.count(":") >= 5 or t.count("-") >= 5,
    "ipv6": lambda t: "::" in t or t.count(":") >= 7,
    "street_tail": lambda t: _STREET_TAIL.search(t) is not None,
    "tld": lambda t: _TLD.search(t) is not None,
}
"""Whole-text tests, each computed at most once per text, that gate the costlier rules."""


MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_ORD = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]\d\d|20\d\d|'?\d\d)"
_TIME = r"(?:[T ,]+(?:at\s+)?\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[ap]\.?m\.?)?(?:\s*(?:Z|[+-]\d{2}:?\d{2}))?)?"

# Value after a cue: letters/digits with inner separators; must hold a digit.
_VAL = r"(?P<v>(?=[A-Za-z0-9\-./]*\d)[A-Za-z0-9](?:[A-Za-z0-9\-./]{1,28}[A-Za-z0-9])?)"
_SEP = (
    r"(?:\s*(?:number|num|no\.?|nbr|#|id|identifier|code)\b)?\s*(?:is|was|of|=)?\s*[:#=\-]?\s*#?\s*"
)

FAX_CUE = re.compile(r"(?i)\b(?:fax|facsimile|telefax)\b[^\n\d]{0,14}$")


_MARK = r"\s*(?:number|num|no\.?|nbr|#|id|identifier|code)(?![A-Za-z])"
_TAIL = r"\s*(?:is|was|of|=)?\s*[:#=\-]?\s*#?\s*"


_CUE_KEYS: dict[str, set[str]] = {}


def _cue(words: str, weak: str = "") -> str:
    """``words`` take a value with or without a marker; ``weak`` only with one.

    A marker is ``number``, ``no.``, ``#``, ``id``...; a strong cue also takes
    ``MRN: 1234`` or ``MRN 1234`` (at least a separator).
    """
    for alt in f"{words}|{weak}".split("|"):
        m = re.match(r"[a-z]+", alt)
        if m:
            _CUE_KEYS.setdefault(words, set()).add(m.group()[:3])
    strong = rf"\b(?:{words})(?![A-Za-z0-9])(?:{_MARK})?{_TAIL}"
    pattern = rf"(?i:{strong})" + _VAL
    if weak:
        pattern = rf"(?i:{strong}|\b(?:{weak})(?![A-Za-z0-9]){_MARK}{_TAIL})" + _VAL
    _CUE_KEYS[pattern] = _CUE_KEYS.pop(words)
    return pattern


def _id_value(value: str, _text: str = "", _start: int = 0) -> float | None:
    digits = sum(c.isdigit() for c in value)
    if digits < 2 and len(value) < 5:
        return None
    if re.fullmatch(r"\d{1,2}[/.]\d{1,2}(?:[/.]\d{2,4})?", value):
        return None  # a date after "admission" is a date, not an id
    return None if digits == 0 else 1.0


def _ssn(value: str, _text: str = "", _start: int = 0) -> float | None:
    d = "".join(c for c in value if c.isdigit())
    if len(d) != 9 or d[:3] in {"000", "666"} or d[3:5] == "00" or d[5:] == "0000":
        return None
    return 0.95 if d[0] != "9" else 0.7


def _card(value: str, _text: str = "", _start: int = 0) -> float | None:
    d = "".join(c for c in value if c.isdigit())
    if not 13 <= len(d) <= 19:
        return None
    return 0.95 if luhn_valid(d) else None


def _iban(value: str, _text: str = "", _start: int = 0) -> float | None:
    return 0.95 if iban_valid(value) else None


def _npi(value: str, _text: str = "", _start: int = 0) -> float | None:
    return 0.95 if npi_valid(value) else 0.6


def _dea(value: str, _text: str = "", _start: int = 0) -> float | None:
    return 0.9 if dea_valid(value) else None


def _ip(value: str, _text: str = "", _start: int = 0) -> float | None:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv4Address) and value.count(".") != 3:
        return None
    return 0.9


_VIN_LETTERS = dict(
    zip(
        "ABCDEFGHJKLMNPRSTUVWXYZ",
        (1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9),
        strict=True,
    )
)


def _vin(value: str, _text: str = "", _start: int = 0) -> float | None:
    v = value.upper()
    if sum(c.isdigit() for c in v) < 3 or sum(c.isalpha() for c in v) < 3:
        return None
    weights = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
    trans = {c: i for i, c in enumerate("0123456789")} | _VIN_LETTERS
    total = sum(trans.get(c, 0) * w for c, w in zip(v, weights, strict=True))
    check = "X" if total % 11 == 10 else str(total % 11)
    return 0.95 if v[8] == check else 0.75


_DATE_CUE = re.compile(
    r"(?i)\b(?:on|since|from|until|till|thru|through|by|dated?|dob|d\.o\.b\.?|admitted|admission|"
    r"discharged?|d/c|seen|born|visit|last|next|due|started|stopped|starting|surgery|"
    r"mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday|of|and|-|to|s/p|on\s+the|in|at|since|hx|h/o|dated|echo|cath|signed|md|rn|do|np|pa|dated|date|dos|doa)\W{0,3}$"
)
_NOT_DATE_CUE = re.compile(
    r"(?i)\b(?:ps|psv|peep|cpap|bipap|ac|a/c|simv|imv|vent|settings?|flowby|str|strength|bp|nbp|abp|art|cvp|pap|"
    r"pa|ratio|x|grade|scale|score|ie|i:e|fio2|tv|rate|mg|mcg|tabs?|dose|of)\W{0,3}$"
)


_NOT_DATE_AFTER = re.compile(
    r"(?i)\s*(?:peep|ps\b|cpap|bipap|x\b|mg|mcg|units?\b|%|cm|mm|ml|cc|l\b|lpm|rr|bpm|tabs?\b|"
    r"strength|str\b|power|motor|grips?|ratio)"
)


def _num_date(value: str, text: str = "", start: int = 0) -> float | None:
    """Month/day(/year). A bare ``m/d`` may be a ratio or a setting: judge by context."""
    head = value.split()[0]
    seps = set(re.findall(r"[/\-.]", head))
    if len(seps) > 1:
        return None  # 5.6/67: a measurement, not a date
    parts = re.split(r"[/\-.]", head)
    before = text[max(0, start - 14) : start]
    if _NOT_DATE_AFTER.match(text, start + len(value)):
        return None
    if len(parts) >= 3:
        return None if _NOT_DATE_CUE.search(before) and len(parts[2]) == 2 else 0.9
    if value[len(parts[0])] != "/":
        return None  # "2.5" and "1-2" without a year are numbers and ranges
    if _DATE_CUE.search(before):
        return 0.85
    if _NOT_DATE_CUE.search(before):
        return None
    num, den = int(parts[0]), int(parts[1])
    if num <= den <= 10 or num == den:
        return 0.3  # 1/2, 3/4, 5/5: fractions and strengths
    return 0.7


def _phone_digits(value: str, _text: str = "", _start: int = 0) -> float | None:
    n = sum(c.isdigit() for c in value)
    return 1.0 if 7 <= n <= 15 or value.lower().startswith("x") else None


def _phone_groups(value: str, _text: str = "", _start: int = 0) -> float | None:
    """Digit groups that look like a phone number (8 to 13 digits, groups of 2+)."""
    n = sum(c.isdigit() for c in value)
    if not 8 <= n <= 13 or re.fullmatch(r"\d{1,2}[ .\-]\d{1,2}[ .\-]\d{2,4}", value):
        return None
    if re.fullmatch(r"([01]\d|2[0-4])[0-5]\d\s*-\s*([01]\d|2[0-4])[0-5]\d", value):
        return None  # a shift: 1900-0700
    seps = set(re.findall(r"[ .\-]", value))
    if len(seps) > 1 and "(" not in value:
        return None
    return 1.0


_NOT_FACILITY = frozenset(
    [
        "ICU",
        "MICU",
        "SICU",
        "CCU",
        "CSRU",
        "PACU",
        "NICU",
        "PICU",
        "ED",
        "ER",
        "OR",
        "OSH",
        "EH",
        "PH",
        "BH",
        "DH",
        "HH",
        "SH",
        "TH",
        "CH",
        "UH",
        "WH",
    ]
)


def _acronym(value: str, _text: str = "", _start: int = 0) -> float | None:
    """A hospital acronym after a transfer cue (GH, MGH, BIDMC); not unit names or words."""
    vowels = [i for i, c in enumerate(value) if c in "AEIOUY"]
    if value in _NOT_FACILITY or len(vowels) > 1 or (vowels and vowels != [0]):
        return None
    return 1.0


# Street suffixes that are also clinical abbreviations (Dr, CT, ST segment, PL...).
_AMBIGUOUS_SUFFIX = frozenset(
    [
        "dr",
        "ct",
        "st",
        "pl",
        "ter",
        "cir",
        "ln",
        "way",
        "row",
        "walk",
        "loop",
        "park",
        "hill",
        "hills",
        "ridge",
        "grove",
        "close",
        "square",
        "sq",
    ]
)


def _house(value: str, _text: str = "", _start: int = 0) -> float | None:
    """``12 Oak St``; not ``2 mediastinal CT`` or ``0 KCL NOT GIVEN DR``."""
    words = re.findall(r"[A-Za-z][A-Za-z'\-]*|\d+", value)
    number = words[0] if words and words[0].isdigit() else ""
    suffix = next((w for w in reversed(words) if w.lower() in _AMBIGUOUS_SUFFIX), "")
    if not suffix:
        return 0.9
    middle = [w for w in words[1:] if w is not suffix and not w.isdigit()]
    title = all(w[0].isupper() and not (len(w) > 2 and w.isupper()) for w in middle)
    if (title and not suffix.isupper()) or (len(number) >= 3 and len(middle) <= 3):
        return 0.9
    return None


def _age(value: str, _text: str = "", _start: int = 0) -> float | None:
    return 0.9 if 90 <= int(value) <= 125 else None


def _zip(value: str, text: str = "", start: int = 0) -> float | None:
    """Five digits right after a state (``MD 21201``, ``Maryland, 21201``)."""
    if value.startswith("00") or not _STATE_BEFORE.search(text, max(0, start - 20), start):
        return None
    return 0.85


STREET_SUFFIX = (
    r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
    r"terrace|ter|circle|cir|parkway|pkwy|highway|hwy|route|rte|square|sq|trail|trl|crescent|"
    r"cres|close|plaza|alley|row|walk|pike|turnpike|expressway|freeway|loop|mews|"
    r"gardens|hill|hills|heights|crossing|commons|park|ridge|grove|"
    r"strasse|straße|str|weg|gasse|platz|allee|rue|calle|viale|avenida|rua|ulica|"
    r"vej|gatan|gata|katu|tie|laan|straat|plein|utca|cesta|sokak|caddesi"
)
_UNIT = r"(?:,?\s*(?:apt|apartment|suite|ste|unit|#|room|rm|fl|floor|bldg|building)\.?\s*#?\s*[A-Za-z0-9\-]{1,6})?"

US_STATES = (
    r"AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|"
    r"NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP|AA|AE|AP"
)
STATE_NAMES = (
    r"Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    r"Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|"
    r"Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|"
    r"New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|"
    r"Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|"
    r"West Virginia|Wisconsin|Wyoming"
)

STATE_ZIP = re.compile(rf"(?i),\s*(?:{US_STATES})\.?,?\s+\d{{5}}(?:-\d{{4}})?(?![\w\-])")
_STATE_BEFORE = re.compile(rf"(?i)(?:\b(?:{US_STATES})|\b(?:{STATE_NAMES}))\.?,?\s+$")

FACILITY = (
    r"hospital|medical center|medical centre|health center|health centre|health system|clinic|"
    r"infirmary|nursing home|nursing facility|rehab(?:ilitation)?(?: center| centre| hospital)?|"
    r"hospice|sanatorium|healthcare|health care|memorial|university hospital|children's|"
    r"general|regional|community hospital|surgery center|care center|skilled nursing|"
    r"assisted living|senior living|manor|pavilion|va medical center"
)


def _build() -> tuple[Rule, ...]:
    c = re.compile
    r: list[Rule] = [
        Rule(
            "EMAIL",
            c(
                r"(?i)(?<![\w.+\-])[a-z0-9][a-z0-9._%+\-]{0,63}@(?:[a-z0-9\-]{1,63}\.)+[a-z]{2,24}\b"
            ),
            0.98,
        ),
        Rule("URL", c(r"(?i)\b(?:https?|ftp|sftp)://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]"), 0.95),
        Rule(
            "URL",
            c(r"(?i)\bwww\.[a-z0-9\-]+(?:\.[a-z0-9\-]+)+(?:/[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]])?"),
            0.95,
        ),
        Rule(
            "URL",
            c(
                r"(?<![@\w.\-])(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+"
                r"(?:com|org|net|edu|gov|mil|int|info|biz|io|ai|uk|ca|au|de|fr|es|nl|"
                r"ch|se|dk|fi|pl|cz|ru|jp|cn|br|mx|ar|nz|ie|eu|health|care|"
                r"clinic|hospital|app|dev|me|tv|ly|name|pro|online|site|tech|cloud|COM|ORG|NET|EDU|GOV)"
                r"(?:/[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]])?(?![\w\-])"
            ),
            0.85,
        ),
        Rule(
            "IP_ADDRESS",
            c(r"(?<![\w.])(?P<v>(?:\d{1,3}\.){3}\d{1,3})(?!\w|\.\d)"),
            0.9,
            "v",
            _ip,
        ),
        Rule(
            "IP_ADDRESS",
            c(
                r"(?i)(?<![\w:])(?P<v>(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|"
                r"(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?|"
                r"::(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4})(?![\w:])"
            ),
            0.9,
            "v",
            _ip,
        ),
        Rule(
            "DEVICE_ID",
            c(r"(?i)(?<![\w:\-])(?:[0-9a-f]{2}[:\-]){5}[0-9a-f]{2}(?![\w:\-])"),
            0.85,
        ),
        Rule(
            "SSN",
            c(r"(?<![\w\-])(?P<v>\d{3}[- ]\d{2}[- ]\d{4}|\d{3}\.\d{2}\.\d{4})(?![\w\-])"),
            0.9,
            "v",
            _ssn,
        ),
        Rule("SSN", c(_cue(r"ssn|social security|soc\.? sec\.?|ss#?")), 0.95, "v", _ssn),
        Rule(
            "CREDIT_CARD",
            c(r"(?<![\w\-])(?P<v>(?:\d[ \-]?){12,18}\d)(?![\w\-])"),
            0.95,
            "v",
            _card,
        ),
        Rule(
            "IBAN",
            c(r"(?<![A-Za-z0-9])(?P<v>[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{2,4}){3,8})(?![A-Za-z0-9])"),
            0.95,
            "v",
            _iban,
        ),
        Rule(
            "NPI",
            c(_cue(r"npi|national provider identifier|national provider id")),
            0.95,
            "v",
            _npi,
        ),
        Rule("DEA", c(r"(?<![A-Za-z0-9])(?P<v>[A-Za-z]{2}\d{7})(?![A-Za-z0-9])"), 0.9, "v", _dea),
        # Phones (FAX when a fax cue precedes; resolved in the detector).
        Rule(
            "PHONE",
            c(
                r"(?i)(?<![\w+/\-.])(?P<v>(?:\+?1[\s.\-]?|001[\s.\-])?(?:\(\d{3}\)\s?|\d{3}[\s.\-])"
                r"\d{3}[\s.\-]\d{4}(?:\s*(?:x|ext\.?|extension)\s*\d{1,6})?)(?![\w\-])"
            ),
            0.9,
            "v",
        ),
        Rule(
            "PHONE",
            c(
                r"(?<![\w+])(?P<v>\+(?:[1-9]\d{0,2})[\s.\-]?(?:\(?\d{1,5}\)?[\s.\-]?){1,5}\d{2,6})(?![\w\-])"
            ),
            0.85,
            "v",
            _phone_digits,
        ),
        Rule(
            "PHONE",
            c(
                r"(?i)\b(?:phone|tel|telephone|cell|mobile|pager|beeper|ph|fax|call(?:ed)?|contact|"
                r"home|work|office|beep(?:er)?)\b\.?[:\s#]*(?:at\s+|is\s+)?"
                r"(?P<v>\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}|\d{3}[\s.\-]\d{4}|\d{10}|"
                r"x\s?\d{4,5}|\d-\d{4}|\d{5})(?![\w\-])"
            ),
            0.85,
            "v",
        ),
        Rule(
            "PHONE",
            c(
                r"(?<![\w.+\-/])(?P<v>(?:\(\d{1,4}\)\s?)?\d{2,5}(?:[ .\-]\d{2,5}){1,4}|0\d{8,11})"
                r"(?![\w]|[.\-/]\d)"
            ),
            0.6,
            "v",
            _phone_groups,
        ),
        # Dates (elements of dates; bare years are not PHI).
        Rule(
            "DATE",
            c(
                r"(?i)(?<![\w/.\-])(?P<v>(?:19|20)\d\d[\-/.](?:0?[1-9]|1[0-2])[\-/.](?:0?[1-9]|[12]\d|3[01])"
                + _TIME
                + r")(?![\w/\-])"
            ),
            0.95,
            "v",
        ),
        Rule(
            "DATE",
            c(
                r"(?<![\w/.\-])(?P<v>(?:0?[1-9]|1[0-2])[/\-.](?:0?[1-9]|[12]\d|3[01])"
                r"(?:[/\-.](?:19|20)?\d\d)?" + _TIME + r")(?![\w/]|[.\-]\d)"
            ),
            0.9,
            "v",
            _num_date,
        ),
        Rule(
            "DATE",
            c(
                r"(?<![\w/.\-])(?P<v>(?:0?[1-9]|1[0-2])/(?:3[2-9]|[4-9]\d|(?:19|20)\d\d))(?![\w/]|[.\-]\d)"
            ),
            0.7,
            "v",
        ),
        Rule(
            "GEOGRAPHIC",
            c(
                r"(?i:\b(?:transferred|transfer|admitted|discharged|sent|returned|brought|"
                r"taken|d/c'?d|to|from|at)\s+(?:to\s+|from\s+|at\s+)?)"
                r"(?P<v>[A-Z]{1,4}(?:H|MC|HC|HS)|[A-Z]{1,3}MH)\b"
            ),
            0.6,
            "v",
            _acronym,
        ),
        Rule(
            "DATE",
            c(
                r"(?<![\w/.\-])(?P<v>(?:1[3-9]|2\d|3[01])[/\-.](?:0?[1-9]|1[0-2])[/\-.](?:19|20)?\d\d"
                + _TIME
                + r")(?![\w/]|[.\-]\d)"
            ),
            0.9,
            "v",
        ),
        Rule(
            "DATE",
            c(
                rf"(?i)\b(?P<v>(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+)?"
                rf"{MONTH}\.?\s+\d{{1,2}}{_ORD}(?:,?\s+{_YEAR})?{_TIME})(?![\w])"
            ),
            0.95,
            "v",
        ),
        Rule(
            "DATE",
            c(
                rf"(?i)\b(?P<v>\d{{1,2}}{_ORD}\s*(?:of\s+)?(?:-\s*)?{MONTH}\.?(?:[\s,\-]+{_YEAR})?{_TIME})(?![\w])"
            ),
            0.95,
            "v",
        ),
        Rule("DATE", c(rf"(?i)\b(?P<v>{MONTH}\.?,?\s+(?:of\s+)?(?:19|20)\d\d)\b"), 0.9, "v"),
        Rule(
            "DATE",
            c(
                r"(?i)\b(?P<v>(?:christmas|thanksgiving|easter|new year'?s?(?: day| eve)?|halloween|"
                r"valentine'?s day|independence day|memorial day|labor day)(?: (?:19|20)\d\d)?)\b"
            ),
            0.6,
            "v",
        ),
        # Ages over 89.
        Rule(
            "AGE_OVER_89",
            c(
                r"(?i)(?<![\w.])(?P<v>9\d|1[01]\d|12[0-5])\s*-?\s*(?:years?|yrs?|y/?o\b|y\.o\.?|yo\b|"
                r"year[- ]old|-?year-old|m\b|f\b|male|female|man|woman|yom|yof)"
            ),
            0.9,
            "v",
            _age,
        ),
        Rule(
            "AGE_OVER_89",
            c(r"(?i)\b(?:age[ds]?|aged|age:)\s*(?:of\s+)?:?\s*(?P<v>9\d|1[01]\d|12[0-5])\b"),
            0.9,
            "v",
            _age,
        ),
        # Cue-based identifiers.
        Rule(
            "MRN",
            c(
                _cue(
                    r"mrn|medical record(?: number)?|med\.? rec\.?|m\.r\.|mr#|mr no\.?|emr|ehr",
                    r"mr|record|chart|hospital|unit|patient|pt|hosp|epic|cerner|meditech",
                )
            ),
            0.85,
            "v",
            _id_value,
        ),
        Rule(
            "HEALTH_PLAN_ID",
            c(
                _cue(
                    r"member(?:ship)?|subscriber|policy|insurance|health plan|beneficiary|"
                    r"medicare|medicaid|mbi|hicn|medi-cal|tricare",
                    r"insurer|plan|group|payer|payor|coverage|blue cross|bcbs|aetna|cigna|humana|"
                    r"united ?healthcare|kaiser|hmo|ppo",
                )
            ),
            0.85,
            "v",
            _id_value,
        ),
        Rule(
            "ACCOUNT_NUMBER",
            c(
                _cue(
                    r"account|acct|billing account|bank account|invoice",
                    r"billing|checking|savings|routing|swift",
                )
            ),
            0.85,
            "v",
            _id_value,
        ),
        Rule(
            "LICENSE_NUMBER",
            c(
                _cue(
                    r"driver'?s?'? licen[cs]e|driving licen[cs]e|licen[cs]e|medical licen[cs]e|"
                    r"state licen[cs]e|certificate",
                    r"dl|lic\.?|cert\.?|permit|registration|board certification",
                )
            ),
            0.85,
            "v",
            _id_value,
        ),
        Rule(
            "VEHICLE_ID",
            c(
                r"(?i:\b(?:licen[cs]e plate|plate|registration plate|tag number|vehicle registration)\b"
                r"(?:\s*(?:number|no\.?|#|id))?\s*(?:is|was|of)?\s*[:#=\-]?\s*)"
                r"(?P<v>(?=[A-Za-z0-9\- ]*\d)[A-Za-z0-9]{1,4}[ \-]?[A-Za-z0-9]{2,5}(?:[ \-]\d{1,4})?)\b"
            ),
            0.85,
            "v",
            _id_value,
        ),
        Rule(
            "VEHICLE_ID",
            c(r"(?i)\b(?P<v>[A-HJ-NPR-Z0-9]{17})\b"),
            0.85,
            "v",
            _vin,
        ),
        Rule(
            "VEHICLE_ID",
            c(_cue(r"vin|vehicle identification|chassis", r"vehicle|car|truck|motorcycle|boat")),
            0.9,
            "v",
            _id_value,
        ),
        Rule(
            "DEVICE_ID",
            c(
                _cue(
                    r"serial(?: number| no\.?)?|s/n|udi|imei|meid|iccid|udid|device id|"
                    r"device serial|asset tag",
                    r"sn|device|pacemaker|icd|defibrillator|implant|pump|lot|model|catalog|hardware|"
                    r"stimulator|lvad|insulin pump|cochlear|hearing aid|monitor",
                )
            ),
            0.85,
            "v",
            _id_value,
        ),
        Rule(
            "BIOMETRIC_ID",
            c(
                r"(?i:\b(?:fingerprint|finger print|retina(?:l)?(?: scan)?|iris(?: scan)?|"
                r"voice ?print|face ?print|facial(?: recognition| geometry)?|palm ?print|biometric|"
                r"dna(?: profile)?|genetic|gait signature|hand geometry|vein pattern)"
                r"(?:\s*(?:scan|template|record|profile|sample|hash|signature))?"
                r"(?:\s*(?:id|identifier|number|no\.?|code|#|ref(?:erence)?|hash))?\s*(?:is|was)?\s*[:#=\-]?\s*)"
                r"(?P<v>(?=[A-Za-z0-9\-_]*\d)[A-Za-z0-9][A-Za-z0-9\-_.]{3,63}[A-Za-z0-9])"
            ),
            0.9,
            "v",
        ),
        Rule(
            "OTHER_UNIQUE_ID",
            c(
                _cue(
                    r"patient id|id|passport|national id|nhs|tax id|ein|itin|username|user id|"
                    r"accession|specimen id|barcode|wristband|armband|fin|csn",
                    r"case|study|subject|trial|specimen|sample|employee|badge|staff|student|"
                    r"encounter|visit|admission|claim|order|requisition|ticket|reference|ref|tin|"
                    r"customer|client|user|login|bed tag|voter|member|enrollment|registry|"
                    r"identification|har|episode",
                )
            ),
            0.8,
            "v",
            _id_value,
        ),
        # Places.
        Rule(
            "GEOGRAPHIC",
            c(
                rf"(?i)(?<![\w\-])(?P<v>\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?\s+(?:[NSEW]\.?\s+|north|south|east|west\s+)?"
                rf"(?:(?!(?:in|on|at|of|to|and|the|with|for|is|was|per|via|x)\s)(?:[A-Za-z]{{1,3}}\.|[A-Za-z][A-Za-z'\-]*)\s+|"
                rf"\d+(?:st|nd|rd|th)\s+){{1,4}}?(?:{STREET_SUFFIX})\b\.?{_UNIT})"
            ),
            0.9,
            "v",
            _house,
        ),
        Rule(
            "GEOGRAPHIC",
            c(r"(?i)\b(?P<v>(?:apt|apartment|suite|ste)\.?\s*#?\s*\d{1,5}[A-Za-z]?)\b"),
            0.8,
            "v",
        ),
        Rule(
            "GEOGRAPHIC",
            c(
                r"(?<![\w\-])(?P<v>(?:\d{1,6}\s+)?[A-ZÀ-Þ][^\W\d_]*(?:vej|vägen|vagen|gatan|gata|katu|kuja|tie|"
                r"laan|straat|strasse|straße|gasse|weg|platz|vegen|veien|gade|allee|steig|ring|"
                r"utca|ulica|cesta|sokak)\.?\s+\d{1,5}[A-Za-z]?)(?![\w\-])"
            ),
            0.8,
            "v",
        ),
        Rule(
            "GEOGRAPHIC",
            c(
                r"(?<![\w\-])(?P<v>(?:\d{1,6}\s+)?(?:Via|Viale|Piazza|Corso|Rue|Calle|Avenida|Rua|Praça|"
                r"Largo|ul\.|ulica|Plac|Aleja|Avinguda|Carrer|Boulevard|Chemin|Allée|Place)\s+"
                r"(?:[A-Za-zÀ-ÿ'][\w'\-]*\s+){1,4}\d{1,5}[A-Za-z]?)(?![\w\-])"
            ),
            0.8,
            "v",
        ),
        Rule(
            "GEOGRAPHIC",
            c(r"(?i)\b(?P<v>(?:p\.?\s?o\.?\s*box|post office box|box)\s*#?\s*\d{1,6})\b"),
            0.9,
            "v",
        ),
        Rule(
            "GEOGRAPHIC",
            c(r"(?<![\w\-])(?P<v>\d{5}(?:-\d{4})?)(?![\w\-])"),
            0.9,
            "v",
            _zip,
        ),
        Rule(
            "GEOGRAPHIC",
            c(
                r"(?i)\b(?:zip|zip code|postal code|postcode|zipcode)\s*[:#]?\s*(?P<v>[A-Z0-9]{3,5}(?:[ \-][A-Z0-9]{3,4})?)\b"
            ),
            0.9,
            "v",
        ),
        Rule(
            "GEOGRAPHIC",
            c(
                r"(?i:\b(?:lives|living|live|resides|residing|reside|located|is|moved|stays?|staying)"
                r"\s+(?:at|to)\s+|\baddress(?:\s+is)?\s*[:\-]?\s*)"
                rf"(?P<v>\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?(?=[ ,]+[A-ZÀ-Þ\d])(?:[ ,]+(?!{_NOT_ADDRESS_WORD})"
                r"(?:[^\W\d_][^\s,.;:!?]*(?:\.(?=[ ,]+\w))?|\d{1,6}[A-Za-z]?\b)){2,8})"
            ),
            0.92,
            "v",
        ),
    ]
    return tuple(r)


# Words that end a street address found after "lives at <number>" (units, times, prose).
_NOT_ADDRESS_WORD = (
    r"(?i:am|pm|mg|mcg|ml|cc|units?|hours?|hrs?|mins?|minutes|days?|weeks?|months?|years?|yrs?|"
    r"times|x|lpm|percent|and|or|the|a|an|to|in|on|with|since|for|who|which|that|his|her|their|"
    r"when|while|but|because|until|where|is|was|has|had|he|she|they|we|i|o'clock)\b"
)


MONTH_KEYS = frozenset(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
)
_DAY_KEYS = frozenset(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
_WORD_LED: dict[str, frozenset[str]] = {
    "(?i:\\b(?:lives|living": frozenset(["liv", "res", "loc", "is", "mov", "sta", "add"]),
    "(?i)\\b(?P<v>(?:(?:mon": MONTH_KEYS | _DAY_KEYS,
    "(?i)\\b(?P<v>(?:jan": MONTH_KEYS,
    "(?i)\\b(?P<v>(?:christmas": frozenset(
        ["chr", "tha", "eas", "new", "hal", "val", "ind", "mem", "lab"]
    ),
    "(?i)\\b(?:age[ds]?": frozenset({"age"}),
    "(?i:\\b(?:transferred": frozenset(
        ["tra", "adm", "dis", "sen", "ret", "bro", "tak", "d", "to", "fro", "at"]
    ),
    "(?i)\\b(?P<v>(?:apt": frozenset(["apt", "apa", "sui", "ste"]),
    "(?i)\\b(?:phone": frozenset(
        [
            "pho",
            "tel",
            "cel",
            "mob",
            "pag",
            "bee",
            "ph",
            "fax",
            "cal",
            "con",
            "num",
            "hom",
            "wor",
            "off",
        ]
    ),
    "(?i)\\b(?:zip": frozenset(["zip", "pos"]),
    "(?i)\\b(?P<v>(?:p\\.?": frozenset(["p", "po", "pos", "box"]),
    "(?i:\\b(?:fingerprint": frozenset(
        ["fin", "ret", "iri", "voi", "fac", "pal", "bio", "dna", "gen", "gai", "han", "vei"]
    ),
    "(?i:\\b(?:licen[cs]e plate": frozenset(["lic", "pla", "reg", "tag", "veh"]),
}
_FOREIGN_STREET_KEYS = frozenset(
    [
        "via",
        "pia",
        "cor",
        "rue",
        "cal",
        "ave",
        "rua",
        "pra",
        "lar",
        "ul",
        "uli",
        "pla",
        "ale",
        "car",
        "bou",
        "che",
        "all",
    ]
)
_GATED: dict[str, frozenset[str]] = {
    "(?i)\\b(?P<v>\\d{1,2}": MONTH_KEYS,
}


_LOOKBEHIND = re.compile(r"^(?:\(\?i\))?(?:\(\?<![^)]*\))?(?:\(\?P<v>)?")
_DIGIT_STARTS = ("\\d", "(?:\\d", "(?:0?", "(?:1[", "(?:19", "9\\d", "(?:\\+?1", "(?:\\(\\d", "\\+")


def _digit_led(pattern: str) -> bool:
    rest = pattern[_LOOKBEHIND.match(pattern).end() :]  # type: ignore[union-attr]
    if rest.startswith("(?:\\d{1,6}\\s+)?"):
        return False  # the number is optional: the match may start with a letter
    return rest.startswith(_DIGIT_STARTS)


def _run_ip(n: int, c: str) -> bool:
    return 0 < n <= 3 and c == "."


def _run_ssn(n: int, c: str) -> bool:
    return n == 3 and c in "- ."


def _run_card(n: int, _c: str) -> bool:
    return n >= 4


def _run_age(n: int, _c: str) -> bool:
    return n in (2, 3)


def _run_iso_date(n: int, c: str) -> bool:
    return n == 4 and c in "-/."


def _run_date(n: int, c: str) -> bool:
    return 0 < n <= 2 and c in "/-."


def _run_zip(n: int, _c: str) -> bool:
    return n == 5


def _run_house(n: int, c: str) -> bool:
    return 0 < n <= 6 and (c in " \t-" or c.isalpha())


def _run_plus(n: int, c: str) -> bool:
    return n == 0 and c == "+"


def _run_filter(rule: Rule) -> Callable[[int, str], bool] | None:
    """Which digit runs can start a match of this rule (None: all).

    Module-level functions, so rules sharing one share its positions per text.
    """
    p = rule.regex.pattern
    if rule.type == "IP_ADDRESS":
        return _run_ip
    if rule.type == "SSN":
        return _run_ssn
    if rule.type == "CREDIT_CARD":
        return _run_card
    if rule.type == "AGE_OVER_89":
        return _run_age
    if rule.type == "DATE" and "(?:19|20)\\d\\d[\\-/.]" in p[:60]:
        return _run_iso_date
    if rule.type == "DATE":
        return _run_date
    if rule.type == "GEOGRAPHIC" and p.startswith("(?<![\\w\\-])(?P<v>\\d{5}"):
        return _run_zip
    if rule.type == "GEOGRAPHIC":
        return _run_house
    if rule.type == "PHONE" and p.startswith("(?<![\\w+])(?P<v>\\+"):
        return _run_plus
    return None


_TLD_HINTS = tuple(
    f".{t}"
    for t in [
        "com",
        "org",
        "net",
        "edu",
        "gov",
        "mil",
        "int",
        "info",
        "biz",
        "io",
        "ai",
        "uk",
        "ca",
        "au",
        "de",
        "fr",
        "es",
        "nl",
        "ch",
        "se",
        "dk",
        "fi",
        "pl",
        "cz",
        "ru",
        "jp",
        "cn",
        "br",
        "mx",
        "ar",
        "nz",
        "ie",
        "eu",
        "health",
        "care",
        "clinic",
        "hospital",
        "app",
        "dev",
        "online",
        "site",
        "tech",
        "cloud",
        "COM",
        "ORG",
        "NET",
        "EDU",
        "GOV",
    ]
)


_TLD: re.Pattern[str] = re.compile(
    "(?:" + "|".join(re.escape(h) for h in _TLD_HINTS) + r")(?![A-Za-z0-9\-])"
)


def _keyed(rule: Rule) -> Rule:
    pattern = rule.regex.pattern
    if _digit_led(pattern):
        rule = dataclasses.replace(rule, digit_led=True)
        rule = dataclasses.replace(rule, run=_run_filter(rule))
    if rule.type == "EMAIL":
        rule = dataclasses.replace(rule, needs=("@",))
    elif pattern.startswith("(?i)\\b(?:https?|ftp"):
        rule = dataclasses.replace(rule, needs=("://",))
    elif pattern.startswith("(?i)\\bwww"):
        rule = dataclasses.replace(rule, needs=("www", "WWW", "Www"))
    elif pattern.startswith("(?i)(?<![\\w:])(?P<v>(?:[0-9a-f]{1,4}:)"):
        rule = dataclasses.replace(
            rule, needs=("::", ":0", ":1", ":2", ":3", ":4", ":5", ":6"), pre="ipv6"
        )
    elif pattern.startswith("(?i)(?<![\\w:\\-])(?:[0-9a-f]{2}[:\\-])"):
        rule = dataclasses.replace(rule, pre="mac")
    elif rule.type in {"DEA", "IBAN"} and pattern.startswith("(?<![A-Za-z0-9])(?P<v>[A-"):
        rule = dataclasses.replace(rule, lead="letters2")
    elif rule.type == "VEHICLE_ID" and pattern.startswith("(?i)\\b(?P<v>[A-HJ"):
        rule = dataclasses.replace(rule, lead="word17")
    elif pattern.startswith("(?<![\\w\\-])(?P<v>(?:\\d{1,6}\\s+)?[A-Z"):
        rule = dataclasses.replace(rule, pre="street_tail")
    elif pattern.startswith("(?<![\\w\\-])(?P<v>(?:\\d{1,6}\\s+)?(?:Via"):
        rule = dataclasses.replace(rule, gate=_FOREIGN_STREET_KEYS)
    elif pattern.startswith("(?<![@\\w.\\-])(?:[A-Za-z0-9]"):
        rule = dataclasses.replace(rule, pre="tld")

    if pattern in _CUE_KEYS:
        return dataclasses.replace(rule, anchors=frozenset(_CUE_KEYS[pattern]))
    for prefix, keys in _WORD_LED.items():
        if pattern.startswith(prefix):
            return dataclasses.replace(rule, anchors=keys)
    for prefix, keys in _GATED.items():
        if pattern.startswith(prefix):
            return dataclasses.replace(rule, gate=keys)
    return rule


@functools.cache
def rules() -> tuple[Rule, ...]:
    """The compiled rules (built on first call)."""
    return tuple(_keyed(r) for r in _build())
