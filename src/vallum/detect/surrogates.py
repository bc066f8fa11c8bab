# ruff: noqa: SIM905 - word lists read better as one string
"""Realistic, format-preserving fake values for tokenization (``surrogates="fake"``).

A fake keeps the shape of the original (case, separators, digit count, e-mail
and URL structure) so a model downstream reads a plausible document, but holds
none of its content. Choices are driven by a seed the vault derives with HMAC
from the conversation's data key, so fakes are consistent within a
conversation and unlinkable across conversations.
"""

from __future__ import annotations

__all__ = ["fake_value"]

_FIRST = (
    "Avery Blake Casey Dana Emery Finley Harper Jordan Kendall Logan Morgan Parker Quinn Reese "
    "Riley Rowan Sawyer Skyler Taylor Teagan"
).split()
_LAST = (
    "Ashdown Bellamy Carrow Dunmore Ellery Fairholt Garrick Hartwell Ingleby Jessop Kettering "
    "Langley Merriwether Northcott Oakley Pemberly Quarry Redfern Stanhope Thornbury"
).split()
_PLACES = (
    "Fairhaven Millbrook Stonebridge Westfield Oakridge Riverton Glenwood Ashford Brookside "
    "Cedarville Elmstead Foxborough Greyhaven Hollowell Lakemont"
).split()
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def _pick(seq: list[str], seed: bytes, i: int) -> str:
    return seq[seed[i % len(seed)] % len(seq)]


def _shape(value: str, seed: bytes) -> str:
    """Replace digits by digits and letters by letters, keeping case and separators."""
    out = []
    for i, ch in enumerate(value):
        b = seed[i % len(seed)] ^ (i * 31 & 0xFF)
        if ch.isdigit():
            out.append(str(b % 10))
        elif ch.isalpha() and ch.isascii():
            letter = _LETTERS[b % len(_LETTERS)]
            out.append(letter if ch.isupper() else letter.lower())
        else:
            out.append(ch)
    return "".join(out)


def _case_like(template: str, fake: str) -> str:
    if template.isupper():
        return fake.upper()
    if template.islower():
        return fake.lower()
    return fake


def fake_value(typ: str, value: str, seed: bytes) -> str:
    """A fake of type ``typ`` shaped like ``value``."""
    if typ == "NAME":
        words = value.split()
        fake = (
            _pick(_LAST, seed, 0)
            if len(words) == 1
            else f"{_pick(_FIRST, seed, 0)} {_pick(_LAST, seed, 1)}"
        )
        return _case_like(value, fake)
    if typ == "GEOGRAPHIC" and not any(c.isdigit() for c in value):
        return _case_like(value, _pick(_PLACES, seed, 2))
    if typ == "EMAIL" and "@" in value:
        return f"{_pick(_FIRST, seed, 0).lower()}.{_pick(_LAST, seed, 1).lower()}@example.org"
    if typ == "URL":
        return f"https://example.org/{_shape('x' * 8, seed).lower()}"
    return _shape(value, seed)
