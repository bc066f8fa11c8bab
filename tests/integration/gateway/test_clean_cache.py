"""The guards remember texts found clean, never texts with findings."""

from __future__ import annotations

import pytest

from vallum.errors import GuardBlockedError
from vallum.gateway.guards import DetectorSet, Findings, check


def test_a_clean_text_is_scanned_once_and_a_flagged_one_every_time() -> None:
    detectors = DetectorSet()
    clean = "You are a careful clinical writing assistant."
    found = Findings()
    assert not check(detectors, "secrets", clean, found=found).flagged
    assert detectors.known_clean("secrets", clean)
    spent = found.seconds
    assert spent > 0
    assert not check(detectors, "secrets", clean, found=found).flagged
    assert found.seconds == spent  # the second time no detector ran
    secret = "aws key AKIAIOSFODNN7EXAMPLE and token ghp_" + "a1B2c3D4e5" * 4
    assert check(detectors, "secrets", secret).flagged
    assert not detectors.known_clean("secrets", secret)
    assert check(detectors, "secrets", secret).flagged
    assert not detectors.known_clean("phi", clean)  # remembered per guard


def test_an_erring_detector_is_never_remembered() -> None:
    class Broken:
        name = "secrets"

        def detect(self, text: str) -> object:
            raise RuntimeError("boom")

    detectors = DetectorSet({"secrets": Broken})  # type: ignore[dict-item]
    for _ in range(2):
        with pytest.raises(GuardBlockedError):
            check(detectors, "secrets", "anything")
    assert not detectors.known_clean("secrets", "anything")
