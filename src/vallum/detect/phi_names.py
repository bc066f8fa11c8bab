"""Names and places: context cues, capitalisation and shipped lexicons.

One pass over the word tokens of a text. Evidence, strongest first:

* a title (``Dr.``, ``Mr.``, ``Mrs.``...) or credential (``, MD``, ``RN``) next to
  name-like words;
* a cue (``Patient:``, ``daughter``, ``spoke with``, ``lives in``...) before them;
* lexicon membership (given names, surnames, cities) together with capitalisation
  in mixed-case text. Upper-case or lower-case text (clinical notes are often ALL
  CAPS) gives no capitalisation evidence, so there a lexicon word needs a
  neighbouring name word or a cue.

Words on the clinical allowlist (eponyms, drugs, anatomy) and common English
words are never names on lexicon evidence alone. Lexicons live in
``vallum/detect/data`` and are read once, on first use.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["Lexicons", "NameFinder", "lexicons"]

TOKEN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ](?:[A-Za-zÀ-ÖØ-öø-ÿ'\u2019\-]*[A-Za-zÀ-ÖØ-öø-ÿ])?\.?")

TITLES = frozenset(
    [
        "dr",
        "dr.",
        "doctor",
        "mr",
        "mr.",
        "mrs",
        "mrs.",
        "ms",
        "ms.",
        "miss",
        "mx",
        "mx.",
        "prof",
        "prof.",
        "professor",
        "sir",
        "dame",
        "madam",
        "rev",
        "rev.",
        "reverend",
        "fr.",
        "father",
        "sister",
        "nurse",
        "judge",
        "attorney",
        "atty",
        "atty.",
        "officer",
        "sgt",
        "capt",
    ]
)
# Titles whose dotless form is also a common word need the dot or a capital.
WEAK_TITLES = frozenset({"doctor", "father", "sister", "nurse", "judge", "officer", "miss", "sir"})

CREDENTIALS = frozenset(
    [
        "md",
        "m.d.",
        "do",
        "d.o.",
        "rn",
        "r.n.",
        "np",
        "n.p.",
        "pa",
        "pa-c",
        "lpn",
        "cna",
        "crna",
        "phd",
        "ph.d.",
        "dds",
        "dmd",
        "pharmd",
        "rph",
        "msw",
        "lcsw",
        "mph",
        "facp",
        "facs",
        "frcp",
        "mbbs",
        "dnp",
        "aprn",
        "cnm",
        "pt",
        "dpt",
        "ot",
        "otr",
        "slp",
        "rd",
    ]
)

# Words after which the next name-like words are a person's name.
NAME_CUES = frozenset(
    [
        "patient",
        "pt",
        "name",
        "named",
        "mrs.",
        "mr.",
        "wife",
        "husband",
        "daughter",
        "son",
        "mother",
        "father",
        "sister",
        "brother",
        "niece",
        "nephew",
        "aunt",
        "uncle",
        "cousin",
        "grandson",
        "granddaughter",
        "grandmother",
        "grandfather",
        "spouse",
        "partner",
        "fiance",
        "fiancee",
        "boyfriend",
        "girlfriend",
        "friend",
        "neighbor",
        "neighbour",
        "guardian",
        "proxy",
        "hcp",
        "dtr",
        "sig",
        "signed",
        "by",
        "per",
        "with",
        "attending",
        "resident",
        "fellow",
        "intern",
        "physician",
        "surgeon",
        "pcp",
        "provider",
        "cc",
        "cc:",
        "from",
        "to",
        "dear",
        "contact",
        "caller",
        "caregiver",
        "roommate",
        "sibling",
        "stepson",
        "stepdaughter",
        "mom",
        "dad",
    ]
)
# Cues strong enough to take a following word even when it is a common word.
STRONG_NAME_CUES = frozenset(
    [
        "patient:",
        "name:",
        "pt:",
        "signed:",
        "sig:",
        "signature:",
        "attending:",
        "resident:",
        "pcp:",
        "provider:",
        "physician:",
        "surgeon:",
        "md:",
        "rn:",
        "np:",
        "contact:",
        "by:",
        "dear",
        "cc:",
        "referring:",
        "daughter",
        "son",
        "wife",
        "husband",
        "mother",
        "father",
        "sister",
        "brother",
        "niece",
        "nephew",
        "dtr",
    ]
)

PLACE_CUES = frozenset(
    [
        "in",
        "from",
        "to",
        "at",
        "near",
        "lives",
        "live",
        "living",
        "resides",
        "reside",
        "resident",
        "moved",
        "transferred",
        "transfer",
        "visiting",
        "visited",
        "town",
        "city",
        "county",
        "village",
        "born",
        "hometown",
        "address:",
        "addr",
    ]
)
FACILITY_HEADS = frozenset(
    [
        "hospital",
        "hosp",
        "clinic",
        "infirmary",
        "hospice",
        "center",
        "centre",
        "medical",
        "healthcare",
        "sanatorium",
        "manor",
        "pavilion",
        "rehab",
        "nursing",
    ]
)
STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "they",
        "this",
        "to",
        "too",
        "up",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "which",
        "who",
        "will",
        "with",
        "you",
        "your",
    ]
)


@dataclass(frozen=True, slots=True)
class Lexicons:
    first: frozenset[str]
    last: frozenset[str]
    cities: frozenset[str]
    city_heads: frozenset[str]
    allow: frozenset[str]
    common: frozenset[str]


def _read(name: str) -> list[str]:
    text = resources.files("vallum.detect").joinpath("data", name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@functools.cache
def lexicons() -> Lexicons:
    """Read the shipped lexicons (once)."""
    allow = frozenset(w for line in _read("allowlist.txt") for w in line.split())
    common = frozenset(w for line in _read("common_words.txt") for w in line.split())
    cities = frozenset(_read("cities.txt"))
    return Lexicons(
        first=frozenset(_read("first_names.txt")),
        last=frozenset(_read("surnames.txt")),
        cities=cities,
        city_heads=frozenset(c.split()[0] for c in cities),
        allow=allow,
        common=common | allow,
    )


@dataclass(slots=True)
class _Tok:
    start: int
    end: int
    text: str
    low: str
    cap: bool  # Titlecase word in mixed-case text
    sent_start: bool


Span = tuple[str, int, int, float]


class NameFinder:
    """Find NAME and GEOGRAPHIC spans in one text."""

    def __init__(self, lex: Lexicons) -> None:
        self.lex = lex

    def _tokens(self, text: str) -> tuple[list[_Tok], bool]:
        letters = [c for c in text if c.isalpha()]
        upper = sum(c.isupper() for c in letters)
        mixed = not letters or 0.05 < upper / len(letters) < 0.6
        toks: list[_Tok] = []
        for m in TOKEN.finditer(text):
            word = m.group()
            end = m.end()
            if word.endswith(".") and not (len(word) == 2 or word.lower() in TITLES):
                word = word[:-1]
                end -= 1
            low = word.lower().rstrip(".")
            if low.endswith(("'s", "\u2019s")):
                low = low[:-2]
            prev = text[max(0, m.start() - 3) : m.start()].rstrip(" \t")
            sent_start = not prev or prev[-1] in '.!?\n:;"(' or m.start() == 0
            cap = mixed and word[0].isupper() and not (len(word) > 3 and word.isupper())
            toks.append(_Tok(m.start(), end, word, low, cap, sent_start))
        return toks, mixed

    def _namelike(self, t: _Tok, mixed: bool, strong: bool) -> bool:
        """Could ``t`` be part of a name given a title or cue before it?"""
        if t.low in STOP or (t.low in CREDENTIALS and not strong):
            return False
        if mixed:
            if t.cap or (len(t.text) <= 2 and t.text[0].isupper()):
                return strong or t.low not in self.lex.allow
            return False
        # Caps or lower-case text: lexicon or unknown words after a cue.
        if t.low in self.lex.common:
            return strong and t.low not in self.lex.allow and t.low not in STOP
        return True

    def _lexical_name(self, t: _Tok) -> bool:
        return (t.low in self.lex.first or t.low in self.lex.last) and t.low not in self.lex.common

    def find(self, text: str) -> list[Span]:
        toks, mixed = self._tokens(text)
        out: list[Span] = []
        n = len(toks)
        taken = [False] * n
        lex = self.lex

        def take(i: int, j: int, typ: str, score: float) -> None:
            if i >= j:
                return
            out.append((typ, toks[i].start, toks[j - 1].end, score))
            for k in range(i, j):
                taken[k] = True

        def adjacent(a: _Tok, b: _Tok) -> bool:
            gap = text[a.end : b.start]
            return len(gap) <= 3 and "\n" not in gap and all(c in " .,'-" for c in gap)

        def run_from(i: int, strong: bool, limit: int = 3) -> int:
            j = i
            while j < n and j - i < limit and self._namelike(toks[j], mixed, strong or j > i):
                if j > i and not adjacent(toks[j - 1], toks[j]):
                    break
                if j > i and toks[j].low in lex.common and toks[j].low not in lex.first | lex.last:
                    break
                j += 1
            return j

        for i, t in enumerate(toks):
            low = t.low
            # 1. Titles.
            if low in TITLES or low + "." in TITLES:
                if low in WEAK_TITLES and not (t.cap or t.text.endswith(".")):
                    continue
                if (i + 1 < n and adjacent(t, toks[i + 1])) or (
                    i + 1 < n and toks[i + 1].start - t.end <= 2
                ):
                    j = run_from(i + 1, True)
                    take(i + 1, j, "NAME", 0.95)
                continue
            # 2. Credentials after a name: "Jane Smith, MD".
            if low in CREDENTIALS and i > 0 and t.text[0].isupper() and not taken[i - 1]:
                gap = text[toks[i - 1].end : t.start]
                if gap in (", ", " ", ","):
                    k = i - 1
                    while k >= 0 and i - k <= 3 and self._namelike(toks[k], mixed, False):
                        if toks[k].low in lex.common and not self._lexical_name(toks[k]):
                            break
                        k -= 1
                    if k < i - 1:
                        take(k + 1, i, "NAME", 0.9)
                continue
        # 3. Cues and lexicons.
        i = 0
        while i < n:
            t = toks[i]
            if taken[i]:
                i += 1
                continue
            prev = toks[i - 1] if i else None
            cue_low = (prev.low + ":") if prev and text[prev.end : prev.end + 1] == ":" else None
            strong_cue = prev is not None and (
                cue_low in STRONG_NAME_CUES or (prev.low in STRONG_NAME_CUES and adjacent(prev, t))
            )
            weak_cue = prev is not None and prev.low in NAME_CUES and adjacent(prev, t)
            if (
                strong_cue
                and self._namelike(t, mixed, True)
                and (mixed or self._lexical_name(t) or t.low not in lex.common)
            ):
                j = run_from(i, True)
                take(i, j, "NAME", 0.9)
                i = max(j, i + 1)
                continue
            # Facilities: "<Name> Hospital", "ST. MARY'S MEDICAL CENTER".
            if t.low in FACILITY_HEADS and i > 0 and (t.cap or not mixed):
                k = i - 1
                while k >= 0 and i - k <= 4 and not taken[k]:
                    tk = toks[k]
                    if tk.low in STOP or not adjacent(tk, toks[k + 1]):
                        break
                    if mixed and not (tk.cap or tk.low in {"st", "st.", "of"}):
                        break
                    if (
                        not mixed
                        and tk.low in lex.common
                        and tk.low not in {"st", "saint", "general", "memorial", "medical"}
                    ):
                        break
                    k -= 1
                if k < i - 1:
                    j = i + 1
                    while (
                        j < n
                        and toks[j].low in FACILITY_HEADS | {"center", "centre"}
                        and adjacent(toks[j - 1], toks[j])
                    ):
                        j += 1
                    take(k + 1, j, "GEOGRAPHIC", 0.85)
                    i = j
                    continue
            # Places from the city lexicon (up to three words).
            if t.low in lex.city_heads and (t.cap or not mixed):
                for width in (3, 2, 1):
                    if i + width > n:
                        continue
                    words = " ".join(toks[k].low for k in range(i, i + width))
                    if words not in lex.cities:
                        continue
                    if width > 1 and not all(
                        adjacent(toks[k], toks[k + 1]) for k in range(i, i + width - 1)
                    ):
                        continue
                    place_cue = prev is not None and prev.low in PLACE_CUES
                    after = text[toks[i + width - 1].end : toks[i + width - 1].end + 5]
                    state_next = bool(re.match(r",?\s*[A-Z]{2}\b", after))
                    common = width == 1 and (t.low in lex.common or t.low in lex.first)
                    if common and not (place_cue and (t.cap or state_next)) and not state_next:
                        continue
                    if not mixed and not (place_cue or state_next or width > 1):
                        continue
                    if mixed and not (t.cap or place_cue):
                        continue
                    score = 0.9 if (place_cue or state_next) else 0.7
                    take(i, i + width, "GEOGRAPHIC", score)
                    i += width
                    break
                else:
                    pass
                if taken[i - 1] and i > 0 and toks[i - 1].end > t.start:
                    continue
            # Lexicon names.
            if (self._lexical_name(t) and (t.cap or not mixed) and t.low not in lex.cities) or (
                self._lexical_name(t) and t.cap and not t.sent_start
            ):
                nxt = toks[i + 1] if i + 1 < n else None
                pair = (
                    nxt is not None
                    and adjacent(t, nxt)
                    and (
                        self._lexical_name(nxt) or (mixed and nxt.cap and nxt.low not in lex.common)
                    )
                )
                if pair:
                    j = run_from(i, True)
                    take(i, max(j, i + 2), "NAME", 0.9 if mixed else 0.8)
                    i = max(j, i + 2)
                    continue
                if weak_cue or (mixed and t.cap and not t.sent_start):
                    take(i, i + 1, "NAME", 0.8 if weak_cue else 0.7)
                elif mixed and t.cap and t.low in lex.first:
                    take(i, i + 1, "NAME", 0.6)
                elif not mixed and t.low in lex.first and t.low in lex.last:
                    take(i, i + 1, "NAME", 0.55)
            i += 1
        return out
