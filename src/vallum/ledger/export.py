"""Export ledger events to SIEMs: JSON Lines, OCSF 1.3.0 JSON, ArcSight CEF.

Every formatter takes one ledger event (a mapping with ``seq``, ``time``,
``actor``, ``action``, ``subject``, ``outcome``, ``data``, ``prev_hash`` and
``hash``) and returns exactly one line with no trailing newline: the caller
frames lines (``"\\n".join``, syslog, HTTP batches). A malformed event raises
``ValueError`` in every format, so a SIEM never receives a half-mapped record.

JSON Lines
----------
The event as compact JSON, keys sorted, UTF-8 kept as is (``ensure_ascii``
off). U+0085, U+2028 and U+2029, which JSON allows raw but many line readers
treat as line breaks, are written as ``\\u`` escapes (same JSON value).

OCSF
----
Schema version ``OCSF_VERSION`` (1.3.0, August 2024). In 1.3.0
``metadata.uid`` is "the logging system-assigned unique identifier of an event
instance", which the chain hash is; moving to 1.7.0 or later, where it names
the OCSF record itself, means putting the hash in
``metadata.original_event_uid`` instead. The class is chosen from the first
segment of ``action``:

==================  ==========================  =====================  =========================
action              OCSF class (class_uid)      category (uid)         activity_id (by last verb)
==================  ==========================  =====================  =========================
``auth.*``          Authentication (3002)       IAM (3)                login/logon 1 Logon,
                                                                       logout/logoff 2 Logoff,
                                                                       else 99 Other
``apikeys.*``       Account Change (3001)       IAM (3)                created 1 Create,
                                                                       enabled 2 Enable,
                                                                       disabled 5 Disable,
                                                                       revoked/deleted 6 Delete,
                                                                       else 99 Other
``access.*``        Account Change (3001)       IAM (3)                granted 7 Attach Policy,
                                                                       revoked 8 Detach Policy,
                                                                       else 99 Other
anything else       API Activity (6003)         Application (6)        created 1 Create,
                                                                       read/viewed/exported 2 Read,
                                                                       updated 3 Update,
                                                                       deleted/shredded 4 Delete,
                                                                       else 99 Other
==================  ==========================  =====================  =========================

Why these classes:

* Authentication is OCSF's class for log-on attempts "successfully or
  otherwise"; its required ``user`` is the principal that authenticated (the
  ``user:``/``apikey:`` subject, else the actor), and ``service`` (Vallum)
  meets its "service or dst_endpoint" constraint.
* Account Change covers creating, enabling, disabling and deleting an
  account and attaching or detaching an IAM policy. Vallum API keys are
  principals (they appear as actors), so their lifecycle and access grants
  are account changes of the principal named by ``subject``, which fills the
  required ``user`` (the key id also goes in ``user.credential_uid``).
  Entity Management (3004) would fit API keys too, but it loses the "this is
  a credential or privilege change" meaning that IAM detections key on.
* Everything else is an operation by an actor (user, API key or system), via the
  Vallum control plane, on one named resource, with an outcome: API
  Activity's shape (``actor``, ``api.operation`` = action, ``resources`` =
  subject). The Base Event (0) would be valid, but it has no ``actor`` or
  ``resources``, so SIEMs could not search it by who or what.
* Verbs without a clear CRUD (or logon) meaning, such as ``attested``,
  ``scanned``, ``blocked`` and ``break_glass``, use 99 Other with the verb in
  ``activity_name``, as OCSF prescribes, instead of a misleading CRUD id.

Other attributes: ``type_uid`` = ``class_uid * 100 + activity_id`` (and
``type_name`` is the caption of that type, so "...: Other" for 99); ``time``
is epoch milliseconds (the microseconds stay in ``metadata.original_time``);
``status_id`` is 1 Success or 2 Failure, with the Vallum outcome (failure,
denied, error) in ``status_detail``; ``metadata`` holds the product (Vallum,
vendor Vallum, the Vallum version), the schema version, ``uid`` = chain hash,
``sequence`` = seq, ``event_code`` = action. ``actor`` is ``actor.user`` for
``user:`` and ``apikey:`` principals and ``actor.app_name`` "Vallum" for
``system``. The whole original event is kept under ``unmapped`` so the record
can still be checked against the hash chain.

API Activity requires ``src_endpoint``; the ledger deliberately records no
network origin, so it is ``{"name": "unknown"}`` (which meets the endpoint's
"at least one of ip, uid, name, ..." constraint) and no address is invented.

CEF
---
``CEF:0|Vallum|Vallum|<version>|<action>|<action> <outcome>|<severity>|<ext>``
following ArcSight's "Implementing ArcSight CEF": in header fields ``\\`` and
``|`` are backslash-escaped and, as the header may not span lines, CR and LF
become spaces; in extension values ``\\`` and ``=`` are backslash-escaped and
CR and LF are written ``\\r`` and ``\\n``, which is lossless. CEF has no
escape for other characters: they pass through as UTF-8 (U+2028 included;
syslog frames on LF). Extension keys, in this order: ``rt`` (event time,
epoch ms), ``externalId`` (seq), ``cat`` (first segment of action), ``act``
(action), ``outcome``, ``suser`` (actor), ``cs1``/``cs1Label`` subject,
``cs2``/``cs2Label`` hash, ``cs3``/``cs3Label`` prev_hash, ``msg`` (compact
JSON of ``data``). ArcSight stores at most 1023 characters of ``msg``; the
formatter does not truncate it.

Severity (CEF 0-10 and OCSF severity_id)
----------------------------------------
Every rule that matches applies, and the highest row wins:

====================================  ====  ===================
rule                                  CEF   OCSF severity_id
====================================  ====  ===================
outcome success                       3     1 Informational
action ``gateway.blocked``            6     2 Low
outcome failure, denied or error      7     3 Medium
action ``keys.shredded``              8     3 Medium
verb ``break_glass`` (any domain)     9     4 High
====================================  ====  ===================
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple, assert_never

from vallum import __version__

__all__ = [
    "OCSF_VERSION",
    "ExportFormat",
    "Formatter",
    "formatter_for",
    "to_cef",
    "to_jsonl",
    "to_ocsf",
]

OCSF_VERSION: Final = "1.3.0"
"""The OCSF schema version the OCSF formatter targets (``metadata.version``)."""

Formatter = Callable[[Mapping[str, Any]], str]
"""One ledger event in, one line out (no trailing newline)."""

_PRODUCT: Final = "Vallum"
_VENDOR: Final = "Vallum"
_OUTCOMES: Final = frozenset({"success", "failure", "denied", "error"})
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)


class ExportFormat(enum.StrEnum):
    """The line formats the ledger can be exported in."""

    JSONL = "jsonl"
    OCSF = "ocsf"
    CEF = "cef"


def formatter_for(fmt: ExportFormat, *, product_version: str = __version__) -> Formatter:
    """The formatter for ``fmt``; ``product_version`` is reported as the Vallum version."""
    match fmt:
        case ExportFormat.JSONL:
            return to_jsonl
        case ExportFormat.OCSF:
            return functools.partial(to_ocsf, product_version=product_version)
        case ExportFormat.CEF:
            return functools.partial(to_cef, product_version=product_version)
        case _:
            assert_never(fmt)


# --- parsing -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Event:
    seq: int
    time: str
    time_ms: int
    actor: str
    action: str
    subject: str
    outcome: str
    data: Mapping[str, Any]
    prev_hash: str
    hash: str

    @property
    def domain(self) -> str:
        return self.action.split(".", 1)[0]

    @property
    def verb(self) -> str:
        return self.action.rsplit(".", 1)[-1]


def _parse(event: Mapping[str, Any]) -> _Event:
    """Check the fields every format relies on; raise ``ValueError`` if one is wrong."""
    strings: dict[str, str] = {}
    for key in ("time", "actor", "action", "subject", "outcome", "prev_hash", "hash"):
        value = event.get(key)
        if not isinstance(value, str):
            raise ValueError(f"ledger event field {key!r} must be a string, got {value!r}")
        strings[key] = value
    seq = event.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValueError(f"ledger event field 'seq' must be an integer, got {seq!r}")
    data = event.get("data")
    if not isinstance(data, Mapping):
        raise ValueError(f"ledger event field 'data' must be a JSON object, got {data!r}")
    if strings["outcome"] not in _OUTCOMES:
        raise ValueError(f"ledger event outcome {strings['outcome']!r} is not one of {_OUTCOMES}")
    return _Event(
        seq=seq,
        time=strings["time"],
        time_ms=_epoch_ms(strings["time"]),
        actor=strings["actor"],
        action=strings["action"],
        subject=strings["subject"],
        outcome=strings["outcome"],
        data=data,
        prev_hash=strings["prev_hash"],
        hash=strings["hash"],
    )


def _epoch_ms(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"ledger event time {text!r} is not RFC 3339") from exc
    if moment.tzinfo is None:
        raise ValueError(f"ledger event time {text!r} has no UTC offset")
    return (moment - _EPOCH) // _ONE_MS


# U+0085, U+2028 and U+2029 are valid raw inside JSON strings but break lines for
# many readers (str.splitlines, JavaScript); they only occur inside strings, so
# writing them as \u escapes keeps the JSON value identical.
_JSON_LINE_BREAKS: Final = str.maketrans(
    {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _dumps(value: Any) -> str:
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:  # unserialisable value, NaN/Infinity, cycle
        raise ValueError(f"ledger event is not valid JSON: {exc}") from exc
    return text.translate(_JSON_LINE_BREAKS)


# --- severity ----------------------------------------------------------------


class _Severity(NamedTuple):
    cef: int
    ocsf_id: int
    ocsf_name: str


_INFORMATIONAL: Final = _Severity(3, 1, "Informational")
_OUTCOME_SEVERITY: Final[Mapping[str, _Severity]] = {
    "success": _INFORMATIONAL,
    "failure": _Severity(7, 3, "Medium"),
    "denied": _Severity(7, 3, "Medium"),
    "error": _Severity(7, 3, "Medium"),
}
_ACTION_SEVERITY: Final[Mapping[str, _Severity]] = {
    "gateway.blocked": _Severity(6, 2, "Low"),
    "keys.shredded": _Severity(8, 3, "Medium"),
}
_VERB_SEVERITY: Final[Mapping[str, _Severity]] = {
    "break_glass": _Severity(9, 4, "High"),
}


def _severity(event: _Event) -> _Severity:
    candidates = [
        _OUTCOME_SEVERITY[event.outcome],
        _ACTION_SEVERITY.get(event.action, _INFORMATIONAL),
        _VERB_SEVERITY.get(event.verb, _INFORMATIONAL),
    ]
    return max(candidates)


# --- JSON Lines --------------------------------------------------------------


def to_jsonl(event: Mapping[str, Any]) -> str:
    """The event as one line of compact JSON with sorted keys."""
    _parse(event)
    return _dumps(dict(event))


# --- OCSF --------------------------------------------------------------------


class _Activity(NamedTuple):
    id: int
    caption: str


_OTHER: Final = 99

_AUTHENTICATION_ACTIVITIES: Final[Mapping[str, _Activity]] = {
    "login": _Activity(1, "Logon"),
    "logon": _Activity(1, "Logon"),
    "logout": _Activity(2, "Logoff"),
    "logoff": _Activity(2, "Logoff"),
}
_ACCOUNT_CHANGE_ACTIVITIES: Final[Mapping[str, Mapping[str, _Activity]]] = {
    "apikeys": {
        "created": _Activity(1, "Create"),
        "enabled": _Activity(2, "Enable"),
        "disabled": _Activity(5, "Disable"),
        "revoked": _Activity(6, "Delete"),
        "deleted": _Activity(6, "Delete"),
    },
    "access": {
        "granted": _Activity(7, "Attach Policy"),
        "revoked": _Activity(8, "Detach Policy"),
    },
}
_API_ACTIVITIES: Final[Mapping[str, _Activity]] = {
    "created": _Activity(1, "Create"),
    "read": _Activity(2, "Read"),
    "viewed": _Activity(2, "Read"),
    "exported": _Activity(2, "Read"),
    "updated": _Activity(3, "Update"),
    "deleted": _Activity(4, "Delete"),
    "shredded": _Activity(4, "Delete"),
}


class _OcsfClass(NamedTuple):
    uid: int
    name: str
    category_uid: int
    category_name: str


_AUTHENTICATION: Final = _OcsfClass(3002, "Authentication", 3, "Identity & Access Management")
_ACCOUNT_CHANGE: Final = _OcsfClass(3001, "Account Change", 3, "Identity & Access Management")
_API_ACTIVITY: Final = _OcsfClass(6003, "API Activity", 6, "Application Activity")

_SERVICE: Final[Mapping[str, str]] = {"name": _PRODUCT}


def to_ocsf(event: Mapping[str, Any], *, product_version: str = __version__) -> str:
    """The event as one line of OCSF ``OCSF_VERSION`` JSON (see the module docstring)."""
    parsed = _parse(event)
    return _dumps(_ocsf_event(parsed, event, product_version))


def _ocsf_event(event: _Event, original: Mapping[str, Any], product_version: str) -> dict[str, Any]:
    cls, activity, specific = _ocsf_class(event)
    severity = _severity(event)
    success = event.outcome == "success"
    type_caption = activity.caption if activity.id != _OTHER else "Other"
    out: dict[str, Any] = {
        "activity_id": activity.id,
        "activity_name": activity.caption,
        "category_uid": cls.category_uid,
        "category_name": cls.category_name,
        "class_uid": cls.uid,
        "class_name": cls.name,
        "type_uid": cls.uid * 100 + activity.id,
        "type_name": f"{cls.name}: {type_caption}",
        "time": event.time_ms,
        "severity_id": severity.ocsf_id,
        "severity": severity.ocsf_name,
        "status_id": 1 if success else 2,
        "status": "Success" if success else "Failure",
        "message": f"{event.actor} {event.action} {event.subject} ({event.outcome})",
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": _PRODUCT, "vendor_name": _VENDOR, "version": product_version},
            "uid": event.hash,
            "sequence": event.seq,
            "event_code": event.action,
            "original_time": event.time,
            "log_name": "ledger",
        },
        "actor": _ocsf_actor(event.actor),
        "unmapped": dict(original),
        **specific,
    }
    if not success:
        out["status_detail"] = event.outcome
    return out


def _ocsf_class(event: _Event) -> tuple[_OcsfClass, _Activity, dict[str, Any]]:
    """The class, the activity and the class's own required attributes."""
    other = _Activity(_OTHER, event.verb)
    if event.domain == "auth":
        kind = event.subject.partition(":")[0]
        principal = event.subject if kind in ("user", "apikey") else event.actor
        activity = _AUTHENTICATION_ACTIVITIES.get(event.verb, other)
        return _AUTHENTICATION, activity, {"user": _ocsf_user(principal), "service": _SERVICE}
    if event.domain in _ACCOUNT_CHANGE_ACTIVITIES:
        activity = _ACCOUNT_CHANGE_ACTIVITIES[event.domain].get(event.verb, other)
        return _ACCOUNT_CHANGE, activity, {"user": _ocsf_user(event.subject)}
    activity = _API_ACTIVITIES.get(event.verb, other)
    return (
        _API_ACTIVITY,
        activity,
        {
            "api": {"operation": event.action, "service": _SERVICE},
            "resources": [_ocsf_resource(event.subject)],
            "src_endpoint": {"name": "unknown"},
        },
    )


def _ocsf_actor(principal: str) -> dict[str, Any]:
    if principal == "system" or principal.startswith("system:"):
        return {"app_name": _PRODUCT}
    return {"user": _ocsf_user(principal)}


def _ocsf_user(principal: str) -> dict[str, Any]:
    """An OCSF User for a Vallum principal such as ``user:alice`` or ``apikey:vk_1``."""
    kind, sep, name = principal.partition(":")
    if not sep:
        if principal == "system":
            return {"uid": principal, "name": principal, "type_id": 3, "type": "System"}
        return {"uid": principal, "name": principal, "type_id": 0, "type": "Unknown"}
    user: dict[str, Any] = {"uid": principal, "name": name}
    match kind:
        case "user":
            user.update(type_id=1, type="User")
        case "apikey":
            user.update(type_id=99, type="API Key", credential_uid=name)
        case _:
            user.update(type_id=99, type=kind)
    return user


def _ocsf_resource(subject: str) -> dict[str, Any]:
    kind, sep, name = subject.partition(":")
    if not sep:
        return {"uid": subject, "name": subject}
    return {"uid": subject, "name": name, "type": kind}


# --- CEF ---------------------------------------------------------------------

_CEF_HEADER_ESCAPES: Final = str.maketrans({"\\": "\\\\", "|": "\\|", "\r": " ", "\n": " "})
_CEF_VALUE_ESCAPES: Final = str.maketrans({"\\": "\\\\", "=": "\\=", "\r": "\\r", "\n": "\\n"})


def to_cef(event: Mapping[str, Any], *, product_version: str = __version__) -> str:
    """The event as one ArcSight CEF:0 line (see the module docstring)."""
    parsed = _parse(event)
    header = [
        "CEF:0",
        _VENDOR,
        _PRODUCT,
        product_version,
        parsed.action,
        f"{parsed.action} {parsed.outcome}",
    ]
    extension = [
        ("rt", str(parsed.time_ms)),
        ("externalId", str(parsed.seq)),
        ("cat", parsed.domain),
        ("act", parsed.action),
        ("outcome", parsed.outcome),
        ("suser", parsed.actor),
        ("cs1Label", "subject"),
        ("cs1", parsed.subject),
        ("cs2Label", "hash"),
        ("cs2", parsed.hash),
        ("cs3Label", "prev_hash"),
        ("cs3", parsed.prev_hash),
        ("msg", _dumps(dict(parsed.data))),
    ]
    return "|".join(
        [
            *(field.translate(_CEF_HEADER_ESCAPES) for field in header),
            str(_severity(parsed).cef),
            " ".join(f"{key}={value.translate(_CEF_VALUE_ESCAPES)}" for key, value in extension),
        ]
    )
