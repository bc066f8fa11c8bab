"""Irreversible redaction: each finding becomes ``[TYPE]``."""

from __future__ import annotations

from collections.abc import Sequence

from vallum.detect.types import Finding

__all__ = ["non_overlapping", "redact"]


def non_overlapping(findings: Sequence[Finding]) -> list[Finding]:
    """Findings sorted by start; of overlapping ones the earlier, then longer, wins."""
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.start, -(f.end - f.start))):
        if f.end <= f.start:
            continue
        if kept and f.start < kept[-1].end:
            last = kept[-1]
            if f.end > last.end:  # merge: never leave part of an identifier behind
                kept[-1] = Finding(
                    last.type, last.start, f.end, max(last.score, f.score), last.detector
                )
            continue
        kept.append(f)
    return kept


def redact(text: str, findings: Sequence[Finding]) -> str:
    """``text`` with every finding replaced by ``[TYPE]`` (overlaps merged)."""
    out: list[str] = []
    pos = 0
    for f in non_overlapping(findings):
        if f.start < 0 or f.end > len(text):
            raise ValueError(f"finding {f.type} [{f.start}:{f.end}] is outside the text")
        out.append(text[pos : f.start])
        out.append(f"[{f.type}]")
        pos = f.end
    out.append(text[pos:])
    return "".join(out)
