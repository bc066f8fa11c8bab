"""The shapes every detector shares: findings, verdicts, actions, the protocol.

Detectors (PHI/PII, prompt injection, secrets, output leaks) are used by the
gateway's guard pipeline, by ``vallum detect`` and as a library. They all return
the same frozen values, so a caller never has to know which detector it ran:

* a :class:`Finding` is one span the detector matched (type, offsets, score);
* a :class:`Verdict` is what one detector concluded about one text. Its
  ``outcome`` is ``clean``, ``flagged`` or ``error``. ``error`` is explicit: a
  detector that raised, timed out or could not load says so, and every caller
  that enforces (the gateway) treats it as a block. :func:`run_detector` is the
  one place that turns an exception into that verdict.

Detectors are configured per use with a :class:`DetectorConfig` (threshold,
enabled types, the :class:`Action` to take) and load their data lazily, on first
use, never at import.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "Action",
    "Detector",
    "DetectorConfig",
    "Finding",
    "Outcome",
    "Verdict",
    "run_detector",
]

log = logging.getLogger(__name__)


class Action(enum.StrEnum):
    """What a caller does with a flagged text, weakest first."""

    ALLOW = "allow"
    """Record the findings, change nothing."""
    FLAG = "flag"
    """Pass the text on, mark the request as flagged."""
    REDACT = "redact"
    """Replace each finding with its type, irreversibly (``[NAME]``)."""
    TOKENIZE = "tokenize"
    """Replace each finding with a consistent surrogate kept in an encrypted vault."""
    BLOCK = "block"
    """Refuse the text."""


class Outcome(enum.StrEnum):
    """What one detector concluded. Deliberately no ``__bool__``: compare explicitly."""

    CLEAN = "clean"
    FLAGGED = "flagged"
    ERROR = "error"
    """The detector could not decide (raised, timed out, not loaded): block."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One matched span: ``text[start:end]`` is of ``type`` with confidence ``score``."""

    type: str
    start: int
    end: int
    score: float
    detector: str

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "start": self.start, "end": self.end, "score": self.score}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One detector's conclusion about one text.

    ``score`` is the detector's overall score in [0, 1] (for span detectors, the
    highest finding score). ``error`` says why the outcome is ``error``; it is for
    logs and the ledger and never contains the text itself.
    """

    detector: str
    outcome: Outcome
    score: float = 0.0
    findings: tuple[Finding, ...] = ()
    error: str | None = None

    @property
    def flagged(self) -> bool:
        return self.outcome is Outcome.FLAGGED

    @classmethod
    def from_findings(
        cls, detector: str, findings: Iterable[Finding], threshold: float = 0.5
    ) -> Verdict:
        """``flagged`` when any finding scores at or above ``threshold``."""
        kept = tuple(sorted(findings, key=lambda f: (f.start, f.end, f.type)))
        score = max((f.score for f in kept), default=0.0)
        outcome = Outcome.FLAGGED if kept and score >= threshold else Outcome.CLEAN
        return cls(detector, outcome, score, kept)

    @classmethod
    def failed(cls, detector: str, reason: str) -> Verdict:
        return cls(detector, Outcome.ERROR, 1.0, (), reason)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "flagged": self.outcome is not Outcome.CLEAN,
            "score": round(self.score, 6),
            "findings": [f.to_dict() for f in self.findings],
        }
        if self.outcome is Outcome.ERROR:
            out["error"] = self.error or "detector error"
        return out


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """How one use (a route, a CLI call) wants a detector run."""

    threshold: float = 0.5
    types: frozenset[str] | None = None
    """Only these finding types count; ``None`` means every type the detector knows."""
    action: Action = Action.FLAG
    options: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], not {self.threshold}")


@runtime_checkable
class Detector(Protocol):
    """Anything that looks at a text and returns a :class:`Verdict`."""

    @property
    def name(self) -> str: ...

    def detect(self, text: str) -> Verdict: ...


def run_detector(detector: Detector, text: str) -> Verdict:
    """Run ``detector``; an exception becomes an ``error`` verdict, never a pass."""
    try:
        return detector.detect(text)
    except Exception as exc:  # noqa: BLE001 - fail closed: the caller blocks on Outcome.ERROR
        log.warning("detector %s failed: %s", detector.name, type(exc).__name__)
        return Verdict.failed(detector.name, f"{type(exc).__name__}")
