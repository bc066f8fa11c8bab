"""UTC timestamps in the one format Vallum stores: RFC 3339, microseconds, ``Z``."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_time(t: dt.datetime) -> str:
    """``2026-11-25T18:55:28.123456Z``; the input must be timezone-aware."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_text() -> str:
    return format_time(utcnow())


def parse_time(text: str) -> dt.datetime:
    """Inverse of ``format_time``; raises ValueError on anything else."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
