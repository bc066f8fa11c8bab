"""Ledger export to SIEMs: JSON Lines, OCSF 1.3.0 and ArcSight CEF, one line per event."""

from __future__ import annotations

import calendar
import json
import re
from typing import Any

import pytest

import vallum
from vallum.ledger.export import (
    OCSF_VERSION,
    ExportFormat,
    formatter_for,
    to_cef,
    to_jsonl,
    to_ocsf,
)

TIME = "2026-11-25T18:55:28.123456Z"
TIME_MS = calendar.timegm((2026, 11, 25, 18, 55, 28, 0, 0, 0)) * 1000 + 123

# Every character CEF or a line-based reader could trip on: pipes, backslashes
# (also trailing, and before '='), equals signs, a fake "key=", CR, LF, CRLF,
# Unicode line separators, non-Latin text and an astral-plane emoji.
HOSTILE = (
    "pi|pe back\\slash eq=ual k=v \\=x nl\nline cr\rret crlf\r\nend "
    "sep\u2028par\u2029nel\u0085 \u00fcn\u00efc\u00f8d\u00e9 \u65e5\u672c \U0001f525 tail\\"
)


def make_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "seq": 42,
        "time": TIME,
        "actor": "user:alice",
        "action": "controls.attested",
        "subject": "control:SEC-311-01",
        "outcome": "success",
        "data": {"evidence_sha256": "ab" * 32, "control": "SEC-311-01"},
        "prev_hash": "0" * 64,
        "hash": "f" * 64,
    }
    event.update(overrides)
    return event


EVENTS: dict[str, dict[str, Any]] = {
    "success": make_event(),
    "failure": make_event(
        action="models.scanned", actor="system", subject="model:triage@3", outcome="failure"
    ),
    "auth": make_event(action="auth.login", subject="user:alice", outcome="denied"),
    "apikey": make_event(action="apikeys.created", subject="apikey:vk_abc"),
    "other": make_event(action="gateway.blocked", actor="apikey:vk_abc", subject="model:x@1"),
    "hostile": make_event(
        actor="user:" + HOSTILE,
        subject="control:" + HOSTILE,
        data={"note": HOSTILE, "nested": {"a|b=c": [HOSTILE, 1, None, True]}},
    ),
}


# --- a CEF parser written from the ArcSight spec -------------------------------

_CEF_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9]+)=")
_CEF_VALUE_UNESCAPES = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """Split a CEF line into its 7 header fields and its extension, undoing escapes.

    Per the CEF spec: the header is seven fields each ended by an unescaped ``|``,
    where only ``\\`` and ``|`` may be escaped; the extension is space-separated
    ``key=value`` pairs with alphanumeric keys, a value runs up to the space before
    the next key, and in values ``\\`` and ``=`` are escaped and CR/LF are written
    ``\\r``/``\\n``. Anything else is rejected.
    """
    assert line.startswith("CEF:")
    header: list[str] = []
    field: list[str] = []
    i = 0
    while len(header) < 7:
        char = line[i]
        if char == "\\":
            escaped = line[i + 1]
            assert escaped in "\\|", f"invalid header escape \\{escaped}"
            field.append(escaped)
            i += 2
        elif char == "|":
            header.append("".join(field))
            field = []
            i += 1
        else:
            assert char not in "\r\n", "raw line break in header"
            field.append(char)
            i += 1
    extension = line[i:]
    keys = list(_CEF_KEY.finditer(extension))
    assert keys, "empty extension"
    assert keys[0].start() == 0
    values: dict[str, str] = {}
    for n, match in enumerate(keys):
        if n + 1 < len(keys):
            end = keys[n + 1].start() - 1
            assert extension[end] == " "
        else:
            end = len(extension)
        key = match.group(1)
        assert key not in values, f"duplicate key {key}"
        values[key] = _unescape_cef_value(extension[match.end() : end])
    return header, values


def _unescape_cef_value(raw: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\\":
            out.append(_CEF_VALUE_UNESCAPES[raw[i + 1]])
            i += 2
        else:
            assert char not in "=\r\n", f"unescaped {char!r} in extension value"
            out.append(char)
            i += 1
    return "".join(out)


@pytest.mark.parametrize(
    ("line", "name", "act"),
    [
        # The escaping examples of the CEF spec ("Implementing ArcSight CEF").
        (
            r"CEF:0|security|threatmanager|1.0|100|detected a \| in message|10|"
            r"src=10.0.0.1 act=blocked a | dst=1.1.1.1",
            "detected a | in message",
            "blocked a |",
        ),
        (
            r"CEF:0|security|threatmanager|1.0|100|detected a \\ in packet|10|"
            r"src=10.0.0.1 act=blocked a \\ dst=1.1.1.1",
            "detected a \\ in packet",
            "blocked a \\",
        ),
        (
            r"CEF:0|security|threatmanager|1.0|100|detected a = in message|10|"
            r"src=10.0.0.1 act=blocked a \= dst=1.1.1.1",
            "detected a = in message",
            "blocked a =",
        ),
    ],
)
def test_cef_parser_reads_the_spec_examples(line: str, name: str, act: str) -> None:
    header, ext = parse_cef(line)
    assert header == ["CEF:0", "security", "threatmanager", "1.0", "100", name, "10"]
    assert ext == {"src": "10.0.0.1", "act": act, "dst": "1.1.1.1"}


# --- every format ----------------------------------------------------------------


def test_export_format_members() -> None:
    assert {fmt.value for fmt in ExportFormat} == {"jsonl", "ocsf", "cef"}
    assert ExportFormat("ocsf") is ExportFormat.OCSF
    assert str(ExportFormat.CEF) == "cef"


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_every_format_has_a_formatter(fmt: ExportFormat) -> None:
    direct = {ExportFormat.JSONL: to_jsonl, ExportFormat.OCSF: to_ocsf, ExportFormat.CEF: to_cef}
    for event in EVENTS.values():
        assert formatter_for(fmt)(event) == direct[fmt](event)


@pytest.mark.parametrize("fmt", list(ExportFormat))
@pytest.mark.parametrize("name", list(EVENTS))
def test_output_is_one_line(fmt: ExportFormat, name: str) -> None:
    line = formatter_for(fmt)(EVENTS[name])
    assert line
    assert "\n" not in line
    assert "\r" not in line
    if fmt is not ExportFormat.CEF:
        # JSON formats also escape U+0085/U+2028/U+2029, so even str.splitlines agrees.
        assert len(line.splitlines()) == 1


def test_formatter_for_passes_the_product_version() -> None:
    event = EVENTS["success"]
    ocsf = json.loads(formatter_for(ExportFormat.OCSF, product_version="9.9.9")(event))
    assert ocsf["metadata"]["product"]["version"] == "9.9.9"
    header, _ = parse_cef(formatter_for(ExportFormat.CEF, product_version="9|9\\9")(event))
    assert header[3] == "9|9\\9"


def test_default_product_version_is_vallums() -> None:
    event = EVENTS["success"]
    assert json.loads(to_ocsf(event))["metadata"]["product"]["version"] == vallum.__version__
    assert parse_cef(to_cef(event))[0][3] == vallum.__version__


@pytest.mark.parametrize("fmt", list(ExportFormat))
@pytest.mark.parametrize(
    "bad",
    [
        {"hash": None},
        {"hash": 1234},
        {"seq": True},
        {"seq": "42"},
        {"actor": 7},
        {"outcome": "maybe"},
        {"time": "yesterday"},
        {"time": "2026-11-25T18:55:28.123456"},
        {"data": ["not", "an", "object"]},
        {"data": {"x": object()}},
        {"data": {"x": float("nan")}},
    ],
    ids=repr,
)
def test_malformed_events_are_rejected(fmt: ExportFormat, bad: dict[str, Any]) -> None:
    event = make_event(**bad)
    if bad == {"hash": None}:
        del event["hash"]  # a missing field, not a null one
    with pytest.raises(ValueError, match="ledger event"):
        formatter_for(fmt)(event)


# --- JSON Lines --------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EVENTS))
def test_jsonl_round_trips(name: str) -> None:
    assert json.loads(to_jsonl(EVENTS[name])) == EVENTS[name]


def test_jsonl_is_compact_sorted_and_keeps_unicode() -> None:
    event = EVENTS["success"]
    expected = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert to_jsonl(event) == expected
    hostile = to_jsonl(EVENTS["hostile"])
    assert "\u65e5\u672c \U0001f525" in hostile
    assert "\\u2028" in hostile
    assert "\u2028" not in hostile


# --- OCSF ----------------------------------------------------------------------------

# OCSF 1.3.0 requirements: the base event's required attributes, each class's own
# required attributes, and the at_least_one constraints of the objects used.
BASE_REQUIRED = {
    "activity_id",
    "category_uid",
    "class_uid",
    "type_uid",
    "severity_id",
    "time",
    "metadata",
}
CLASS_REQUIRED = {
    3001: {"user"},
    3002: {"user"},
    6003: {"actor", "api", "src_endpoint"},
}
ACTOR_ONE_OF = {"process", "user", "invoked_by", "session", "app_name", "app_uid"}
USER_ONE_OF = {"account", "name", "uid"}
ENDPOINT_ONE_OF = {"ip", "uid", "name", "hostname", "svc_name", "instance_uid", "interface_uid"}


@pytest.mark.parametrize("name", list(EVENTS))
def test_ocsf_required_attributes(name: str) -> None:
    event = EVENTS[name]
    ocsf = json.loads(to_ocsf(event))
    assert ocsf.keys() >= BASE_REQUIRED
    assert CLASS_REQUIRED[ocsf["class_uid"]] <= ocsf.keys()
    for key in ("activity_id", "category_uid", "class_uid", "type_uid", "severity_id", "time"):
        assert type(ocsf[key]) is int, key
    assert ocsf["type_uid"] == ocsf["class_uid"] * 100 + ocsf["activity_id"]
    assert ocsf["category_uid"] == ocsf["class_uid"] // 1000
    assert ocsf["time"] == TIME_MS
    assert ocsf["metadata"]["version"] == OCSF_VERSION == "1.3.0"
    product = ocsf["metadata"]["product"]
    assert product["name"] == "Vallum"
    assert product["vendor_name"] == "Vallum"
    assert ocsf["metadata"]["uid"] == event["hash"]
    assert ocsf["metadata"]["sequence"] == event["seq"]
    assert ocsf["metadata"]["original_time"] == TIME
    assert ocsf["unmapped"] == event
    assert ACTOR_ONE_OF & ocsf["actor"].keys()
    if "user" in ocsf:
        assert USER_ONE_OF & ocsf["user"].keys()
    if ocsf["class_uid"] == 3002:
        assert {"service", "dst_endpoint"} & ocsf.keys()
    if ocsf["class_uid"] == 6003:
        assert ocsf["api"]["operation"] == event["action"]
        assert ENDPOINT_ONE_OF & ocsf["src_endpoint"].keys()


@pytest.mark.parametrize(
    ("action", "subject", "class_uid", "activity_id", "activity_name", "type_name"),
    [
        ("auth.login", "user:alice", 3002, 1, "Logon", "Authentication: Logon"),
        ("auth.logout", "user:alice", 3002, 2, "Logoff", "Authentication: Logoff"),
        ("auth.mfa_challenged", "user:alice", 3002, 99, "mfa_challenged", "Authentication: Other"),
        ("apikeys.created", "apikey:vk_abc", 3001, 1, "Create", "Account Change: Create"),
        ("apikeys.revoked", "apikey:vk_abc", 3001, 6, "Delete", "Account Change: Delete"),
        ("access.granted", "user:bob", 3001, 7, "Attach Policy", "Account Change: Attach Policy"),
        ("access.revoked", "user:bob", 3001, 8, "Detach Policy", "Account Change: Detach Policy"),
        ("access.break_glass", "user:bob", 3001, 99, "break_glass", "Account Change: Other"),
        ("controls.attested", "control:SEC-311-01", 6003, 99, "attested", "API Activity: Other"),
        ("models.scanned", "model:triage@3", 6003, 99, "scanned", "API Activity: Other"),
        ("keys.shredded", "key:dek_1", 6003, 4, "Delete", "API Activity: Delete"),
        ("models.created", "model:triage@3", 6003, 1, "Create", "API Activity: Create"),
    ],
)
def test_ocsf_class_and_activity(
    action: str,
    subject: str,
    class_uid: int,
    activity_id: int,
    activity_name: str,
    type_name: str,
) -> None:
    ocsf = json.loads(to_ocsf(make_event(action=action, subject=subject)))
    assert ocsf["class_uid"] == class_uid
    assert ocsf["activity_id"] == activity_id
    assert ocsf["activity_name"] == activity_name
    assert ocsf["type_uid"] == class_uid * 100 + activity_id
    assert ocsf["type_name"] == type_name


def test_ocsf_authentication_user_and_status() -> None:
    ocsf = json.loads(to_ocsf(EVENTS["auth"]))
    assert ocsf["class_name"] == "Authentication"
    assert ocsf["category_name"] == "Identity & Access Management"
    assert ocsf["user"] == {"uid": "user:alice", "name": "alice", "type_id": 1, "type": "User"}
    assert ocsf["actor"]["user"]["uid"] == "user:alice"
    assert ocsf["service"] == {"name": "Vallum"}
    assert (ocsf["status_id"], ocsf["status"], ocsf["status_detail"]) == (2, "Failure", "denied")


def test_ocsf_account_change_targets_the_api_key() -> None:
    ocsf = json.loads(to_ocsf(EVENTS["apikey"]))
    assert ocsf["user"] == {
        "uid": "apikey:vk_abc",
        "name": "vk_abc",
        "credential_uid": "vk_abc",
        "type_id": 99,
        "type": "API Key",
    }
    assert (ocsf["status_id"], ocsf["status"]) == (1, "Success")
    assert "status_detail" not in ocsf


def test_ocsf_api_activity_actor_and_resource() -> None:
    system = json.loads(to_ocsf(EVENTS["failure"]))
    assert system["actor"] == {"app_name": "Vallum"}
    assert system["resources"] == [{"uid": "model:triage@3", "name": "triage@3", "type": "model"}]
    assert (system["status_id"], system["status_detail"]) == (2, "failure")
    keyed = json.loads(to_ocsf(EVENTS["other"]))
    assert keyed["actor"]["user"]["credential_uid"] == "vk_abc"


@pytest.mark.parametrize(
    ("time", "expected_ms"),
    [
        (TIME, TIME_MS),
        ("2026-11-25T18:55:28.123456+00:00", TIME_MS),
        ("2026-11-25T20:55:28.123999+02:00", TIME_MS),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_ocsf_time_is_epoch_milliseconds(time: str, expected_ms: int) -> None:
    assert json.loads(to_ocsf(make_event(time=time)))["time"] == expected_ms


def test_ocsf_keeps_hostile_strings_intact() -> None:
    event = EVENTS["hostile"]
    ocsf = json.loads(to_ocsf(event))
    assert ocsf["unmapped"] == event
    assert ocsf["actor"]["user"]["name"] == HOSTILE


# --- CEF ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EVENTS))
def test_cef_round_trips(name: str) -> None:
    event = EVENTS[name]
    header, ext = parse_cef(to_cef(event))
    assert header[:4] == ["CEF:0", "Vallum", "Vallum", vallum.__version__]
    assert header[4] == event["action"]
    assert header[5] == f"{event['action']} {event['outcome']}"
    assert 0 <= int(header[6]) <= 10
    assert ext == {
        "rt": str(TIME_MS),
        "externalId": str(event["seq"]),
        "cat": event["action"].split(".")[0],
        "act": event["action"],
        "outcome": event["outcome"],
        "suser": event["actor"],
        "cs1Label": "subject",
        "cs1": event["subject"],
        "cs2Label": "hash",
        "cs2": event["hash"],
        "cs3Label": "prev_hash",
        "cs3": event["prev_hash"],
        "msg": json.dumps(event["data"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        .replace("\u0085", "\\u0085")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029"),
    }
    assert json.loads(ext["msg"]) == event["data"]
    assert all(key.isascii() and key.isalnum() for key in ext)


def test_cef_hostile_values_are_escaped_not_injected() -> None:
    line = to_cef(EVENTS["hostile"])
    _, ext = parse_cef(line)
    assert ext["suser"] == "user:" + HOSTILE
    assert ext["cs1"] == "control:" + HOSTILE
    assert json.loads(ext["msg"])["note"] == HOSTILE
    # The fake "k=v" inside the values did not become a key.
    assert "k" not in ext
    assert " k\\=v " in line


def test_cef_hostile_header_fields() -> None:
    action = "auth.lo|g\\in\r\nx=y \u00fc"
    header, ext = parse_cef(to_cef(make_event(action=action, outcome="error")))
    # The header may not span lines: CR and LF become spaces; '|' and '\' round-trip.
    flattened = "auth.lo|g\\in  x=y \u00fc"
    assert header[4] == flattened
    assert header[5] == f"{flattened} error"
    assert ext["act"] == action


@pytest.mark.parametrize(
    ("action", "outcome", "cef", "ocsf_id"),
    [
        ("controls.attested", "success", 3, 1),
        ("controls.attested", "failure", 7, 3),
        ("auth.login", "denied", 7, 3),
        ("models.scanned", "error", 7, 3),
        ("gateway.blocked", "success", 6, 2),
        ("gateway.blocked", "error", 7, 3),
        ("keys.shredded", "success", 8, 3),
        ("keys.shredded", "failure", 8, 3),
        ("access.break_glass", "success", 9, 4),
        ("controls.break_glass", "denied", 9, 4),
    ],
)
def test_severity_table(action: str, outcome: str, cef: int, ocsf_id: int) -> None:
    event = make_event(action=action, outcome=outcome)
    header, _ = parse_cef(to_cef(event))
    assert int(header[6]) == cef
    assert json.loads(to_ocsf(event))["severity_id"] == ocsf_id
