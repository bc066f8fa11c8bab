"""Scan results as SARIF 2.1.0, the way GitHub code scanning ingests them.

GitHub needs: ``version`` and ``$schema``; one run whose ``tool.driver`` has a
``name``, a ``version`` and ``rules`` (``id``, ``shortDescription``, ``help``,
``properties.security-severity`` and ``tags`` for security alerts); results with
``ruleId``/``ruleIndex``, ``level``, ``message.text`` and a ``physicalLocation``
whose ``artifactLocation.uri`` is relative to the repository (``uriBaseId``
``%SRCROOT%``) with a ``region``; ``partialFingerprints`` so alerts are tracked
across runs (GitHub cannot compute them for binary files); and the invocation's
exit status.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vallum.scan.verdict import FileResult, Finding, Severity

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"

#: GitHub's security-severity bands: >= 9 critical, 7-8.9 high, 4-6.9 medium, < 4 low.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.0",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_ORDER = list(Severity)

#: What each rule family means; rules of other scanners fall back to their prefix.
RULE_HELP: dict[str, tuple[str, str]] = {
    "pickle.import": (
        "A pickle imports something model formats do not need",
        "Loading this file (torch.load, pickle.load, joblib.load...) would import and may "
        "call the named object. Only the allowlisted imports of PyTorch, NumPy, SciPy, "
        "scikit-learn and joblib files are accepted. Do not load the file; obtain the model "
        "as safetensors or from a trusted, signed source.",
    ),
    "pickle.getattr": (
        "A pickle uses getattr to reach an object the allowlist does not admit",
        "getattr in a pickle is only harmless on a constant; here it reaches another "
        "object or is passed on, a known way to call arbitrary code. Do not load the file.",
    ),
    "pickle.call": (
        "A pickle calls something that is not an allowlisted import",
        "The pickle calls the result of another call or a method of a loaded object, which "
        "a static scan cannot prove harmless. Do not load the file.",
    ),
    "pickle.build": (
        "A pickle modifies an imported class or function",
        "BUILD or item assignment on an import changes code that runs later. Do not load it.",
    ),
    "pickle.nested": (
        "A pickle loads a nested checkpoint",
        "The nested checkpoint is scanned too; this finding says it could not be judged.",
    ),
    "pickle": (
        "The pickle stream cannot be analysed",
        "The stream is malformed, truncated or too complex to scan; it is refused "
        "(unscannable) unless --allow-unscannable is given.",
    ),
    "zip": (
        "The archive is malformed or tampered with",
        "Loaders and scanners may read different bytes from this archive (CRC, names, "
        "offsets, flags). Rebuild the archive from a trusted source.",
    ),
    "file": (
        "The file cannot be read or is too large",
        "The file was not scanned; it is refused unless --allow-unscannable is given.",
    ),
    "format": (
        "The file's format is unknown or not supported",
        "Only recognised model formats are judged; anything else is unscannable.",
    ),
}


def _rule_help(rule: str) -> tuple[str, str]:
    parts = rule.split(".")
    for i in range(len(parts), 0, -1):
        hit = RULE_HELP.get(".".join(parts[:i]))
        if hit is not None:
            return hit
    return (f"Model scanner finding {rule}", "See docs/scanning.md for what this rule checks.")


def _uri(path: str, root: Path) -> str:
    p = Path(path).absolute()
    try:
        rel = p.relative_to(root)
    except ValueError:
        return p.as_uri()
    return quote(rel.as_posix())


def _artifact(uri: str) -> dict[str, str]:
    """Relative URIs resolve against %SRCROOT%; absolute ones stand alone."""
    return {"uri": uri} if uri.startswith("file:") else {"uri": uri, "uriBaseId": "%SRCROOT%"}


def _dir_uri(root: Path) -> str:
    uri = root.as_uri()
    return uri if uri.endswith("/") else uri + "/"


def scan_root(paths: Iterable[Path]) -> Path:
    """The directory every URI is relative to: the common directory of the PATHs."""
    dirs = [p.absolute() if p.is_dir() else p.absolute().parent for p in paths]
    common = dirs[0]
    for d in dirs[1:]:
        while common != common.parent and not d.is_relative_to(common):
            common = common.parent
    return common


def _fingerprint(path_uri: str, f: Finding) -> str:
    raw = "\x1f".join((path_uri, f.rule, f.location.split("@", 1)[0], f.message))
    return hashlib.sha256(raw.encode()).hexdigest()


def to_sarif(
    results: list[FileResult], *, root: Path, exit_code: int, version: str
) -> dict[str, Any]:
    worst: dict[str, Severity] = {}
    for r in results:
        for f in r.findings:
            if f.rule not in worst or _ORDER.index(f.severity) > _ORDER.index(worst[f.rule]):
                worst[f.rule] = f.severity
    rule_ids = sorted(worst)
    rules = []
    for rule in rule_ids:
        short, help_text = _rule_help(rule)
        rules.append(
            {
                "id": rule,
                "name": "".join(p.title() for p in rule.replace("-", ".").split(".")),
                "shortDescription": {"text": short},
                "fullDescription": {"text": help_text},
                "help": {"text": help_text, "markdown": help_text},
                "defaultConfiguration": {"level": _LEVEL[worst[rule]]},
                "properties": {
                    "tags": ["security", "supply-chain", "model-scanning"],
                    "security-severity": _SECURITY_SEVERITY[worst[rule]],
                    "precision": "high",
                },
            }
        )
    sarif_results = [_result(r, f, root, rule_ids) for r in results for f in r.findings]
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "Vallum model scanner",
                        "semanticVersion": version,
                        "version": version,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": _dir_uri(root)}},
                "artifacts": [{"location": _artifact(_uri(r.path, root))} for r in results],
                "invocations": [{"executionSuccessful": True, "exitCode": exit_code}],
                "results": sarif_results,
            }
        ],
    }


def _result(r: FileResult, f: Finding, root: Path, rule_ids: list[str]) -> dict[str, Any]:
    uri = _uri(r.path, root)
    return {
        "ruleId": f.rule,
        "ruleIndex": rule_ids.index(f.rule),
        "level": _LEVEL[f.severity],
        "message": {"text": f"{f.message} [{r.verdict}: {r.format}] at {f.location}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": _artifact(uri),
                    "region": {"startLine": 1},
                },
            }
        ],
        "partialFingerprints": {"vallumFinding/v1": _fingerprint(uri, f)},
        "properties": {
            "severity": str(f.severity),
            "verdict": str(r.verdict),
            "format": r.format,
            "location": f.location,
        },
    }
