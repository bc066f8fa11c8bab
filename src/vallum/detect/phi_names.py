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

from vallum.detect.phi_rules import STATE_ZIP, US_STATES

__all__ = ["Lexicons", "NameFinder", "lexicons"]

# Not after a word character: a unit glued to a number (4L, 20mg) is no word.
TOKEN = re.compile(r"(?<!\w)[^\W\d_](?:[\w'\u2019\-]*[^\W\d_])?\.?")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


TITLES = _words(
    "dr drs doctor mr mrs ms miss mx prof professor sir dame madam rev reverend fr father sister "
    "nurse judge attorney atty officer sgt capt mister"
)
# Titles whose bare form is also a common word need a dot or a capital.
WEAK_TITLES = _words("doctor father sister nurse judge officer miss sir fr dame")
CREDENTIALS = _words(
    "md m.d do d.o rn r.n np n.p pa pa-c lpn cna crna phd ph.d dds dmd pharmd rph msw lcsw "
    "mph facp facs frcp mbbs dnp aprn cnm dpt otr slp rrt crt cnp fnp acnp lsw ccrn"
)
# After these (a colon makes any word a cue word), the next words are a person's name.
STRONG_CUES = _words(
    "patient: name: pt: signed: sig: signature: attending: resident: pcp: provider: "
    "physician: surgeon: contact: by: cc: referring: from: to: nurse: rn: md: dear "
    "daughter son wife husband mother father sister brother niece nephew dtr grandson "
    "granddaughter fiance fiancee boyfriend girlfriend stepson stepdaughter mom dad spouse "
    "aunt uncle cousin guardian named manager worker therapist chaplain coordinator "
    "navigator interpreter caseworker docter friend neighbor neighbour"
)
_BEFORE_TITLE = frozenset(" \n\t(,;:-/\"'>[.")
AMBIGUOUS_TITLES = _words("ms mr miss")
# After "dr" even a common word is a surname ("dr green aware"), unless it is one of these.
POST_TITLE_NOT_NAME = _words(
    "aware notified called paged informed here team order orders office note notes on call "
    "in at to of and or is was will has had said says ok okay visit rounds note's consult "
    "service states wants feels thinks recommends recs"
)
# "<Name> spent", "<Name> lives": verbs whose subject is a person.
PERSON_VERBS = _words(
    "spent said says lives lived works worked went wants wanted reports reported denies "
    "denied states stated told asked feels felt thinks thought visited called phoned married "
    "moved grew studied graduated joined left arrived loves likes hates knows"
)
COORD = _words("and or")
# "E. WELSH AWARE", "Z. MILLER IN TO STRIP": words that follow a person in notes.
AFTER_NAME = _words("aware notified paged informed updated called spoke rn md np")
# Plural relations vouch for a following word only if it is a known or capitalised name.
PLURAL_CUES = _words(
    "sons daughters sisters brothers nieces nephews grandsons granddaughters children kids parents"
)
CRED_TITLES = _words("np rn md pa rrt sw cm lpn pharmd")
RELATIONS = _words(
    "son daughter wife husband mother father sister brother niece nephew aunt uncle cousin "
    "grandson granddaughter spouse partner friend neighbor neighbour dtr hcp proxy guardian"
)
WEAK_CUES = _words(
    "patient pt with per by friend neighbor neighbour partner proxy hcp caregiver roommate "
    "called spoke attending resident fellow intern pcp signed and visited from"
)
# "my name is X", "spoke with X", "last name? X": (word before, word two before).
PHRASE_PAIRS = frozenset(
    {
        ("is", "name"),
        ("am", "i"),
        ("to", "speak"),
        ("with", "speak"),
        ("to", "spoke"),
        ("with", "spoke"),
        ("to", "talk"),
        ("with", "talked"),
        ("to", "talked"),
        ("for", "ask"),
        ("to", "assistant"),
        ("name", "last"),
        ("name", "first"),
        ("name", "full"),
        ("is", "this"),
        ("as", "known"),
    }
)
PHRASE_SINGLE = _words("called surname i'm user: agent: customer: caller:")
PLACE_VERBS = _words(
    "live lives living reside resides residing moved relocated born raised grew originally "
    "hometown travelled traveled flew drove vacationed vacationing visiting stays staying "
    "works working transferred transfer admitted discharged sent returned brought taken "
    "transfered transfering accepted arrived arrive readmitted i'm"
)
PLACE_FILLERS = _words("alone here back home nearby up locally")
PLACE_PREPS = _words("in at to from near outside")
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


_LOWER = bytes(range(ord("a"), ord("z") + 1)) + bytes(range(0xDF, 0xF7)) + bytes(range(0xF8, 0x100))
_UPPER = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(0xC0, 0xD7)) + bytes(range(0xD8, 0xDF))
_NOT_AFTER_CUE = _words(
    "will may can did does said has had was is are were be been not also who and or in at on "
    "to for of with the a an"
)
_STATE_NEXT = re.compile(rf",\s*(?:{US_STATES})\b")
_UNIT_WORDS = frozenset({"apt", "apartment", "suite", "ste", "unit", "room", "floor", "fl"})
_DOCTOR = _words("dr drs doctor")
_FAMILY = _words("family family's")
_SAINT = _words("st saint ste")
# Last words of organisations and nations, which are not places of a person.
_ORG_TAILS = _words(
    "inc llc ltd corp co company group global research incorporated tv insurance bank "
    "orchestra band club university college school republic kingdom states union partners "
    "associates foundation institute"
)
_PLACE_AT = _words("at from to in")
_STREET_AFTER = re.compile(r"\.?\s*(?:street|st\b|avenue|ave\b|road|rd\b|lane|drive|blvd)", re.I)
# A ward or floor number after a place name ("QUARTERMAIN 3"), not a dose or a time.
_WARD = re.compile(
    r" ?\d{1,2}(?![\d:/.%']| ?(?:mg|mcg|g\b|ml|cc|l\b|units?|u\b|x\b|hrs?|hours?|min|am|pm|"
    r"days?|weeks?|wks?|months?|years?|yrs?|lpm|%|liters?|times|mins?))",
    re.I,
)


_FACILITY_WORDS = FACILITY_HEADS | frozenset(FACILITY_PAIRS)
_TRIGGERS = (
    TITLES | CREDENTIALS | RELATIONS | CRED_TITLES | FACILITY_HEADS | frozenset(FACILITY_PAIRS)
)


@dataclass(frozen=True, slots=True)
class Lexicons:
    first: frozenset[str]
    last: frozenset[str]
    cities: frozenset[str]
    city_heads: frozenset[str]
    streets: frozenset[str]
    noname: frozenset[str]
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
        streets=frozenset(_read("street_names.txt")) - common - allow,
        noname=common | allow | STOP,
        allow=allow,
        common=common | STOP,
    )


@functools.lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Lower-case ASCII form used for lexicon look-ups."""
    low = word.lower().rstrip(".")
    if low.endswith(("'s", "\u2019s")):
        low = low[:-2]
    if low.isascii():
        return low
    low = low.translate(_NO_DECOMPOSITION)
    return unicodedata.normalize("NFKD", low).encode("ascii", "ignore").decode()


_NO_DECOMPOSITION = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ð": "d",
        "\u0131": "i",
    }
)


@dataclass(slots=True)
class _Tok:
    start: int
    end: int
    text: str
    low: str
    cap: bool  # Titlecase word in mixed-case text


Span = tuple[str, int, int, float]


class NameFinder:
    """Find NAME and GEOGRAPHIC spans in one text."""

    def __init__(self, lex: Lexicons) -> None:
        self.lex = lex
        # Common words that can start nothing: most tokens stop at this look-up.
        self._inert = lex.noname - _TRIGGERS - lex.first - lex.city_heads
        # First two words of the multi-word cities: longer matches are tried only there.
        self._city_pairs = frozenset(
            " ".join(c.split()[:2]) for c in lex.cities if c.count(" ") >= 1
        )

    # -- tokens ------------------------------------------------------------
    @staticmethod
    def tokens(text: str) -> tuple[list[_Tok], bool]:
        """Word tokens, and whether the text is mixed case (capitals are evidence)."""
        raw = text.encode("latin-1", "ignore")
        lower = len(raw) - len(raw.translate(None, _LOWER))
        upper = len(raw) - len(raw.translate(None, _UPPER))
        letters = upper + lower
        mixed = letters == 0 or 0.03 < upper / letters < 0.6
        toks: list[_Tok] = []
        append = toks.append
        for m in TOKEN.finditer(text):
            word = m.group()
            start, end = m.span()
            low = fold(word)
            if word[-1] == "." and len(word) > 2 and low not in TITLES:
                word, end = word[:-1], end - 1
            cap = mixed and word[0].isupper() and not (len(word) > 2 and word.isupper())
            append(_Tok(start, end, word, low, cap))
        return toks, mixed

    @staticmethod
    def _sentence_start(text: str, t: _Tok) -> bool:
        prev = text[max(0, t.start - 3) : t.start].rstrip(" \t")
        return not prev or prev[-1] in '.!?\n:;"(>*-'

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
    def find(self, text: str, tokens: tuple[list[_Tok], bool] | None = None) -> list[Span]:
        """NAME and GEOGRAPHIC spans; ``tokens`` from :meth:`tokens` if already made."""
        toks, mixed = tokens if tokens is not None else self.tokens(text)
        n = len(toks)
        out: list[Span] = []
        taken = [False] * n
        named = [False] * n  # token is part of a NAME span
        lex = self.lex
        state_zip = {m.start() for m in STATE_ZIP.finditer(text)} if "," in text else set()

        def take(i: int, j: int, typ: str, score: float) -> None:
            if i < j:
                out.append((typ, toks[i].start, toks[j - 1].end, score))
                for k in range(i, j):
                    taken[k] = True
                    named[k] = typ == "NAME"

        def adjacent(a: int, b: int) -> bool:
            gap = text[toks[a].end : toks[b].start]
            return len(gap) <= 3 and "\n" not in gap and all(c in " .,'-" for c in gap)

        def name_run(i: int, first_ok: bool, vouched: bool = False) -> int:
            """End of the name that starts at ``i`` (``first_ok``: cue vouches for it).

            ``vouched``: a title or cue precedes, so in upper- or lower-case text
            any word that is not a common word continues the name.
            """
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
                if not ok and vouched and not mixed:
                    ok = (len(t.text) == 2 and t.text[1] == ".") or (
                        len(t.low) >= 3 and t.low not in lex.noname and not t.low.endswith(WORDY)
                    )
                if not ok or t.low in CREDENTIALS or t.low in STOP:
                    break
                j += 1
            return j

        # Facilities first, so their name words are not taken as people.
        facility_at = [i for i, t in enumerate(toks) if i and t.low in _FACILITY_WORDS]
        for i in facility_at:
            t = toks[i]
            low = t.low
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

        inert = self._inert
        for i, t in enumerate(toks):
            if taken[i]:
                continue
            low = t.low
            if low in inert and len(t.text) != 2 and t.end not in state_zip:
                continue  # a common word that starts nothing: most tokens stop here
            prev = toks[i - 1] if i else None
            colon = prev is not None and text[prev.end : prev.end + 1] == ":"
            # Titles.
            if (
                low in TITLES
                and (low not in WEAK_TITLES or t.cap or t.text.endswith("."))
                and text[t.end : t.end + 1] != ":"
            ):
                nxt = toks[i + 1] if i + 1 < n else None
                ambiguous = low in AMBIGUOUS_TITLES and not mixed and not t.text.endswith(".")
                doctor = low in _DOCTOR
                if (
                    nxt is not None
                    and (
                        text[t.end : nxt.start] in (" ", ". ", ".", "  ")
                        or (
                            t.text.endswith(".")
                            and nxt.start == t.end
                            and (nxt.text[0].isupper() or len(nxt.low) >= 3)
                        )
                    )
                    and (t.start == 0 or text[t.start - 1] in _BEFORE_TITLE)
                    and (not ambiguous or self.lexname(nxt))
                    and (
                        self._plausible(nxt, mixed)
                        or (nxt.low not in lex.common and len(nxt.low) >= 3)
                        or (
                            doctor
                            and nxt.low not in POST_TITLE_NOT_NAME
                            and len(nxt.low) >= 2
                            and "." not in nxt.text[1:]
                        )
                    )
                ):
                    take(i + 1, name_run(i + 1, True, vouched=True), "NAME", 0.95)
                continue
            # Credentials after a name: "Jane Smith, MD", "J. SMITH RN".
            if (
                low in CREDENTIALS
                and prev is not None
                and not taken[i - 1]
                and (t.text[0].isupper() or not mixed)
                and (
                    mixed
                    or text[prev.end : t.start] in (", ", ",")
                    or text[t.end : t.end + 1] in ("", "\n", ".", ")", " \n")
                )
            ):
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
            # An initial and a surname: "T. FENWICKE", "J. Smith".
            nxt = toks[i + 1] if i + 1 < n else None
            if (
                nxt is not None
                and len(t.text) == 2
                and t.text[1] == "."
                and (t.text[0].isupper() or (not mixed and self.lexname(nxt)))
                and (t.start == 0 or text[t.start - 1] in " \n\t(,;:>-")
                and nxt.start - t.end in (1, 2)
                and len(nxt.low) >= 3
                and (nxt.cap or not mixed)
                and (
                    (nxt.low not in lex.noname and not nxt.low.endswith(WORDY))
                    or (
                        i + 2 < n
                        and toks[i + 2].low in AFTER_NAME
                        and nxt.low not in STOP
                        and text[nxt.end : toks[i + 2].start] == " "
                    )
                    or (
                        (nxt.low in lex.last or nxt.low in lex.first)
                        and nxt.low not in STOP
                        and nxt.low not in lex.allow
                    )
                )
            ):
                take(i, name_run(i + 1, True, vouched=True), "NAME", 0.8)
                continue
            # A credential before a name: "NP CAROL", "per md Saeed".
            if (
                low in CRED_TITLES
                and nxt is not None
                and nxt.start - t.end == 1
                and self.lexname(nxt)
                and (nxt.cap or not mixed)
            ):
                take(i + 1, name_run(i + 1, True), "NAME", 0.8)
                continue
            # A relation after a name: "Joe Wrzesniak (son)", "Mary - daughter".
            if (
                low in RELATIONS
                and prev is not None
                and not taken[i - 1]
                and text[prev.end : t.start].strip() in ("(", ",")
                and self._plausible(prev, mixed)
            ):
                k = i - 1
                while (
                    k > 0
                    and i - k < 3
                    and adjacent(k - 1, k)
                    and self._plausible(toks[k - 1], mixed)
                ):
                    k -= 1
                take(k, i, "NAME", 0.85)
                continue
            # Cues.
            gap = text[prev.end : t.start] if prev is not None else ""
            cue = prev is not None and (
                ((prev.low + ":") in STRONG_CUES and colon)
                or (prev.low in STRONG_CUES and gap.strip(" ") in ("", ":"))
            )
            p2 = toks[i - 2].low if i > 1 else ""
            phrase = prev is not None and (
                (prev.low, p2) in PHRASE_PAIRS
                or prev.low in PHRASE_SINGLE
                or (prev.low + ":" in PHRASE_SINGLE and colon)
            )
            if (
                not cue
                and prev is not None
                and prev.low in RELATIONS
                and gap == ", "
                and text[t.end : t.end + 1] == ","
                and (self.lexname(t) or (mixed and t.cap))
                and low not in lex.noname
            ):
                cue = True  # apposition: "son, bill, called", "Nephew, Neil Meitz,"
            if (
                not cue
                and prev is not None
                and prev.low in PLURAL_CUES
                and gap.strip(" ") in ("", ":")
                and (t.cap or (not mixed and self.lexname(t)))
                and low not in lex.noname
            ):
                cue = True
            first_name = cue and low in lex.first and low not in _NOT_AFTER_CUE
            if (cue or phrase) and (
                first_name
                or (
                    self._plausible(t, mixed)
                    and (mixed or self.lexname(t) or low not in lex.noname)
                )
            ):
                take(i, name_run(i, True), "NAME", 0.9)
                continue
            # Coordinated names: "Dr. Griffin and Swackhamer", "Smokey, Morris and Roger".
            if (
                prev is not None
                and i > 1
                and (
                    (
                        prev.low in COORD
                        and named[i - 2]
                        and adjacent(i - 2, i - 1)
                        and (t.cap if mixed else self.lexname(t))
                    )
                    or (
                        named[i - 1]
                        and text[prev.end : t.start].strip(" ") == ","
                        and self.lexname(t)
                        and (t.cap or not mixed)
                    )
                )
                and not taken[i]
                and low not in lex.noname
                and low not in CREDENTIALS
                and low not in _SAINT
                and len(low) >= 2
            ):
                take(i, name_run(i, True), "NAME", 0.75)
                continue
            nxt = toks[i + 1] if i + 1 < n else None
            # "<Name> and <Name> were...": two capitalised words joined, one a known name.
            if (
                mixed
                and t.cap
                and nxt is not None
                and nxt.low in COORD
                and i + 2 < n
                and toks[i + 2].cap
                and not taken[i + 2]
                and adjacent(i, i + 1)
                and adjacent(i + 1, i + 2)
                and low not in lex.noname
                and toks[i + 2].low not in lex.noname
                and (self.lexname(t) or self.lexname(toks[i + 2]))
            ):
                take(i, i + 1, "NAME", 0.7)
                continue
            # "the Romero family", "KEEP ROMERO FAMILY AWARE".
            if (
                nxt is not None
                and nxt.low in _FAMILY
                and text[t.end : nxt.start] == " "
                and low not in lex.noname
                and len(low) >= 3
                and (self.lexname(t) or (mixed and t.cap and not self._sentence_start(text, t)))
                and not low.endswith(WORDY)
            ):
                take(i, i + 1, "NAME", 0.75)
                continue
            # "<Unknown Capitalised> (<Capitalised>) spent/lives/said...": a person.
            if mixed and t.cap and low not in lex.noname and len(low) >= 3:
                j = i + 1
                while j < n and j - i < 3 and toks[j].cap and adjacent(j - 1, j):
                    j += 1
                if (
                    j < n
                    and toks[j].low in PERSON_VERBS
                    and text[toks[j - 1].end : toks[j].start] == " "
                    and (
                        j - i >= 2
                        or self.lexname(t)
                        or not (self._sentence_start(text, t) or low.endswith(WORDY))
                    )
                    and all(toks[k].low not in lex.noname for k in range(i, j))
                    and not any(toks[k].low in lex.cities for k in range(i, j))
                ):
                    take(i, j, "NAME", 0.65)
                    continue
            # "St. Agnes", "Saint Joseph's": a saint's name is a place (church, hospital).
            if (
                low in _SAINT
                and nxt is not None
                and (text[t.end : t.end + 1] == "." or len(low) > 3)
                and t.text[0].isupper()
                and (
                    (t.cap and sum(c.isupper() for c in nxt.text) == 1)
                    if mixed
                    else self.lexname(nxt)
                )
                and nxt.start - t.end <= 2
                and len(nxt.low) >= 3
                and nxt.low not in STOP
                and not _STREET_AFTER.match(text, nxt.end)
            ):
                j = i + 2
                while j < n and j - i < 4 and adjacent(j - 1, j) and (toks[j].cap or not mixed):
                    if toks[j].low in STOP:
                        break
                    j += 1
                take(i, j, "GEOGRAPHIC", 0.8)
                continue
            # Places after at/from/to: "transplant at Holy Cross", "go to QUARTERMAIN 3".
            if (
                prev is not None
                and prev.low in _PLACE_AT
                and text[prev.end : t.start] == " "
                and not taken[i]
                and len(low) >= 3
                and low not in STOP
                and low not in lex.allow
                and "-" not in t.text
                and sum(c.isupper() for c in t.text) == (1 if mixed else len(t.text))
            ):
                j = i + 1
                if mixed:
                    while (
                        j < n
                        and j - i < 3
                        and toks[j].cap
                        and text[toks[j - 1].end : toks[j].start] == " "
                        and "-" not in toks[j].text
                    ):
                        if toks[j].low in STOP:
                            break
                        j += 1
                words = [toks[k] for k in range(i, j)]
                ward = _WARD.match(text, toks[j - 1].end) is not None
                known = any(w.low not in lex.noname for w in words)
                if mixed:
                    at_place = t.cap and (
                        (known and (p2 in PLACE_VERBS or ward) and not low.endswith(WORDY))
                        or (
                            j - i >= 2
                            and not any(w.low in STOP for w in words)
                            and words[-1].low not in _ORG_TAILS
                            and not (low in lex.first and low not in lex.noname)
                        )
                    )
                else:
                    at_place = ward and known and len(low) >= 4 and not self.lexname(t)
                if at_place and not (mixed and self.lexname(t) and j == i + 1 and prev.low != "at"):
                    take(i, j, "GEOGRAPHIC", 0.7 if ward or p2 in PLACE_VERBS else 0.6)
                    continue
            # Places after "lives in", "moved to", "grew up in"...
            place_phrase = (
                prev is not None
                and prev.low in PLACE_PREPS
                and not gap.strip()
                and (
                    p2 in PLACE_VERBS
                    or (p2 in PLACE_FILLERS and i > 2 and toks[i - 3].low in PLACE_VERBS)
                )
            )
            if (
                place_phrase
                and (t.text[0].isupper() or not mixed)
                and low not in lex.noname
                and len(low) >= 3
                and "." not in t.text
            ):
                j = i + 1
                while (
                    j < n
                    and j - i < 3
                    and adjacent(j - 1, j)
                    and (toks[j].cap or not mixed)
                    and toks[j].low not in lex.noname
                    and text[toks[j - 1].end] != ","
                ):
                    j += 1
                take(i, j, "GEOGRAPHIC", 0.85)
                continue
            # "Springfield, IL 62704": the words before a state and ZIP.
            if t.end in state_zip and low not in _UNIT_WORDS:
                k = i
                while k > 0 and i - k < 2 and adjacent(k - 1, k) and not taken[k - 1]:
                    pk = toks[k - 1]
                    if text[pk.end] == "," or pk.low in lex.noname or not (pk.cap or not mixed):
                        break
                    k -= 1
                take(k, i + 1, "GEOGRAPHIC", 0.85)
                continue
            # Places from the city lexicon (up to three words).
            if low in lex.city_heads and (t.cap or not mixed):
                width = self._city_width(toks, i, adjacent)
                if width:
                    place_cue = prev is not None and (prev.low in PLACE_CUES)
                    end_tok = toks[i + width - 1]
                    state_next = _STATE_NEXT.match(text, end_tok.end)
                    weak = width == 1 and (low in lex.noname or low in lex.first or len(low) < 4)
                    if mixed:
                        ok = (t.cap and not weak) or ((place_cue or state_next) and t.cap)
                    else:
                        ok = (
                            bool(state_next) or (place_cue and not weak) or (width > 1 and not weak)
                        )
                    if ok:
                        score = 0.9 if (place_cue or state_next) else 0.7 if width > 1 else 0.45
                        take(i, i + width, "GEOGRAPHIC", score)
                        continue
            # Street names next to a house number: "5049 Harjukuja 54", "Via Franscini 71".
            if low in lex.streets and len(low) >= 4 and (t.cap or not mixed):
                span = self._street(text, t)
                if span is not None:
                    out.append(("GEOGRAPHIC", span[0], span[1], 0.8))
                    taken[i] = True
                    continue
            # Lexicon names; in mixed case also "<Capitalised> <Surname>".
            if (
                mixed
                and t.cap
                and not self.lexname(t)
                and low not in lex.noname
                and len(low) >= 3
                and i + 1 < n
                and adjacent(i, i + 1)
                and toks[i + 1].cap
                and self.lexname(toks[i + 1])
                and text[t.end : toks[i + 1].start] == " "
            ):
                take(i, name_run(i + 1, True), "NAME", 0.75)
                continue
            if self.lexname(t) and (t.cap or not mixed):
                j = name_run(i, True)
                if (
                    j == i + 1
                    and j < n
                    and not taken[j]
                    and text[t.end : toks[j].start] == ", "
                    and toks[j].low in lex.first
                    and toks[j].low not in lex.noname
                    and (toks[j].cap or not mixed)
                ):
                    j += 1  # "OKAFOR, MARIA"
                weak_cue = prev is not None and prev.low in WEAK_CUES and adjacent(i - 1, i)
                if j - i >= 2 and (mixed or self.lexname(toks[i + 1])):
                    take(i, j, "NAME", 0.9 if mixed else 0.75)
                elif weak_cue:
                    take(i, j, "NAME", 0.8)
                elif mixed and not self._sentence_start(text, t):
                    take(i, j, "NAME", 0.7)
                elif mixed and low in lex.first:
                    take(i, j, "NAME", 0.6)
                elif not mixed and low in lex.first and low in lex.last and len(low) >= 4:
                    take(i, j, "NAME", 0.5)
        return out

    def _city_width(self, toks: list[_Tok], i: int, adjacent: object) -> int:
        n = len(toks)
        if i + 1 >= n or f"{toks[i].low} {toks[i + 1].low}" not in self._city_pairs:
            return 1 if toks[i].low in self.lex.cities else 0
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
