"""Plain text in a model folder: READMEs, vocabularies, merges, chat templates, code.

Text is data to every loader except two: Python source, which Hugging Face's
``trust_remote_code`` imports (and shell scripts, which a pipeline may run), and
Jinja chat templates, which tokenizers render. Code cannot be judged statically,
so it is ``unscannable`` (blocks unless allowed, like ``json.remote-code``); a
template is judged by the same allowlist as GGUF's; anything else is ``text``.
"""

from __future__ import annotations

import ast

from vallum.scan.template import scan_template
from vallum.scan.verdict import Report

MAX_TEXT = 64 << 20
MAX_PYTHON_PARSE = 4 << 20
#: C0 controls other than tab, line feed, form feed and carriage return: binary data.
_TEXT_CONTROLS = bytes(b for b in range(0x20) if b not in b"\t\n\x0c\r")
_CODE_NODES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def as_text(data: memoryview) -> str | None:
    """The content as text, if it is UTF-8 without control bytes and not too large."""
    if len(data) > MAX_TEXT:
        return None
    raw = bytes(data)
    if raw.translate(None, _TEXT_CONTROLS) != raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def scan_text(text: str, location: str, report: Report) -> str:
    """Judge one text file; returns its format name."""
    if text.startswith("#!"):
        report.incomplete("code.script", "an executable script: code cannot be judged", location)
        return "script"
    if _is_python(text):
        report.incomplete(
            "code.python-source",
            "Python source (run by trust_remote_code loaders): code cannot be judged",
            location,
        )
        return "python"
    if "{{" in text or "{%" in text:
        scan_template(text, location, report)
        return "template"
    return "text"


def _is_python(text: str) -> bool:
    if len(text) > MAX_PYTHON_PARSE:
        return False
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(
        isinstance(node, _CODE_NODES)
        or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call))
        for node in tree.body
    )
