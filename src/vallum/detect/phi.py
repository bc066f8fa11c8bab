"""PHI/PII detector: the 18 HIPAA Safe Harbor identifiers plus cards, IBAN, NPI, DEA.

Structured identifiers come from compiled pattern rules with check digits and
cues (:mod:`vallum.detect.phi_rules`); names and places from context,
capitalisation and lexicons (:mod:`vallum.detect.phi_names`). Overlapping
findings are resolved in favour of the higher score, then the longer span.
Recall first: in de-identification a miss is a breach, so ambiguous spans are
reported with a lower score rather than dropped (raise ``threshold`` to trade
recall for precision).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator

from vallum.detect.phi_names import NameFinder, lexicons
from vallum.detect.phi_rules import FAX_CUE, PREFILTERS, rules
from vallum.detect.types import DetectorConfig, Finding, Verdict

__all__ = ["PHI_TYPES", "PhiDetector"]

PHI_TYPES = frozenset(
    {
        "NAME",
        "DATE",
        "AGE_OVER_89",
        "PHONE",
        "FAX",
        "EMAIL",
        "SSN",
        "MRN",
        "HEALTH_PLAN_ID",
        "ACCOUNT_NUMBER",
        "LICENSE_NUMBER",
        "VEHICLE_ID",
        "DEVICE_ID",
        "URL",
        "IP_ADDRESS",
        "BIOMETRIC_ID",
        "GEOGRAPHIC",
        "OTHER_UNIQUE_ID",
        "CREDIT_CARD",
        "IBAN",
        "NPI",
        "DEA",
    }
)

# Tie-break when two findings overlap with equal score: the more specific wins.
_PRIORITY = {
    "EMAIL": 9,
    "URL": 7,
    "CREDIT_CARD": 8,
    "IBAN": 8,
    "SSN": 8,
    "NPI": 8,
    "DEA": 7,
    "IP_ADDRESS": 7,
    "FAX": 6,
    "PHONE": 5,
    "DATE": 5,
    "AGE_OVER_89": 5,
}


class PhiDetector:
    """Find PHI/PII in text (name ``phi``). Data loads on the first :meth:`detect`."""

    name = "phi"

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self._names: NameFinder | None = None
        self._lock = threading.Lock()

    def _finder(self) -> NameFinder:
        if self._names is None:
            with self._lock:
                if self._names is None:
                    rules()
                    self._names = NameFinder(lexicons())
        return self._names

    def find(self, text: str) -> list[Finding]:
        """Every finding, before threshold and type filtering, overlaps resolved."""
        names = self._finder()
        raw: list[Finding] = []
        tokens = names.tokens(text)
        starts: dict[str, list[int]] = {}
        for tok in tokens[0]:
            starts.setdefault(tok.low[:3], []).append(tok.start)
        digits: list[tuple[int, int, str]] = []  # (position, run length, next character)
        size = len(text)
        for d in _DIGITS.finditer(text):
            p, e = d.span()
            if p and text[p - 1] in "(+":
                digits.append((p - 1, 0, text[p - 1]))
            digits.append((p, e - p, text[e] if e < size else ""))
        passed: dict[str, bool] = {}
        positions: dict[object, list[int]] = {}
        for rule in rules():
            if rule.pre:
                ok = passed.get(rule.pre)
                if ok is None:
                    ok = passed[rule.pre] = PREFILTERS[rule.pre](text)
                if not ok:
                    continue
            if rule.digit_led:
                run = rule.run
                at = positions.get(run)
                if at is None:
                    at = positions[run] = [p for p, n, c in digits if run is None or run(n, c)]
                if not at:
                    continue
                found: Iterable[re.Match[str]] = _at(rule.regex, text, at)
            elif rule.lead:
                at = positions.get(rule.lead)
                if at is None:
                    at = positions[rule.lead] = _leads(rule.lead, text, digits)
                if not at:
                    continue
                found = _at(rule.regex, text, at)
            elif rule.anchors:
                if rule.anchors.isdisjoint(starts):
                    continue
                keys = rule.anchors.intersection(starts)
                if len(keys) == 1:
                    at = starts[next(iter(keys))]
                else:
                    at = sorted({p for key in keys for p in starts[key]})
                found = _at(rule.regex, text, at)
            else:
                if rule.gate and rule.gate.isdisjoint(starts):
                    continue
                if rule.needs and not any(n in text for n in rule.needs):
                    continue
                found = rule.regex.finditer(text)
            for m in found:
                value = m.group(rule.group)
                score = rule.score
                if rule.validate is not None:
                    checked = rule.validate(value, text, m.start(rule.group))
                    if checked is None:
                        continue
                    score = min(checked, rule.score)
                start, end = m.span(rule.group)
                typ = rule.type
                if typ == "PHONE" and FAX_CUE.search(text, max(0, start - 24), start):
                    typ = "FAX"
                raw.append(Finding(typ, start, end, score, self.name))
        for typ, start, end, score in names.find(text, tokens):
            raw.append(Finding(typ, start, end, score, self.name))
        if "\n" in text:
            raw.extend(self._address_lines(text, raw))
        return _merge_names(text, _resolve(raw))

    def _address_lines(self, text: str, found: list[Finding]) -> list[Finding]:
        """The short lines under a street address (city, region, postcode lines)."""
        extra: list[Finding] = []
        for f in found:
            if f.type != "GEOGRAPHIC" or f.score < 0.8:
                continue
            pos = text.find("\n", f.end)
            if pos == -1 or pos - f.end > 48:
                continue
            rest = text[f.end : pos]
            if rest.strip(" ,.") and not _ADDRESS_LINE.match(rest):
                continue
            for _ in range(3):
                nl = text.find("\n", pos + 1)
                line_end = len(text) if nl == -1 else nl
                if line_end - pos > 48 or not text[pos + 1 : line_end].strip():
                    break
                m = _ADDRESS_LINE.match(text, pos + 1, line_end)
                if m is None:
                    break
                extra.append(Finding("GEOGRAPHIC", m.start("v"), m.end("v"), 0.7, self.name))
                if nl == -1:
                    break
                pos = nl
        return extra

    def detect(self, text: str) -> Verdict:
        findings = self.find(text)
        types = self.config.types
        if types is not None:
            findings = [f for f in findings if f.type in types]
        kept = [f for f in findings if f.score >= self.config.threshold]
        return Verdict.from_findings(self.name, kept, self.config.threshold)


_DIGITS = re.compile(r"\d+")
_ADDR_WORD = r"(?:[A-ZÀ-Þ][^\W_]*\.?|\d{3,6}|\(\w+\)|nan)"
_ADDRESS_LINE = re.compile(
    rf"[\s>?*,\-]*(?P<v>{_ADDR_WORD}(?:[ ,]+(?:{_ADDR_WORD}|[A-Za-z]\.?))*)[\s,.]*$"
)


def _leads(kind: str, text: str, digits: list[tuple[int, int, str]]) -> list[int]:
    """Where a ``lead`` rule may start, from the digit runs (see ``Rule.lead``)."""
    out: list[int] = []
    if kind == "letters2":
        for p, n, _c in digits:
            if n and p >= 2 and text[p - 2 : p].isalpha() and text[p - 2 : p].isascii():
                out.append(p - 2)
        return out
    size, last = len(text), -1
    for p, n, _c in digits:
        if not n or p < last:
            continue
        k = p
        while k and text[k - 1].isalnum():
            k -= 1
        e = p + n
        while e < size and text[e].isalnum():
            e += 1
        last = e
        if e - k >= 17:
            out.append(k)
    return out


def _at(regex: re.Pattern[str], text: str, positions: list[int]) -> Iterator[re.Match[str]]:
    """Matches of ``regex`` anchored at ``positions`` (sorted), not overlapping."""
    end = -1
    for pos in positions:
        if pos < end:
            continue
        m = regex.match(text, pos)
        if m is not None:
            end = m.end()
            yield m


def _merge_names(text: str, findings: list[Finding]) -> list[Finding]:
    """Join NAME findings separated only by spaces ("MARTIN" + "J. KOWALEWSKI")."""
    out: list[Finding] = []
    for f in findings:
        last = out[-1] if out else None
        if (
            last is not None
            and f.type == last.type == "NAME"
            and text[last.end : f.start].strip(" ") == ""
            and f.start - last.end <= 2
        ):
            out[-1] = Finding("NAME", last.start, f.end, max(last.score, f.score), f.detector)
        else:
            out.append(f)
    return out


def _resolve(findings: list[Finding]) -> list[Finding]:
    """Keep the best of overlapping findings (score, specificity, length)."""
    ordered = sorted(
        findings,
        key=lambda f: (-f.score, -_PRIORITY.get(f.type, 0), -(f.end - f.start), f.start),
    )
    kept: list[Finding] = []
    for f in ordered:
        if any(f.start < k.end and k.start < f.end for k in kept):
            continue
        kept.append(f)
    kept.sort(key=lambda f: (f.start, f.end))
    return kept
