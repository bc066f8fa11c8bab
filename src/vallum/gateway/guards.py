"""The guard pipeline: detectors over prompts and answers, actions per route.

Input guards (PHI, injection, secrets) run over every message before anything
is forwarded; output guards (PHI, secrets, leak and the route's canary) run over
the answer, and over a stream as it flows (:class:`StreamGuard`). Detectors are
the ``vallum.detect`` classes, found by name and built once per worker.

Rules that do not depend on the route's wishes:

* a detector that errs (``Outcome.ERROR``) or cannot be loaded blocks the
  request: fail closed;
* PHI never reaches a vendor that may not receive it (no BAA, or ``phi`` not in
  its data classes): ``allow`` and ``flag`` become ``block`` there, while
  ``tokenize`` and ``redact`` still let the request through;
* likewise secrets, unless the vendor lists ``secrets`` among its data classes.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vallum.detect.types import Action, Detector, Finding, Outcome, Verdict, run_detector
from vallum.errors import GuardBlockedError
from vallum.gateway.policy import GuardPolicy, Vendor

#: Where each guard's detector lives (the contracts between branches).
DETECTORS = {
    "phi": ("vallum.detect.phi", "PhiDetector"),
    "secrets": ("vallum.detect.secrets", "SecretsDetector"),
    "injection": ("vallum.detect.injection", "InjectionDetector"),
    "leak": ("vallum.detect.leak", "LeakDetector"),
}
#: PHI last: its tokenization (in a thread, by the vault) is the final change to a text.
INPUT_GUARDS = ("injection", "secrets", "phi")
OUTPUT_GUARDS = ("phi", "secrets", "leak")
_CLASS_OF = {"phi": "phi", "secrets": "secrets"}
#: Clean verdicts remembered per guard (texts that repeat: system prompts, history).
CLEAN_CACHE_SIZE = 4096
#: Only texts up to this length are remembered (a long text rarely repeats exactly).
CLEAN_CACHE_MAX_CHARS = 8192


class _Unavailable:
    """Stands in for a detector that could not be loaded: every verdict is an error."""

    def __init__(self, name: str, reason: str) -> None:
        self._name = name
        self._reason = reason

    @property
    def name(self) -> str:
        return self._name

    def detect(self, text: str) -> Verdict:
        return Verdict.failed(self._name, self._reason)


class DetectorSet:
    """One instance of each detector per worker, built on first use."""

    def __init__(self, factories: dict[str, Callable[[], Detector]] | None = None) -> None:
        self._factories = factories or {}
        self._built: dict[str, Detector] = {}
        self._lock = threading.Lock()
        # Texts each guard found clean. Detectors are deterministic, so a text seen
        # clean (an operator's system prompt, conversation history) is not scanned
        # again. Only clean texts are kept: they hold nothing the guards look for.
        self._clean: dict[str, dict[str, None]] = {}

    def known_clean(self, guard: str, text: str) -> bool:
        seen = self._clean.get(guard)
        return seen is not None and text in seen

    def remember_clean(self, guard: str, text: str) -> None:
        if len(text) > CLEAN_CACHE_MAX_CHARS:
            return
        seen = self._clean.setdefault(guard, {})
        if len(seen) >= CLEAN_CACHE_SIZE:
            seen.pop(next(iter(seen)))  # oldest first
        seen[text] = None

    def get(self, guard: str) -> Detector:
        found = self._built.get(guard)
        if found is not None:
            return found
        with self._lock:
            if guard not in self._built:
                self._built[guard] = self._build(guard)
            return self._built[guard]

    def _build(self, guard: str) -> Detector:
        factory = self._factories.get(guard)
        if factory is not None:
            return factory()
        module, cls = DETECTORS[guard]
        try:
            kind = getattr(importlib.import_module(module), cls)
            # The leak guard looks for canaries and exfiltration links; PHI and
            # secrets in answers are the phi and secrets guards' job.
            built: Detector = kind(phi=False, secrets=False) if guard == "leak" else kind()
        except (ImportError, AttributeError) as exc:
            return _Unavailable(guard, f"detector not installed ({type(exc).__name__})")
        return built

    def warm(self, guards: Sequence[str]) -> None:
        """Build and run each detector once, so the first request pays no loading."""
        for g in guards:
            run_detector(self.get(g), "warm-up text")


@dataclass
class Findings:
    """What the guards found in one request, by guard and type (counts only)."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # time spent in the detectors

    def add(self, guard: str, findings: Sequence[Finding], action: str) -> None:
        c = self.counts.setdefault(guard, Counter())
        for f in findings:
            c[f.type] += 1
        prior = self.actions.get(guard)
        if prior is None or _RANK[action] > _RANK[prior]:
            self.actions[guard] = action

    def to_dict(self) -> dict[str, object]:
        return {g: dict(sorted(c.items())) for g, c in sorted(self.counts.items()) if c}

    @property
    def action(self) -> str:
        """The strongest action taken, ``none`` when nothing was found."""
        return max(self.actions.values(), key=lambda a: _RANK[a], default="none")


_RANK = {"none": 0, "allow": 1, "flag": 2, "redact": 3, "tokenize": 4, "block": 5}


def effective(guard: str, configured: Action, vendor: Vendor | None) -> Action:
    """The action a guard takes on a finding, after the vendor's data rules."""
    if guard == "injection":
        return Action.BLOCK if configured is Action.TOKENIZE else configured
    data_class = _CLASS_OF.get(guard)
    if (
        vendor is not None
        and data_class is not None
        and configured in (Action.ALLOW, Action.FLAG)
        and not vendor.may_receive(data_class)
    ):
        return Action.BLOCK
    return configured


def redact(text: str, findings: Sequence[Finding]) -> str:
    """Replace each finding with ``[TYPE]``; overlapping findings merge into the first."""
    out: list[str] = []
    pos = 0
    for f in sorted(findings, key=lambda f: (f.start, -f.end)):
        if f.start < pos:  # overlaps one already replaced: widen it, no second label
            pos = max(pos, f.end)
            continue
        out.append(text[pos : f.start])
        out.append(f"[{f.type.upper()}]")
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def canary_detector(canary: str) -> Detector:
    """A leak detector that also knows this request's canary (look-alikes, base64, hex)."""
    try:
        kind = importlib.import_module(DETECTORS["leak"][0]).LeakDetector
    except (ImportError, AttributeError) as exc:
        return _Unavailable("leak", f"detector not installed ({type(exc).__name__})")
    built: Detector = kind(canaries=[canary], phi=False, secrets=False)
    return built


def check(
    detectors: DetectorSet,
    guard: str,
    text: str,
    override: Detector | None = None,
    found: Findings | None = None,
) -> Verdict:
    """Run one guard; ERROR blocks at once (fail closed). Adds its time to ``found``."""
    cacheable = override is None
    if cacheable and detectors.known_clean(guard, text):
        return Verdict(guard, Outcome.CLEAN)
    t0 = time.perf_counter()
    verdict = run_detector(override or detectors.get(guard), text)
    if found is not None:
        found.seconds += time.perf_counter() - t0
    if cacheable and verdict.outcome is Outcome.CLEAN:
        detectors.remember_clean(guard, text)
    if verdict.outcome is Outcome.ERROR:
        raise GuardBlockedError(
            f"the {guard} guard could not decide ({verdict.error or 'error'}); refused, fail closed"
        )
    return verdict


def guard_input(
    detectors: DetectorSet,
    policy: GuardPolicy,
    vendor: Vendor,
    texts: list[str],
    found: Findings,
) -> tuple[list[str], list[tuple[int, tuple[Finding, ...]]]]:
    """Check and transform every prompt text; raises GuardBlockedError to refuse.

    Returns the texts (redacted where the policy says so) and the PHI findings to
    tokenize, by text index: the vault does that off the event loop.
    """
    out = list(texts)
    pending: list[tuple[int, tuple[Finding, ...]]] = []
    for guard in INPUT_GUARDS:
        mode = policy.mode(guard)
        if mode is None:
            continue
        for i, text in enumerate(out):
            if not text:
                continue
            verdict = check(detectors, guard, text, found=found)
            if verdict.outcome is not Outcome.FLAGGED:
                continue
            action = effective(guard, mode, vendor)
            found.add(guard, verdict.findings, action.value)
            if action is Action.BLOCK:
                why = (
                    f"{guard} found in the prompt and vendor {vendor.name} may not receive it"
                    if action is not mode
                    else f"the {guard} guard blocked the prompt"
                )
                raise GuardBlockedError(why)
            if action is Action.TOKENIZE and guard == "phi":
                pending.append((i, verdict.findings))
            elif action in (Action.REDACT, Action.TOKENIZE):
                out[i] = redact(text, verdict.findings)
    return out, pending


def guard_output(
    detectors: DetectorSet,
    policy: GuardPolicy,
    text: str,
    found: Findings,
    canary: str | None,
) -> str:
    """Check the vendor's answer; block, redact or pass it per the route."""
    if canary is not None and canary in text:
        found.add("leak", [Finding("CANARY_LEAK", 0, 0, 1.0, "gateway")], Action.BLOCK.value)
        raise GuardBlockedError("the answer reproduced the system prompt (canary); withheld")
    leak = canary_detector(canary) if canary is not None else None
    for guard in OUTPUT_GUARDS:
        mode = policy.mode(guard)
        if mode is None:
            continue
        verdict = check(detectors, guard, text, leak if guard == "leak" else None, found)
        if verdict.outcome is not Outcome.FLAGGED:
            continue
        found.add(guard, verdict.findings, mode.value)
        if mode is Action.BLOCK:
            raise GuardBlockedError(f"the {guard} guard withheld the answer")
        if mode in (Action.REDACT, Action.TOKENIZE):
            text = redact(text, verdict.findings)
    return text


class StreamGuard:
    """Output guards over a stream with a bounded look-behind and hold-back window.

    ``feed`` returns the text that is safe to emit now. It holds back the last
    ``window`` characters, so an identifier split across chunks is seen whole
    before any of it leaves, and it runs the detectors over ``context``
    characters already emitted plus what is held, so a label like "MRN" in an
    earlier chunk still informs a number in a later one.
    """

    def __init__(
        self,
        detectors: DetectorSet,
        policy: GuardPolicy,
        found: Findings,
        canary: str | None,
        *,
        window: int = 96,
        context: int = 64,
    ) -> None:
        self._detectors = detectors
        self._policy = policy
        self._found = found
        self._canary = canary
        self._guards = [g for g in OUTPUT_GUARDS if policy.mode(g) is not None]
        self._window = window
        self._context = context
        self._held = ""
        self._tail = ""  # already emitted, kept as look-behind
        self._leak = canary_detector(canary) if canary is not None else None

    @property
    def active(self) -> bool:
        return bool(self._guards) or self._canary is not None

    def feed(self, text: str) -> str:
        self._held += text
        if len(self._held) < 2 * self._window:
            return ""
        return self._release(len(self._held) - self._window)

    def close(self) -> str:
        return self._release(len(self._held)) if self._held else ""

    def _release(self, cut: int) -> str:
        base = len(self._tail)
        scan = self._tail + self._held
        if self._canary is not None and self._canary in scan:
            self._found.add(
                "leak", [Finding("CANARY_LEAK", 0, 0, 1.0, "gateway")], Action.BLOCK.value
            )
            raise GuardBlockedError("the answer reproduced the system prompt (canary); withheld")
        spans: list[Finding] = []
        for guard in self._guards:
            mode = self._policy.mode(guard)
            assert mode is not None  # noqa: S101 - filtered in __init__
            override = self._leak if guard == "leak" else None
            verdict = check(self._detectors, guard, scan, override, self._found)
            if verdict.outcome is not Outcome.FLAGGED:
                continue
            mine = [f for f in verdict.findings if f.end > base]
            if not mine:
                continue
            # Count a finding once: when it is released, not while it is held.
            released = [f for f in mine if f.start - base < cut or cut == len(self._held)]
            if mode is Action.BLOCK:
                self._found.add(guard, mine, mode.value)
                raise GuardBlockedError(f"the {guard} guard withheld the rest of the answer")
            for f in mine:
                if f.start - base < cut < f.end - base:
                    cut = max(0, f.start - base)  # never emit half an identifier
            if mode in (Action.REDACT, Action.TOKENIZE):
                spans.extend(
                    Finding(f.type, max(f.start - base, 0), f.end - base, f.score, f.detector)
                    for f in mine
                    if f.end - base <= cut
                )
            self._found.add(guard, [f for f in released if f.end - base <= cut], mode.value)
        out = redact(self._held[:cut], spans) if spans else self._held[:cut]
        self._tail = (self._tail + self._held[:cut])[-self._context :]
        self._held = self._held[cut:]
        return out
