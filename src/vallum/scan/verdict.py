"""What a scan concludes about one file: findings and a verdict."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Verdict(enum.StrEnum):
    """The outcome for one file. Deliberately no ``__bool__``: compare explicitly."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    UNSCANNABLE = "unscannable"


class Severity(enum.StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


#: Findings at these severities make a file unsafe.
UNSAFE_SEVERITIES = frozenset({Severity.HIGH, Severity.CRITICAL})


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    location: str

    def to_dict(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "message": self.message,
            "location": self.location,
        }


@dataclass(frozen=True)
class FileResult:
    path: str
    format: str
    verdict: Verdict
    findings: tuple[Finding, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "verdict": str(self.verdict),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass
class Report:
    """Mutable accumulator used while parsing one file."""

    findings: list[Finding] = field(default_factory=list)
    complete: bool = True

    def add(self, rule: str, severity: Severity, message: str, location: str) -> None:
        self.findings.append(Finding(rule, severity, message, location))

    def incomplete(self, rule: str, message: str, location: str) -> None:
        """Something could not be analysed: the file cannot be judged safe."""
        self.complete = False
        self.add(rule, Severity.MEDIUM, message, location)

    def verdict(self) -> Verdict:
        if any(f.severity in UNSAFE_SEVERITIES for f in self.findings):
            return Verdict.UNSAFE
        return Verdict.SAFE if self.complete else Verdict.UNSCANNABLE
