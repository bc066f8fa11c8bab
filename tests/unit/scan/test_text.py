"""Plain text in model folders: data is safe, code is unscannable, templates are judged."""

from __future__ import annotations

import pytest

from vallum.scan.service import scan_bytes
from vallum.scan.verdict import Verdict


@pytest.mark.parametrize(
    "content",
    [
        "hello\nworld\n##ing\n",  # a vocabulary (each line would parse as a Python name)
        "# Triage model\n\nFine-tuned on de-identified notes. Do not use for diagnosis.\n",
        "Ġ t\nĠ a\nh e\n",  # BPE merges
        "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}",
    ],
)
def test_text_data_and_benign_templates_are_safe(content: str) -> None:
    result = scan_bytes(content.encode(), "file")
    assert result.verdict is Verdict.SAFE, result.findings


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        ("import os\nos.system('true')\n", "code.python-source"),
        ("class Model:\n    pass\n", "code.python-source"),
        ("__import__('os').system('true')\n", "code.python-source"),
        ("#!/bin/sh\ntrue\n", "code.script"),
    ],
)
def test_code_cannot_be_judged_and_is_unscannable(content: str, rule: str) -> None:
    result = scan_bytes(content.encode(), "file")
    assert result.verdict is Verdict.UNSCANNABLE
    assert rule in {f.rule for f in result.findings}


def test_a_template_reaching_python_internals_is_unsafe() -> None:
    source = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
    assert scan_bytes(source.encode(), "chat_template.jinja").verdict is Verdict.UNSAFE


def test_binary_garbage_stays_unscannable() -> None:
    assert scan_bytes(b"\x00\x01\x02garbage\xff", "blob").verdict is Verdict.UNSCANNABLE
