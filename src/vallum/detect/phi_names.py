"""Names and places: context cues, capitalisation and shipped lexicons.

One pass over the word tokens of a text. Evidence, strongest first:

* a title (``Dr.``, ``Mr.``, ``Mrs.``...) or credential (``, MD``, ``RN``) next to
  name-like words;
* a cue (``Patient:``, ``daughter``, ``my name is``, ``lives in``...) before them;
* lexicon membership (given names, surnames, cities, street names) together
  with capitalisation in mixed-case text. Upper-case or lower-case text
  (clinical notes are often ALL CAPS) gives no capitalisation evidence, so there
  a lexicon word needs a neighbouring name word or a cue.

Words on the clinical allowlist (eponyms, drugs, anatomy, abbreviations) and
common English words are never names on lexicon evidence alone. Lexicons live in
``vallum/detect/data`` and are read once, on first use.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources

__all__ = ["Lexicons", "NameFinder", "lexicons"]

TOKEN = re.compile(r"[^\W\d_](?:[\w'\u2019\-]*[^\W\d_])?\.?")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


TITLES = _words(
    "dr doctor mr mrs ms miss mx prof professor sir dame madam rev reverend fr father sister "
    "nurse judge attorney atty officer sgt capt mister"
)
# Titles whose bare form is also a common word need a dot or a capital.
WEAK_TITLES = _words("doctor father sister nurse judge officer miss sir fr dame")
CREDENTIALS = _words(
    "md m.d do d.o rn r.n np n.p pa pa-c lpn cna crna phd ph.d dds dmd pharmd rph msw lcsw "
    "mph facp facs frcp mbbs dnp aprn cnm dpt otr slp"
)
# After these (a colon makes any word a cue word), the next words are a person's name.
STRONG_CUES = _words(
    "patient: name: pt: signed: sig: signature: attending: resident: pcp: provider: "
    "physician: surgeon: contact: by: cc: referring: from: to: nurse: rn: md: dear "
    "daughter son wife husband mother father sister brother niece nephew dtr grandson "
    "granddaughter fiance fiancee boyfriend girlfriend stepson stepdaughter mom dad spouse "
    "aunt uncle cousin guardian named"
)
WEAK_CUES = _words(
    "patient pt with per by friend neighbor neighbour partner proxy hcp caregiver roommate "
    "called spoke attending resident fellow intern pcp signed and visited from"
)
PHRASE_CUES = re.compile(
    r"(?i)(?:\bmy name is|\bname is|\bi am|\bi'm|\bthis is|\bcalled|\bknown as|\blast name\??|"
    r"\bfirst name\??|\bsurname|\bspeak (?:to|with)|\bspoke (?:to|with)|\bask for|\bassistant to|"
    r"\buser:|\bagent:)\s*"
)
PLACE_CUES = _words(
    "in from to at near lives live living resides reside moved transferred transfer "
    "visiting visited town city county village born hometown address: addr: grew up"
)
FACILITY_HEADS = _words(
    "hospital hosp clinic infirmary hospice sanatorium manor pavilion healthcare"
)
FACILITY_PAIRS = {
    "medical": _words("center centre group"),
    "health": _words("center centre system"),
    "nursing": _words("home facility center"),
    "rehab": _words("center centre hospital"),
    "rehabilitation": _words("center centre hospital"),
    "care": _words("center centre"),
    "surgery": _words("center centre"),
    "assisted": _words("living"),
    "country": _words("club"),
}
FACILITY_KEEP = _words("st st. saint mount mt general memorial medical university regional of")
STOP = _words(
    "a an and are as at be but by for from had has have he her his i if in is it its me my no "
    "not of on or our she so than that the their them then there they this to too up us was we "
    "were what when which who will with you your"
)
WORDY = (
    "ing", "ed", "ly", "tion", "sion", "ment", "ness", "ous", "ive", "able", "ible", "ful",
    "less", "ism", "ity", "ize", "ise", "ies", "ance", "ence", "ary", "ory", "ical", "logy",
    "emia", "itis", "osis", "ectomy", "otomy", "scopy", "gram", "graphy",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Lexicons:
    first: frozenset[str]
    last: frozenset[str]
    cities: frozenset[str]
    city_heads: frozenset[str]
    streets: frozenset[str]
    noname: frozenset[str]
    allow: frozenset[str]


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
        streets=frozenset(_read("street_names.txt")) - common - allow,
        noname=common | allow | STOP,
        allow=allow,
    )


@functools.lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Lower-case ASCII form used for lexicon look-ups."""
    low = word.lower().rstrip(".")
    if low.endswith(("'s", "\u2019s")):
        low = low[:-2]
    if low.isascii():
        return low
    return unicodedata.normalize("NFKD", low).encode("ascii", "ignore").decode()


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

    # -- tokens ------------------------------------------------------------
    @staticmethod
    def _tokens(text: str) -> tuple[list[_Tok], bool]:
        upper = sum(map(str.isupper, text))
        letters = upper + sum(map(str.islower, text))
        mixed = letters == 0 or 0.03 < upper / letters < 0.6
        toks: list[_Tok] = []
        for m in TOKEN.finditer(text):
            word = m.group()
            end = m.end()
            if word.endswith(".") and len(word) > 2 and fold(word) not in TITLES:
                word, end = word[:-1], end - 1
            prev = text[max(0, m.start() - 3) : m.start()].rstrip(" \t")
            sent_start = not prev or prev[-1] in '.!?\n:;"(>*-' or m.start() == 0
            cap = mixed and word[0].isupper() and not (len(word) > 2 and word.isupper())
            toks.append(_Tok(m.start(), end, word, fold(word), cap, sent_start))
        return toks, mixed

    # -- word classes --------------------------------------------------------
    def lexname(self, t: _Tok) -> bool:
        low = t.low
        return (
            len(low) >= 3
            and (low in self.lex.first or low in self.lex.last)
            and (low not in self.lex.noname)
        )

    def _plausible(self, t: _Tok, mixed: bool) -> bool:
        """Could ``t`` be a name after a title or strong cue?"""
        low = t.low
        if low in STOP or not low[:1].isalpha():
            return False
        if mixed:
            return t.cap or (len(t.text) <= 2 and t.text[0].isupper())
        if self.lexname(t):
            return True
        if low in self.lex.noname or len(low) < 3:
            return len(t.text) == 2 and t.text.endswith(".")  # an initial
        return not low.endswith(WORDY)

    # -- main ------------------------------------------------------------------
    def find(self, text: str) -> list[Span]:
        toks, mixed = self._tokens(text)
        n = len(toks)
        out: list[Span] = []
        taken = [False] * n
        lex = self.lex
        phrase_ends = {m.end() for m in PHRASE_CUES.finditer(text)}

        def take(i: int, j: int, typ: str, score: float) -> None:
            if i < j:
                out.append((typ, toks[i].start, toks[j - 1].end, score))
                for k in range(i, j):
                    taken[k] = True

        def adjacent(a: int, b: int) -> bool:
            gap = text[toks[a].end : toks[b].start]
            return len(gap) <= 3 and "\n" not in gap and all(c in " .,'-" for c in gap)

        def name_run(i: int, first_ok: bool) -> int:
            """End of the name that starts at ``i`` (``first_ok``: cue vouches for it)."""
            if i >= n or taken[i] or not (first_ok or self.lexname(toks[i])):
                return i
            j = i + 1
            while j < n and j - i < 4 and not taken[j] and adjacent(j - 1, j):
                t = toks[j]
                if text[toks[j - 1].end : t.start].strip(" ") == ",":
                    break
                ok = self.lexname(t) or (
                    mixed and (t.cap or (len(t.text) <= 2 and t.text[0].isupper()))
                )
                if not ok or t.low in CREDENTIALS or t.low in STOP:
                    break
                j += 1
            return j

        for i in range(n):
            if taken[i]:
                continue
            t = toks[i]
            low = t.low
            prev = toks[i - 1] if i else None
            colon = prev is not None and text[prev.end : prev.end + 1] == ":"
            # Titles.
            if low in TITLES and (low not in WEAK_TITLES or t.cap or t.text.endswith(".")):
                if (
                    i + 1 < n
                    and toks[i + 1].start - t.end <= 2
                    and self._plausible(toks[i + 1], mixed)
                ):
                    take(i + 1, max(name_run(i + 1, True), i + 2), "NAME", 0.95)
                continue
            # Credentials after a name: "Jane Smith, MD", "J. SMITH RN".
            if low in CREDENTIALS and prev is not None and not taken[i - 1] and t.text[0].isupper():
                if text[prev.end : t.start] in (", ", " ", ",") and self._plausible(prev, mixed):
                    k = i - 1
                    while (
                        k > 0
                        and i - k < 3
                        and adjacent(k - 1, k)
                        and self._plausible(toks[k - 1], mixed)
                    ):
                        k -= 1
                    if prev.low not in lex.noname or self.lexname(prev) or mixed:
                        take(k, i, "NAME", 0.9)
                continue
            # Cues.
            cue = prev is not None and (
                ((prev.low + ":") in STRONG_CUES and colon)
                or (prev.low in STRONG_CUES and adjacent(i - 1, i))
            )
            phrase = t.start in phrase_ends
            if (
                (cue or phrase)
                and self._plausible(t, mixed)
                and (mixed or self.lexname(t) or low not in lex.noname)
            ):
                take(i, name_run(i, True), "NAME", 0.9)
                continue
            # Facilities: "<Name> Hospital", "ST. MARY'S MEDICAL CENTER".
            head_end = 0
            if low in FACILITY_HEADS:
                head_end = i + 1
            elif low in FACILITY_PAIRS and i + 1 < n and toks[i + 1].low in FACILITY_PAIRS[low]:
                head_end = i + 2
            if head_end and (t.cap or not mixed) and i > 0:
                k = i
                while k > 0 and i - k < 4 and not taken[k - 1] and adjacent(k - 1, k):
                    tk = toks[k - 1]
                    if (tk.low in STOP and tk.low != "of") or tk.low in CREDENTIALS:
                        break
                    if mixed and not (tk.cap or tk.low in FACILITY_KEEP):
                        break
                    if not mixed and tk.low in lex.noname and tk.low not in FACILITY_KEEP:
                        break
                    k -= 1
                if k < i:
                    take(k, head_end, "GEOGRAPHIC", 0.85)
                    continue
            # Places from the city lexicon (up to three words).
            if low in lex.city_heads and (t.cap or not mixed):
                width = self._city_width(toks, i, adjacent)
                if width:
                    place_cue = prev is not None and (prev.low in PLACE_CUES)
                    end_tok = toks[i + width - 1]
                    state_next = re.match(r",?\s*[A-Z]{2}\b", text[end_tok.end : end_tok.end + 5])
                    weak = width == 1 and (low in lex.noname or low in lex.first or len(low) < 4)
                    if mixed:
                        ok = (t.cap and not weak) or ((place_cue or state_next) and t.cap)
                    else:
                        ok = (
                            bool(state_next) or (place_cue and not weak) or (width > 1 and not weak)
                        )
                    if ok:
                        take(i, i + width, "GEOGRAPHIC", 0.9 if (place_cue or state_next) else 0.7)
                        continue
            # Street names next to a house number: "5049 Harjukuja 54", "Via Franscini 71".
            if low in lex.streets and len(low) >= 4 and (t.cap or not mixed):
                span = self._street(text, t)
                if span is not None:
                    out.append(("GEOGRAPHIC", span[0], span[1], 0.8))
                    taken[i] = True
                    continue
            # Lexicon names.
            if self.lexname(t) and (t.cap or not mixed):
                j = name_run(i, True)
                weak_cue = prev is not None and prev.low in WEAK_CUES and adjacent(i - 1, i)
                if j - i >= 2 and (mixed or self.lexname(toks[i + 1])):
                    take(i, j, "NAME", 0.9 if mixed else 0.75)
                elif weak_cue:
                    take(i, j, "NAME", 0.8)
                elif mixed and not t.sent_start:
                    take(i, j, "NAME", 0.7)
                elif mixed and low in lex.first:
                    take(i, j, "NAME", 0.6)
                elif not mixed and low in lex.first and low in lex.last and len(low) >= 4:
                    take(i, j, "NAME", 0.5)
        return out

    def _city_width(self, toks: list[_Tok], i: int, adjacent: object) -> int:
        n = len(toks)
        for width in (3, 2, 1):
            if i + width > n:
                continue
            words = " ".join(toks[k].low for k in range(i, i + width))
            if words in self.lex.cities and all(
                adjacent(k, k + 1)  # type: ignore[operator]
                for k in range(i, i + width - 1)
            ):
                return width
        return 0

    @staticmethod
    def _street(text: str, t: _Tok) -> tuple[int, int] | None:
        before = re.search(
            r"(\d{1,6}[A-Za-z]?\s+)((?:[^\W\d_][\w'.\-]*\s+){0,2})$",
            text[max(0, t.start - 40) : t.start],
        )
        after = re.match(r"\s+\d{1,5}[A-Za-z]?\b\.?", text[t.end : t.end + 10])
        if before is None and after is None:
            return None
        start = t.start - len(before.group(0)) if before else t.start
        end = t.end + (after.end() if after else 0)
        return start, end
