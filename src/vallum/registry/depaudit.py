"""Known vulnerabilities in the Python environment, by pip-audit when it can answer.

pip-audit is optional (``pip install 'vallum[audit]'``) and needs its
vulnerability database (PyPI or OSV) over the network. It runs in a child
process with a timeout; when it is missing, times out, fails or prints
something unreadable, the result is ``unchecked`` with the reason, never
"no vulnerabilities".
"""

from __future__ import annotations

import enum
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT = 30.0


class AuditStatus(enum.StrEnum):
    CHECKED = "checked"
    UNCHECKED = "unchecked"


@dataclass(frozen=True, slots=True)
class KnownVulnerability:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]
    description: str


@dataclass(frozen=True, slots=True)
class AuditResult:
    status: AuditStatus
    reason: str | None = None
    vulnerabilities: tuple[KnownVulnerability, ...] = ()


def pip_audit_command() -> list[str] | None:
    """How to run pip-audit on this interpreter's environment, or None if it is not installed."""
    if importlib.util.find_spec("pip_audit") is None:
        return None
    return [sys.executable, "-m", "pip_audit", "--local", "--format", "json"]


def audit_environment(
    *, timeout: float = DEFAULT_TIMEOUT, command: Sequence[str] | None = None
) -> AuditResult:
    """Run pip-audit (or ``command``, which must print pip-audit's JSON) within ``timeout``."""
    cmd = list(command) if command is not None else pip_audit_command()
    if cmd is None:
        return AuditResult(
            AuditStatus.UNCHECKED, "pip-audit is not installed (pip install 'vallum[audit]')"
        )
    env = {**os.environ, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        proc = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return AuditResult(
            AuditStatus.UNCHECKED, f"the vulnerability database did not answer in {timeout:g} s"
        )
    except OSError as exc:
        return AuditResult(AuditStatus.UNCHECKED, f"pip-audit could not run: {exc.strerror}")
    try:
        doc = json.loads(proc.stdout)
        # pip-audit >= 2.5 wraps the list in {"dependencies": [...]}; older ones print it bare.
        deps = doc.get("dependencies") if isinstance(doc, dict) else doc
        if not isinstance(deps, list):
            raise TypeError("no dependencies list")
        return AuditResult(AuditStatus.CHECKED, None, tuple(_vulns(deps)))
    except (ValueError, TypeError, KeyError):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return AuditResult(
            AuditStatus.UNCHECKED, f"pip-audit failed (exit {proc.returncode}): {last[:200]}"
        )


def _vulns(deps: list[Any]) -> list[KnownVulnerability]:
    if not all(isinstance(dep, dict) for dep in deps):
        raise TypeError("dependency is not an object")
    return [
        KnownVulnerability(
            package=str(dep["name"]),
            version=str(dep.get("version", "")),
            id=str(v["id"]),
            aliases=tuple(str(a) for a in v.get("aliases") or ()),
            fix_versions=tuple(str(f) for f in v.get("fix_versions") or ()),
            description=str(v.get("description") or "")[:2000],
        )
        for dep in deps
        for v in dep.get("vulns") or []
    ]
