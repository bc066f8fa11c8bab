"""The shared detector shapes: fail-closed wrapper, thresholds, serialisation."""

from __future__ import annotations

import pytest

from vallum.detect import Detector, DetectorConfig, Finding, Outcome, Verdict, run_detector


class Exploding:
    name = "exploding"

    def detect(self, text: str) -> Verdict:
        raise RuntimeError(text)  # the text must not reach the verdict


class Fixed:
    name = "fixed"

    def __init__(self, score: float) -> None:
        self.score = score

    def detect(self, text: str) -> Verdict:
        return Verdict.from_findings(self.name, [Finding("X", 0, len(text), self.score, self.name)])


def test_a_detector_that_raises_yields_an_error_verdict_without_the_text() -> None:
    verdict = run_detector(Exploding(), "SECRET-MARKER-123")
    assert verdict.outcome is Outcome.ERROR
    assert "SECRET-MARKER-123" not in repr(verdict)
    assert verdict.to_dict()["flagged"] is True


def test_findings_below_the_threshold_leave_the_text_clean() -> None:
    assert run_detector(Fixed(0.4), "abc").outcome is Outcome.CLEAN
    assert run_detector(Fixed(0.5), "abc").outcome is Outcome.FLAGGED


def test_test_doubles_satisfy_the_protocol() -> None:
    assert isinstance(Fixed(1.0), Detector)


def test_threshold_outside_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        DetectorConfig(threshold=1.5)
