"""The SEC-POL-012 control catalog: packaged data, typed and validated.

``catalog.yaml`` (next to this module) turns every bullet of policy sections 3.1
to 3.6 into one control. Each control is ``automated`` (Vallum writes ledger
events that evidence it, described by an :class:`Evidence` block) or ``attested``
(an organisational control a person attests). Framework references from policy
table 4.1 are stated once per top-level section in the file and attached here to
every control of that section.

Any problem with the data raises :class:`ValueError` naming the file and the
offending entry; callers wrap it in their own error type.
"""

from __future__ import annotations

import datetime
import functools
import importlib.resources
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final, TypeVar

import yaml

__all__ = [
    "KNOWN_ACTIONS",
    "SUPPORTED_VERSION",
    "Catalog",
    "Control",
    "ControlKind",
    "Evaluator",
    "Evidence",
    "Framework",
    "FrameworkRef",
    "load_catalog",
    "load_catalog_from",
    "parse_duration",
]

#: Ledger action names that catalog evidence may refer to; the domains emit them.
KNOWN_ACTIONS: Final[frozenset[str]] = frozenset(
    {
        # kernel
        "system.initialized",
        "audit.verified",
        "audit.exported",
        "keys.rotated",
        "keys.shredded",
        "controls.attested",
        "blobs.stored",
        # identity
        "auth.login",
        "auth.mfa_enrolled",
        "auth.session_expired",
        "apikeys.created",
        "apikeys.rotated",
        "apikeys.revoked",
        "access.elevated",
        "access.break_glass",
        "access.reviewed",
        # models
        "models.scanned",
        "models.signed",
        "models.verified",
        "models.registered",
        "models.fingerprinted",
        "models.bom_generated",
        "models.gated",
        "models.exported",
        # datasets
        "datasets.registered",
        "datasets.lineage_recorded",
        "datasets.checked",
        "datasets.shredded",
        # gateway and detectors
        "gateway.request",
        "gateway.blocked",
        "gateway.rate_limited",
        "detect.phi_tokenized",
        "detect.output_filtered",
        "vendors.registered",
        "vendors.assessed",
        "routes.configured",
        # deployments
        "deployments.requested",
        "deployments.approved",
        "deployments.promoted",
        "deployments.rolled_back",
        "deployments.canary",
        # monitoring
        "monitor.drift_checked",
        "monitor.anomaly",
        "monitor.alert",
        "siem.exported",
        # incidents
        "incidents.opened",
        "incidents.contained",
        "incidents.closed",
        "incidents.evidence_exported",
        "incidents.reviewed",
        # red team
        "redteam.run",
    }
)

#: The catalog schema version this loader understands.
SUPPORTED_VERSION: Final = 1

#: Longest title, in words.
MAX_TITLE_WORDS: Final = 8

_ID_RE: Final = re.compile(r"SEC-(?P<digits>\d+)-(?P<n>\d{2})")
_SECTION_RE: Final = re.compile(r"\d+(?:\.\d+)+")
_DURATION_RE: Final = re.compile(r"(?P<n>[1-9][0-9]*)(?P<unit>[smhdw])")
_DURATION_UNITS: Final[Mapping[str, str]] = {
    "s": "seconds",
    "m": "minutes",
    "h": "hours",
    "d": "days",
    "w": "weeks",
}

_PACKAGE: Final = __name__.rpartition(".")[0]
_E = TypeVar("_E", bound=StrEnum)

_TOP_KEYS: Final = frozenset({"policy", "version", "sections", "mappings", "controls"})
_CONTROL_KEYS: Final = frozenset({"id", "section", "group", "title", "text", "kind"})
_CONTROL_OPTIONAL_KEYS: Final = frozenset({"evidence"})
_EVIDENCE_KEYS: Final = frozenset({"actions", "freshness", "evaluator"})


class Framework(StrEnum):
    """Compliance frameworks of policy table 4.1."""

    HITRUST = "hitrust"
    HIPAA = "hipaa"
    SOC2 = "soc2"
    NIST_CSF = "nist-csf"


class ControlKind(StrEnum):
    """How a control is evidenced."""

    AUTOMATED = "automated"
    """Vallum writes ledger events that evidence the control."""
    ATTESTED = "attested"
    """Organisational control; a person attests it."""


class Evaluator(StrEnum):
    """How matching ledger events inside the freshness window become a verdict."""

    LATEST_OUTCOME = "latest_outcome"
    """Pass when the newest matching event has outcome success, fail otherwise.

    For recurring jobs whose failure means the control is broken (key rotation,
    access review, ledger verification, SIEM export, red-team runs).
    """
    ANY_SUCCESS = "any_success"
    """Pass when any matching event shows the control operating (success, or denied).

    For gates, detectors and workflows, where a refusal is the control working.
    """


@dataclass(frozen=True, slots=True)
class Evidence:
    """What in the ledger evidences an automated control."""

    actions: tuple[str, ...]
    """Ledger actions that count as evidence (any of them), all in KNOWN_ACTIONS."""
    freshness: datetime.timedelta
    """How far back from the evaluation time evidence counts."""
    evaluator: Evaluator


@dataclass(frozen=True, slots=True)
class FrameworkRef:
    """One framework control reference, as written in policy table 4.1."""

    framework: Framework
    reference: str


@dataclass(frozen=True, slots=True)
class Control:
    """One bullet of SEC-POL-012 sections 3.1 to 3.6."""

    id: str
    section: str
    """Policy subsection, e.g. ``"3.1.1"``."""
    group: str
    """Bold group heading the bullet is under."""
    title: str
    text: str
    """The bullet text, verbatim."""
    kind: ControlKind
    evidence: Evidence | None
    """Set exactly when ``kind`` is automated."""
    mappings: tuple[FrameworkRef, ...]
    """Framework references of the control's top-level section."""

    @property
    def top_section(self) -> str:
        """The top-level policy section, e.g. ``"3.1"`` for ``"3.1.1"``."""
        return ".".join(self.section.split(".")[:2])

    @property
    def frameworks(self) -> frozenset[Framework]:
        """Frameworks this control maps to."""
        return frozenset(ref.framework for ref in self.mappings)

    def references(self, framework: Framework | str) -> tuple[str, ...]:
        """References of one framework, in table order (empty if unmapped)."""
        fw = Framework(framework)
        return tuple(ref.reference for ref in self.mappings if ref.framework is fw)


@dataclass(frozen=True, slots=True)
class Catalog:
    """All controls of one policy, in policy order."""

    policy: str
    version: int
    sections: Mapping[str, str]
    """Section number to title, for "3.1" and "3.1.1" alike."""
    controls: tuple[Control, ...]
    _by_id: Mapping[str, Control] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Control] = {}
        for control in self.controls:
            if control.id in index:
                raise ValueError(f"duplicate control id {control.id!r}")
            index[control.id] = control
        object.__setattr__(self, "sections", MappingProxyType(dict(self.sections)))
        object.__setattr__(self, "_by_id", MappingProxyType(index))

    def __iter__(self) -> Iterator[Control]:
        return iter(self.controls)

    def __len__(self) -> int:
        return len(self.controls)

    def by_id(self, control_id: str) -> Control:
        """The control with this id; :class:`KeyError` if there is none."""
        try:
            return self._by_id[control_id]
        except KeyError:
            raise KeyError(f"no control {control_id!r} in {self.policy}") from None

    def for_framework(self, framework: Framework | str) -> tuple[Control, ...]:
        """Controls mapped to a framework, in policy order.

        Raises :class:`ValueError` for a name that is not a :class:`Framework`.
        """
        fw = Framework(framework)
        return tuple(c for c in self.controls if fw in c.frameworks)


def parse_duration(text: str) -> datetime.timedelta:
    """Parse ``<n><unit>`` (unit one of s, m, h, d, w; n a positive integer).

    >>> parse_duration("30d")
    datetime.timedelta(days=30)
    """
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid duration {text!r}: expected a positive integer and a unit "
            "(s, m, h, d or w), e.g. '30d'"
        )
    try:
        return datetime.timedelta(**{_DURATION_UNITS[match["unit"]]: int(match["n"])})
    except OverflowError:
        raise ValueError(f"invalid duration {text!r}: too large") from None


@functools.cache
def load_catalog() -> Catalog:
    """The catalog shipped in the package (parsed and validated once)."""
    resource = importlib.resources.files(_PACKAGE).joinpath("catalog.yaml")
    return _parse(resource.read_text(encoding="utf-8"), source=f"{_PACKAGE}/catalog.yaml")


def load_catalog_from(path: str | os.PathLike[str]) -> Catalog:
    """Load and validate a catalog file from anywhere (tests, overrides)."""
    file = Path(path)
    return _parse(file.read_text(encoding="utf-8"), source=str(file))


# --- parsing and validation -------------------------------------------------------


def _parse(text: str, *, source: str) -> Catalog:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML: {exc}") from exc
    try:
        return _build(raw)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc


def _build(raw: object) -> Catalog:
    doc = _mapping(raw, "catalog")
    _check_keys(doc, "catalog", required=_TOP_KEYS)

    policy = _string(doc["policy"], "policy")
    version = doc["version"]
    if type(version) is not int or version != SUPPORTED_VERSION:
        raise ValueError(f"unsupported catalog version {version!r} (expected {SUPPORTED_VERSION})")

    sections = _sections(doc["sections"])
    mappings = _mappings(doc["mappings"], sections)

    raw_controls = doc["controls"]
    if not isinstance(raw_controls, list) or not raw_controls:
        raise ValueError("controls: must be a non-empty list")
    controls: list[Control] = []
    seen_ids: set[str] = set()
    seen_texts: dict[str, str] = {}
    for index, item in enumerate(raw_controls):
        control = _control(item, index, sections, mappings)
        if control.id in seen_ids:
            raise ValueError(f"duplicate control id {control.id!r}")
        if control.text in seen_texts:
            raise ValueError(
                f"control {control.id}: same text as control {seen_texts[control.text]}"
            )
        seen_ids.add(control.id)
        seen_texts[control.text] = control.id
        controls.append(control)
    return Catalog(policy=policy, version=version, sections=sections, controls=tuple(controls))


def _sections(raw: object) -> dict[str, str]:
    sections: dict[str, str] = {}
    for number, title in _mapping(raw, "sections").items():
        if not isinstance(number, str) or not _SECTION_RE.fullmatch(number):
            raise ValueError(
                f"sections: {number!r} is not a quoted section number like '3.1' or '3.1.1'"
            )
        sections[number] = _string(title, f"sections.{number}")
    for number in sections:
        parent = number.rpartition(".")[0]
        if number.count(".") > 1 and parent not in sections:
            raise ValueError(f"sections: {number} has no parent section {parent}")
    return sections


def _mappings(raw: object, sections: Mapping[str, str]) -> dict[str, tuple[FrameworkRef, ...]]:
    mappings: dict[str, tuple[FrameworkRef, ...]] = {}
    for number, by_framework in _mapping(raw, "mappings").items():
        where = f"mappings.{number}"
        if not isinstance(number, str) or number not in sections or number.count(".") != 1:
            raise ValueError(f"mappings: {number!r} is not a top-level section listed in sections")
        refs: list[FrameworkRef] = []
        for name, references in _mapping(by_framework, where).items():
            framework = _enum(Framework, name, f"{where}: framework")
            texts = _string_list(references, f"{where}.{name}")
            refs.extend(FrameworkRef(framework, text) for text in texts)
        if not refs:
            raise ValueError(f"{where}: maps to no framework")
        mappings[number] = tuple(refs)
    return mappings


def _control(
    raw: object,
    index: int,
    sections: Mapping[str, str],
    mappings: Mapping[str, tuple[FrameworkRef, ...]],
) -> Control:
    item = _mapping(raw, f"controls[{index}]")
    where = f"controls[{index}]"
    if isinstance(item.get("id"), str):
        where = f"control {item['id']}"
    _check_keys(item, where, required=_CONTROL_KEYS, optional=_CONTROL_OPTIONAL_KEYS)

    control_id = _string(item["id"], f"{where}.id")
    section = _string(item["section"], f"{where}.section")
    if section not in sections or section.count(".") != 2:
        raise ValueError(f"{where}: section {section!r} is not a subsection listed in sections")
    id_match = _ID_RE.fullmatch(control_id)
    if id_match is None or id_match["digits"] != section.replace(".", ""):
        expected = f"SEC-{section.replace('.', '')}-<nn>"
        raise ValueError(f"{where}: id does not match the pattern {expected} of its section")
    if id_match["n"] == "00":
        raise ValueError(f"{where}: control numbers start at 01")

    title = _string(item["title"], f"{where}.title")
    if len(title.split()) > MAX_TITLE_WORDS:
        raise ValueError(f"{where}: title has more than {MAX_TITLE_WORDS} words")

    kind = _enum(ControlKind, item["kind"], f"{where}.kind")
    if kind is ControlKind.AUTOMATED:
        if "evidence" not in item:
            raise ValueError(f"{where}: automated control needs an evidence block")
        evidence: Evidence | None = _evidence(item["evidence"], f"{where}.evidence")
    else:
        if "evidence" in item:
            raise ValueError(f"{where}: attested control must not have an evidence block")
        evidence = None

    top = ".".join(section.split(".")[:2])
    if top not in mappings:
        raise ValueError(f"{where}: section {top} has no framework mappings")

    return Control(
        id=control_id,
        section=section,
        group=_string(item["group"], f"{where}.group"),
        title=title,
        text=_string(item["text"], f"{where}.text"),
        kind=kind,
        evidence=evidence,
        mappings=mappings[top],
    )


def _evidence(raw: object, where: str) -> Evidence:
    block = _mapping(raw, where)
    _check_keys(block, where, required=_EVIDENCE_KEYS)
    actions = _string_list(block["actions"], f"{where}.actions")
    unknown = sorted(set(actions) - KNOWN_ACTIONS)
    if unknown:
        raise ValueError(f"{where}.actions: unknown ledger action(s) {', '.join(unknown)}")
    raw_freshness = block["freshness"]
    if not isinstance(raw_freshness, str):
        raise ValueError(f"{where}.freshness: must be a string like '30d', got {raw_freshness!r}")
    try:
        freshness = parse_duration(raw_freshness)
    except ValueError as exc:
        raise ValueError(f"{where}.freshness: {exc}") from None
    evaluator = _enum(Evaluator, block["evaluator"], f"{where}.evaluator")
    return Evidence(actions=actions, freshness=freshness, evaluator=evaluator)


def _enum(enum: type[_E], raw: object, where: str) -> _E:
    if isinstance(raw, str):
        try:
            return enum(raw)
        except ValueError:
            pass
    known = ", ".join(member.value for member in enum)
    raise ValueError(f"{where}: {raw!r} is not one of {known}")


def _mapping(raw: object, where: str) -> dict[object, object]:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a mapping, got {type(raw).__name__}")
    return raw


def _check_keys(
    raw: Mapping[object, object],
    where: str,
    *,
    required: frozenset[str],
    optional: frozenset[str] = frozenset(),
) -> None:
    missing = sorted(required - raw.keys())
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(str(key) for key in raw.keys() - required - optional)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _string(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"{where}: must be a non-empty string, got {raw!r}")
    if raw != raw.strip():
        raise ValueError(f"{where}: has leading or trailing whitespace")
    return raw


def _string_list(raw: object, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: must be a non-empty list of strings")
    items = tuple(_string(value, f"{where}[{i}]") for i, value in enumerate(raw))
    if len(set(items)) != len(items):
        raise ValueError(f"{where}: lists an entry twice")
    return items
