"""Canonical JSON (RFC 8785, JCS) for ledger entries.

``rfc8785`` is the reference implementation. For the common case (no floats,
ASCII object keys) ``json.dumps`` with sorted keys and no whitespace produces the
identical bytes about three times faster; a property test pins the equivalence.
Values must be JSON: str (no lone surrogates), int within IEEE-754's exact
range, bool, None, finite float, list, and dict with str keys.
"""

from __future__ import annotations

import json
import json.encoder
import math
from collections.abc import Callable
from typing import Any

import rfc8785

_encode_basestring: Callable[[str], str] = json.encoder.encode_basestring

MAX_DEPTH = 32
_INT_LIMIT = 2**53 - 1


class CanonicalError(ValueError):
    """The value cannot be represented in canonical JSON."""


def _check(value: Any, depth: int) -> bool:
    """Validate ``value``; return True when the fast path gives JCS bytes."""
    if depth > MAX_DEPTH:
        raise CanonicalError("nested too deeply")
    if value is None or value is True or value is False:
        return True
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise CanonicalError("string contains a lone surrogate") from None
        return True
    if isinstance(value, int):
        if not -_INT_LIMIT <= value <= _INT_LIMIT:
            raise CanonicalError("integer outside the exact IEEE-754 range")
        return True
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalError("NaN and infinity are not JSON")
        return False
    if isinstance(value, list | tuple):
        simple = True
        for item in value:
            simple &= _check(item, depth + 1)
        return simple
    if isinstance(value, dict):
        simple = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError("object keys must be strings")
            _check(key, depth + 1)
            simple &= key.isascii() and _check(item, depth + 1)
        return simple
    raise CanonicalError(f"{type(value).__name__} is not a JSON value")


def canonical_json(value: Any) -> str:
    """RFC 8785 canonical JSON text of ``value``; raises CanonicalError."""
    if _check(value, 0):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return rfc8785.dumps(value).decode("utf-8")
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as exc:
        raise CanonicalError(str(exc)) from exc


def json_string(text: str) -> str:
    """A JSON string literal exactly as RFC 8785 writes it (text already checked).

    ``encode_basestring`` is what ``json.dumps(ensure_ascii=False)`` uses for a
    string, without building an encoder per call (four calls per event on the
    verify path).
    """
    return _encode_basestring(text)
