"""safetensors header checks; GGUF header, metadata and chat templates."""

from __future__ import annotations

import struct

import pytest

from tests.unit.scan import build
from vallum.scan import FileResult, Verdict
from vallum.scan.service import scan_bytes
from vallum.scan.template import scan_template
from vallum.scan.verdict import Report


def _scan(data: bytes) -> FileResult:
    return scan_bytes(data, "mem")


def _rules(result: FileResult | Report) -> set[str]:
    return {f.rule for f in result.findings}


def test_benign_safetensors_is_safe() -> None:
    result = _scan(build.good_safetensors())
    assert result.verdict is Verdict.SAFE
    assert result.format == "safetensors"


@pytest.mark.parametrize(
    ("tensors", "data", "meta", "rule"),
    [
        ({"w": ("F32", [2, 2], [0, 12])}, bytes(12), None, "safetensors.size-mismatch"),
        ({"w": ("F32", [2], [0, 64])}, bytes(8), None, "safetensors.offsets-out-of-bounds"),
        (
            {"a": ("F32", [2], [0, 8]), "b": ("F32", [2], [4, 12])},
            bytes(12),
            None,
            "safetensors.overlap",
        ),
        ({"a": ("F32", [1], [4, 8])}, bytes(8), None, "safetensors.gap"),
        ({"a": ("F32", [1], [0, 4])}, bytes(4) + b"PAYLOAD!", None, "safetensors.trailing-data"),
        ({"a": ("F32", [1], [0, 4])}, bytes(4), {"n": 1}, "safetensors.metadata-not-strings"),
        ({"a": ("F32", [-1], [0, 4])}, bytes(4), None, "safetensors.shape"),
    ],
)
def test_safetensors_structure_violations_are_unsafe(
    tensors: dict[str, tuple[str, list[int], list[int]]], data: bytes, meta: object, rule: str
) -> None:
    result = _scan(build.safetensors(tensors, data, meta))
    assert result.verdict is Verdict.UNSAFE
    assert rule in _rules(result)


def test_safetensors_duplicate_keys_and_malformed_headers() -> None:
    entry = b'{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    dup = b'{"a":' + entry + b',"a":' + entry + b"}"
    assert "safetensors.duplicate-key" in _rules(
        _scan(build.safetensors({}, bytes(4), raw_header=dup))
    )
    for raw in (b"{not json", b'{"a": 1}'):
        assert _scan(build.safetensors({}, b"", raw_header=raw)).verdict is Verdict.UNSCANNABLE
    huge = struct.pack("<Q", 10**12) + b"{}"
    assert _scan(huge).verdict is Verdict.UNSCANNABLE
    unknown_dtype = build.safetensors({"a": ("Q99", [1], [0, 4])}, bytes(4))
    assert _scan(unknown_dtype).verdict is Verdict.UNSCANNABLE


def test_benign_gguf_with_chat_template_is_safe() -> None:
    template = (
        "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
    )
    result = _scan(build.gguf({"general.name": "t", "tokenizer.chat_template": template}))
    assert result.verdict is Verdict.SAFE, result.findings
    assert result.format == "gguf"


def test_gguf_template_under_any_template_key_is_checked() -> None:
    evil = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
    for key in ("tokenizer.chat_template", "tokenizer.chat_template.tool_use", "x.prompt_template"):
        result = _scan(build.gguf({key: evil}))
        assert result.verdict is Verdict.UNSAFE, key


def test_gguf_bounds() -> None:
    assert _scan(build.gguf({}, tensor_offset=4096)).verdict is Verdict.UNSAFE
    assert _scan(build.gguf({}, tensor_offset=3)).verdict is Verdict.UNSAFE
    assert _scan(build.gguf({}, dims=(1, 1, 1, 1, 1))).verdict is Verdict.UNSCANNABLE
    data = build.gguf({"tokenizer.chat_template": "{{ x }}"})
    for cut in (6, 20, 30, len(data) - 40):
        assert _scan(data[:cut]).verdict is Verdict.UNSCANNABLE
    v1 = b"GGUF" + struct.pack("<I", 1) + bytes(16)
    assert "gguf.version" in _rules(_scan(v1))


BENIGN_TEMPLATES = [
    "{% set ns = namespace(found=false) %}{% for m in messages %}"
    "{% if m.role == 'system' %}{% set ns.found = true %}{% endif %}{% endfor %}",
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] "
    "+ '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}",
    "{% for m in messages %}{{ m.content.split('</think>')[-1].lstrip('\\n') }}"
    "{{ loop.index0 }}{% endfor %}{{ tools | tojson(indent=4) }}",
    "{% for i in range(messages|length) %}{% set tcs = messages[i]['tool_calls'] %}"
    "{{ tcs[0] if tcs }}{% endfor %}{{ raise_exception('bad') if false }}",
    "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join }}",
    "{{ '=' * 80 }}{% for i in range(3) %}{% for j in range(messages|length) %}{% endfor %}"
    "{% endfor %}",
]

EVIL_TEMPLATES = {
    "dunder attribute": "{{ messages.__class__ }}",
    "underscore item": "{{ messages['_x'] }}",
    "attr filter dunder": "{{ messages|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "attr filter computed": "{{ messages|attr(x) }}",
    "built name": "{% set u = '_' %}{{ messages[u*2 ~ 'class' ~ u*2] }}",
    "format chars": "{{ messages['%c%c'|format(95, 95) ~ 'class'] }}",
    "lipsum": "{{ lipsum }}",
    "joiner": "{{ joiner() }}",
    "self": "{{ self }}",
    "config": "{{ config.items() }}",
    "request": "{{ request.args }}",
    "namespace escaped": "{{ namespace.__init__ }}",
    "range huge": "{{ range(10**9)|list }}",
    "range constant": "{% for i in range(99999999) %}{% endfor %}",
    "str format": "{{ '{0.x}'.format(messages) }}",
    "map attr": "{{ messages|map(attribute='__class__')|list }}",
    "include": "{% include 'x' %}",
    "power": "{{ 9 ** 999 }}",
    "repeat": "{{ 'x' * 90000 * 90000 }}",
    "nested loops": "{% for i in range(9999) %}{% for j in range(9999) %}.{% endfor %}{% endfor %}",
}


@pytest.mark.parametrize("source", BENIGN_TEMPLATES)
def test_benign_templates(source: str) -> None:
    report = Report()
    scan_template(source, "t", report)
    assert report.verdict() is Verdict.SAFE, report.findings


@pytest.mark.parametrize("name", sorted(EVIL_TEMPLATES))
def test_malicious_templates(name: str) -> None:
    report = Report()
    scan_template(EVIL_TEMPLATES[name], "t", report)
    assert report.verdict() is Verdict.UNSAFE, (name, report.findings)


def test_template_syntax_error_is_unscannable() -> None:
    report = Report()
    scan_template("{% for x in %}", "t", report)
    assert report.verdict() is Verdict.UNSCANNABLE
    assert _rules(report) == {"template.syntax"}
