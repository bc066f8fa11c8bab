"""Detectors (SEC-POL-012 3.1.2, 3.2.2, 3.6.2): PHI/PII, prompt injection, secrets, leaks.

The shared shapes are in :mod:`vallum.detect.types`; each detector lives in its
own module and loads its data lazily.
"""

from vallum.detect.redaction import redact
from vallum.detect.types import (
    Action,
    Detector,
    DetectorConfig,
    Finding,
    Outcome,
    Verdict,
    run_detector,
)

__all__ = [
    "Action",
    "Detector",
    "DetectorConfig",
    "Finding",
    "Outcome",
    "Verdict",
    "redact",
    "run_detector",
]
