"""Output filters for model responses: canaries, exfiltration links, PHI and secrets.

A response leaks when it carries

* a **canary** the gateway planted in the system prompt (``CANARY_LEAK``), also
  when spelled with look-alikes, zero-width characters or base64 / hex;
* a markdown or HTML **image** pointing at a domain that is not allowlisted (the
  client fetches it without a click, so its URL carries data out), or a **link**
  to such a domain whose URL carries data (``EXFILTRATION_LINK``);
* **PHI** that was not in the caller's own input (types as the PHI detector names
  them, e.g. ``NAME``, ``SSN``): pass the caller's input as ``caller_text`` (and,
  when you have them, its PHI ``caller_findings``) so echoing the caller's own
  identifiers back to the caller is not a leak;
* **secrets** (types as the secrets detector names them).

:meth:`LeakDetector.stream` filters a response as it streams: each ``feed``
returns the text that is safe to emit now; it scans once 96 new characters, and at
least as many as it holds back, have arrived (each scan re-reads the held text, so
the work stays linear: amortised O(chunk) per feed), and then holds back only what
could still be the start of a match (a canary prefix, an unclosed link, a partial
token), never more than :data:`MAX_HOLD` characters after a scan. With
``Action.REDACT`` the released text has each finding replaced by ``[TYPE]``; with
``Action.BLOCK`` nothing more is released once a leak is seen.
"""

from __future__ import annotations

import base64
import re
import unicodedata
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from vallum.detect.normalize import normalize
from vallum.detect.types import Action, Detector, DetectorConfig, Finding, Verdict

__all__ = ["MAX_HOLD", "LeakDetector", "LeakStream"]

MAX_HOLD = 2048
"""The most a stream holds back; a longer unfinished link is released (and still reported)."""
_CONTEXT = 96
"""Already-released text kept as context for matches that need a preceding cue."""
_BATCH = 96
"""New characters gathered before the stream scans again (bounds the work per feed)."""
_NAME = "leak"
_PHI_NOT_LEAKS = frozenset({"URL"})
"""Links are judged by the exfiltration filter (domain allowlist), not as PHI."""

_MD_LINK = re.compile(
    r"(!?)\[([^\]\n]{0,500})\]\(\s*<?([^)\s>]{1,4096})>?(?:\s+[\"'][^\"']*[\"'])?\s*\)"
)
_MD_REF = re.compile(r"^\s{0,3}\[([^\]\n]{1,200})\]:\s*<?(\S{1,4096}?)>?(?:\s|$)", re.MULTILINE)
_MD_REF_USE = re.compile(r"(!?)\[[^\]\n]{0,500}\]\[([^\]\n]{1,200})\]")
_HTML_URL = re.compile(
    r"<(img|image|a|iframe|script|link|source|video|audio|embed|object)\b[^>]{0,2000}?"
    r"\b(src|href|data|srcset|poster)\s*=\s*[\"']?([^\"'\s>]{1,4096})",
    re.IGNORECASE,
)
_CSS_URL = re.compile(r"url\(\s*[\"']?((?:https?:)?//[^\"')\s]{1,4096})", re.IGNORECASE)
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")
_SEPARATOR = re.compile(r"[\s\-_.·*]")
_SEPARATORS = re.compile(r"[\s\-_.·*]+")
_DATA_VALUE = re.compile(r"[A-Za-z0-9+/=_%.\-]{16,}")


@dataclass(frozen=True, slots=True)
class _Link:
    image: bool
    url: str
    start: int
    end: int


def _host(url: str) -> str | None:
    u = url.strip()
    if u.startswith("//"):
        u = "https:" + u
    try:
        parts = urllib.parse.urlsplit(u)
    except ValueError:
        return "?"  # unparseable: treat as foreign
    if parts.scheme.lower() not in {"http", "https", "ftp", "ws", "wss"}:
        return None  # relative, mailto:, data: and the like carry nothing to a third party
    return (parts.hostname or "?").lower().rstrip(".")


def _carries_data(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url if not url.startswith("//") else "https:" + url)
    except ValueError:
        return True
    for _, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if len(value) >= 16 or " " in value or _DATA_VALUE.fullmatch(value or "-"):
            return True
    if parts.fragment and len(parts.fragment) >= 16:
        return True
    return any(_DATA_VALUE.fullmatch(seg) for seg in parts.path.split("/") if len(seg) >= 24)


def _links(text: str) -> list[_Link]:
    out = [
        _Link(m.group(1) == "!", m.group(3), m.start(), m.end()) for m in _MD_LINK.finditer(text)
    ]
    refs = {m.group(1).lower(): m for m in _MD_REF.finditer(text)}
    for m in _MD_REF_USE.finditer(text):
        ref = refs.get(m.group(2).lower())
        if ref is not None:
            out.append(_Link(m.group(1) == "!", ref.group(2), ref.start(), ref.end()))
    out.extend(
        _Link(m.group(1).lower() != "a", m.group(3), m.start(), m.end())
        for m in _HTML_URL.finditer(text)
    )
    out.extend(_Link(True, m.group(1), m.start(), m.end()) for m in _CSS_URL.finditer(text))
    return out


def _redact(text: str, findings: Sequence[Finding], offset: int = 0) -> str:
    parts: list[str] = []
    pos = 0
    for f in sorted(findings, key=lambda f: f.start):
        s, e = f.start - offset, f.end - offset
        if s < pos or s < 0 or e > len(text):
            continue
        parts.append(text[pos:s])
        parts.append(f"[{f.type}]")
        pos = e
    parts.append(text[pos:])
    return "".join(parts)


class LeakDetector:
    """Finds leaks in a model response (name ``leak``); see the module docstring.

    ``canaries`` are the tokens planted in system prompts; ``allowed_domains`` the
    hosts (and their subdomains) a response may link or embed images from.
    ``caller_text``/``caller_findings`` describe the caller's own input, whose PHI
    may be echoed back. ``phi``/``secrets`` turn those filters off. The PHI and
    secrets detectors load on first use.
    """

    def __init__(
        self,
        config: DetectorConfig | None = None,
        *,
        canaries: Sequence[str] = (),
        allowed_domains: Sequence[str] = (),
        caller_text: str = "",
        caller_findings: Sequence[Finding] = (),
        phi: bool = True,
        secrets: bool = True,
    ) -> None:
        self.config = config or DetectorConfig()
        self.canaries = tuple(c for c in canaries if c)
        if any(len(c) < 8 for c in self.canaries):
            raise ValueError("canaries must be at least 8 characters long")
        self.allowed_domains = tuple(d.lower().strip().strip(".") for d in allowed_domains if d)
        if caller_findings and not caller_text:
            raise ValueError("caller_findings index into caller_text: pass both")
        self._caller = _fold(caller_text)
        self._caller_values = frozenset(
            _fold(caller_text[f.start : f.end]) for f in caller_findings if f.end > f.start
        )
        self._use_phi = phi
        self._use_secrets = secrets
        self._phi: Detector | None = None
        self._secrets: Detector | None = None
        self._encoded_canaries = tuple(
            (c, enc)
            for c in self.canaries
            for enc in (
                base64.b64encode(c.encode()).decode().rstrip("="),
                c.encode().hex(),
                c[::-1],
            )
        )

    @property
    def name(self) -> str:
        return _NAME

    def stream(self) -> LeakStream:
        """A streaming filter over one response."""
        return LeakStream(self)

    def detect(self, text: str) -> Verdict:
        return Verdict.from_findings(_NAME, self.find(text), self.config.threshold)

    def find(self, text: str) -> list[Finding]:
        """Every leak finding in ``text`` (filtered by the configured types)."""
        found = self._canary_findings(text) + self._link_findings(text) + self._data_findings(text)
        wanted = self.config.types
        if wanted is not None:
            found = [f for f in found if f.type in wanted]
        return found

    def max_canary(self) -> int:
        return max((len(c) for c in self.canaries), default=0)

    # ------------------------------------------------------------------ layers
    def _canary_findings(self, text: str) -> list[Finding]:
        if not self.canaries:
            return []
        out: list[Finding] = []
        lowered = text.lower()
        for c in self.canaries:
            start = lowered.find(c.lower())
            while start >= 0:
                out.append(Finding("CANARY_LEAK", start, start + len(c), 1.0, _NAME))
                start = lowered.find(c.lower(), start + 1)
        if out:
            return out
        norm = normalize(text)
        squashed = _SEPARATORS.sub("", norm.text).lower()
        for c in self.canaries:
            key = _SEPARATORS.sub("", c).lower()
            at = squashed.find(key) if key else -1
            if at >= 0:  # rare: only now map the squashed text back, character by character
                keep = [i for i, ch in enumerate(norm.text) if not _SEPARATOR.match(ch)]
                start, end = norm.span(keep[at], keep[at + len(key) - 1] + 1)
                out.append(Finding("CANARY_LEAK", start, end, 0.95, _NAME))
                return out
            for view in norm.views[1:]:
                if c.lower() in view.text.lower():
                    out.append(Finding("CANARY_LEAK", view.start, view.end, 0.95, _NAME))
                    return out
        for c, enc in self._encoded_canaries:
            idx = text.find(enc)
            if idx >= 0:
                out.append(Finding("CANARY_LEAK", idx, idx + len(enc), 0.95, _NAME))
                return out
            del c
        return out

    def _allowed(self, host: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)

    def _link_findings(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        for link in _links(text):
            host = _host(urllib.parse.unquote(link.url))
            if host is None or self._allowed(host):
                continue
            if link.image:
                out.append(Finding("EXFILTRATION_LINK", link.start, link.end, 0.9, _NAME))
            elif _carries_data(link.url):
                out.append(Finding("EXFILTRATION_LINK", link.start, link.end, 0.8, _NAME))
        return out

    def _data_findings(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        if self._use_phi:
            if self._phi is None:
                from vallum.detect.phi import PhiDetector

                self._phi = PhiDetector(DetectorConfig(threshold=self.config.threshold))
            for f in self._phi.detect(text).findings:
                if f.type in _PHI_NOT_LEAKS:
                    continue
                value = _fold(text[f.start : f.end])
                if value in self._caller_values or (value and value in self._caller):
                    continue  # the caller's own identifier, echoed back to the caller
                out.append(Finding(f.type, f.start, f.end, f.score, _NAME))
        if self._use_secrets:
            if self._secrets is None:
                from vallum.detect.secrets import SecretsDetector

                self._secrets = SecretsDetector(DetectorConfig(threshold=self.config.threshold))
            out.extend(
                Finding(f.type, f.start, f.end, f.score, _NAME)
                for f in self._secrets.detect(text).findings
            )
        return out


def _fold(value: str) -> str:
    """Compare identifiers loosely: NFKC, case, spacing and punctuation do not matter."""
    v = _INVISIBLE.sub("", unicodedata.normalize("NFKC", value)).casefold()
    return re.sub(r"[\W_]+", "", v)


_OPEN_MD = re.compile(r"\[[^\]\n]*(?:\]\([^)\n]*)?")
_OPEN_TAG = re.compile(r"<(?:[a-zA-Z][^>]*)?")
_TRAILING_DIGITS = re.compile(r"[\d(+][\d()\s.\-/]{0,24}$")


def _open_link_start(tail: str) -> int | None:
    """Where an unfinished markdown link/image, HTML tag or URL starts at the end of ``tail``.

    Looks only at the last ``[``, ``<`` and whitespace-delimited token, so the cost is
    linear whatever the text (no regex scan from every bracket).
    """
    starts: list[int] = []
    i = tail.rfind("[")
    if i >= 0 and _OPEN_MD.fullmatch(tail, i):
        starts.append(i - 1 if i > 0 and tail[i - 1] == "!" else i)
    j = tail.rfind("<")
    if j >= 0 and _OPEN_TAG.fullmatch(tail, j):
        starts.append(j)
    k = max(tail.rfind(" "), tail.rfind("\n"), tail.rfind("\t")) + 1
    if "//" in tail[k:]:
        starts.append(k)
    if tail.endswith("!"):
        starts.append(len(tail) - 1)
    return min(starts) if starts else None


class LeakStream:
    """Filters one streamed response; see :meth:`LeakDetector.stream`."""

    def __init__(self, detector: LeakDetector) -> None:
        self._d = detector
        self._buf = ""  # unreleased text as of the last scan
        self._pending: list[str] = []  # chunks fed since the last scan, joined when scanning
        self._pending_len = 0
        self._tail = ""  # released text kept as context
        self._released = 0  # raw characters released (absolute offset of _buf[0])
        self._findings: dict[tuple[str, int, int], Finding] = {}  # only ever grows
        self._cached: tuple[int, Verdict] | None = None
        self._blocked = False
        self._closed = False
        self._held = 0  # characters held back after the last scan

    def feed(self, chunk: str) -> tuple[str, Verdict]:
        """Add ``chunk``; return the text safe to emit now and the verdict so far."""
        if self._closed:
            raise ValueError("stream is closed")
        if self._blocked:
            return "", self._verdict()
        self._pending.append(chunk)
        self._pending_len += len(chunk)
        if self._pending_len < max(_BATCH, self._held):
            # Too little new text to be worth a scan yet. Each scan reads the held text
            # again, so waiting for at least as much new text as is held keeps the work
            # linear in the stream's length (amortised O(chunk) per feed), however long
            # an unfinished link makes the hold.
            return "", self._verdict()
        return self._release(final=False)

    def close(self) -> tuple[str, Verdict]:
        """Release everything still held; return it with the final verdict."""
        out = self._release(final=True)
        self._closed = True
        return out

    def _hold(self, buf: str) -> int:
        hold = 0
        lowered = buf.lower()
        for c in self._d.canaries:
            cl = c.lower()
            for k in range(min(len(cl) - 1, len(lowered)), 0, -1):
                if lowered.endswith(cl[:k]):
                    hold = max(hold, k)
                    break
        tail = buf[-MAX_HOLD:]
        start = _open_link_start(tail)
        if start is not None:
            hold = max(hold, len(tail) - start)
        if self._d._use_phi or self._d._use_secrets:
            k = max(buf.rfind(" "), buf.rfind("\n"), buf.rfind("\t")) + 1
            hold = max(hold, min(len(buf) - k, 64))  # a partial token
            m = _TRAILING_DIGITS.search(buf)
            if m is not None:
                hold = max(hold, len(buf) - m.start())
            hold = max(hold, min(len(buf), 32))  # a name or date split over chunks
        if self._d.canaries:
            hold = max(hold, min(len(buf), 3 * self._d.max_canary()))  # spaced-out canaries
        return min(hold, MAX_HOLD, len(buf))

    def _release(self, *, final: bool) -> tuple[str, Verdict]:
        if self._pending:
            self._buf += "".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
        if self._blocked:
            self._buf = ""
            return "", self._verdict()
        window = self._tail + self._buf
        base = self._released - len(self._tail)
        cut = len(self._buf) if final else len(self._buf) - self._hold(self._buf)
        found = [
            Finding(f.type, f.start + base, f.end + base, f.score, _NAME)
            for f in self._d.find(window)
        ]
        found = [f for f in found if f.end > self._released]  # touches unreleased text
        for f in sorted(found, key=lambda f: f.start, reverse=True):
            s, e = f.start - self._released, f.end - self._released
            if s < cut < e:  # never release part of a match that may still grow
                cut = max(s, 0)
        for f in found:
            if f.end - self._released <= cut:  # complete: it cannot change any more
                self._findings.setdefault((f.type, f.start, f.end), f)
        verdict = self._verdict()
        if verdict.flagged and self._d.config.action is Action.BLOCK:
            self._blocked = True
            self._buf = ""
            return "", verdict
        out = self._buf[:cut]
        out_text = out
        if self._d.config.action is Action.REDACT:
            inside = [
                f
                for f in self._findings.values()
                if f.start >= self._released and f.end <= self._released + cut
            ]
            out_text = _redact(out, inside, self._released)
        self._tail = (self._tail + out)[-_CONTEXT:]
        self._released += cut
        self._buf = self._buf[cut:]
        self._held = len(self._buf)
        return out_text, verdict

    def _verdict(self) -> Verdict:
        """The verdict so far, rebuilt only when a finding was added since the last one."""
        if self._cached is None or self._cached[0] != len(self._findings):
            verdict = Verdict.from_findings(
                _NAME, self._findings.values(), self._d.config.threshold
            )
            self._cached = (len(self._findings), verdict)
        return self._cached[1]
