"""Normalise and decode a text so the later layers see what a model would read.

Attackers hide instructions from filters in ways a language model still reads:
fullwidth or mathematical letters, Cyrillic and Greek look-alikes, zero-width
characters between letters, invisible Unicode *tag* characters that spell ASCII,
s p a c e d  letters, reversed text, l33tspeak, and base64 / base32 / hex /
ROT13 / percent-encoded payloads. :func:`normalize` undoes each of these and
returns every resulting *view* of the text; the rules and the classifier scan
each view.

Bounds keep this cheap and safe on hostile input: decoding looks at most
:data:`MAX_DECODE_INPUT` characters per payload, recurses at most
:data:`MAX_DEPTH` levels, and produces at most :data:`MAX_VIEWS` views.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass

__all__ = [
    "MAX_DECODE_INPUT",
    "MAX_DEPTH",
    "MAX_VIEWS",
    "Normalized",
    "View",
    "englishness",
    "fold_homoglyphs",
    "normalize",
]

MAX_DECODE_INPUT = 16_384
MAX_DEPTH = 2
MAX_VIEWS = 16

# Cyrillic and Greek letters that render like Latin ones (Unicode confusables, the
# subset attackers use). Folded only where a word mixes scripts or the text is
# mostly Latin, so genuine Russian or Greek prose keeps its letters.
_CONFUSABLES = {
    # Cyrillic lower
    "\u0430": "a",
    "\u0432": "b",
    "\u0435": "e",
    "\u0451": "e",
    "\u0437": "3",
    "\u0456": "i",
    "\u0457": "i",
    "\u0458": "j",
    "\u043a": "k",
    "\u043c": "m",
    "\u043d": "h",
    "\u043e": "o",
    "\u0440": "p",
    "\u0441": "c",
    "\u0442": "t",
    "\u0443": "y",
    "\u0445": "x",
    "\u0455": "s",
    "\u0501": "d",
    "\u0261": "g",
    "\u04bb": "h",
    "\u04cf": "l",
    "\u051b": "q",
    "\u051d": "w",
    "\u044c": "b",
    "\u043f": "n",
    "\u0433": "r",
    # Cyrillic upper
    "\u0410": "A",
    "\u0412": "B",
    "\u0415": "E",
    "\u0401": "E",
    "\u0417": "3",
    "\u0406": "I",
    "\u0407": "I",
    "\u0408": "J",
    "\u041a": "K",
    "\u041c": "M",
    "\u041d": "H",
    "\u041e": "O",
    "\u0420": "P",
    "\u0421": "C",
    "\u0422": "T",
    "\u0423": "Y",
    "\u0425": "X",
    "\u0405": "S",
    "\u0500": "D",
    "\u051a": "Q",
    "\u051c": "W",
    "\u04c0": "I",
    # Greek
    "\u03b1": "a",
    "\u03b2": "b",
    "\u03b5": "e",
    "\u03b9": "i",
    "\u03ba": "k",
    "\u03bd": "v",
    "\u03bf": "o",
    "\u03c1": "p",
    "\u03c4": "t",
    "\u03c5": "u",
    "\u03c7": "x",
    "\u03b3": "y",
    "\u03c9": "w",
    "\u03c2": "s",
    "\u0391": "A",
    "\u0392": "B",
    "\u0395": "E",
    "\u0396": "Z",
    "\u0397": "H",
    "\u0399": "I",
    "\u039a": "K",
    "\u039c": "M",
    "\u039d": "N",
    "\u039f": "O",
    "\u03a1": "P",
    "\u03a4": "T",
    "\u03a5": "Y",
    "\u03a7": "X",
    # Latin look-alikes outside ASCII that NFKC keeps
    "\u0131": "i",
    "\u0237": "j",
    "\u0142": "l",
    "\u00f8": "o",
    "\u0111": "d",
}
_CONFUSABLE_TABLE = str.maketrans(_CONFUSABLES)

# Zero-width and formatting characters a model ignores but a regex does not.
_INVISIBLE = frozenset(
    [
        0x00AD,
        0x034F,
        0x061C,
        0x115F,
        0x1160,
        0x17B4,
        0x17B5,
        0x180E,
        0x3164,
        0xFEFF,
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
        *range(0xFE00, 0xFE10),
    ]
)
_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_LEET_TOKEN = re.compile(r"[\w@$!]{3,64}")
_LEET_CHAR = re.compile(r"[013457@$!]")
_ASCII_LETTER = re.compile(r"[a-zA-Z]")
_SPACED = re.compile(r"(?<!\w)(?:\w[ \t.\-_*|,/]{1,3}){3,}\w(?!\w)")
_BASE64 = re.compile(r"[A-Za-z0-9+/_\-]{16,}={0,2}")
_BASE32 = re.compile(r"[A-Z2-7]{16,}={0,6}")
_HEX = re.compile(r"(?:(?:0x|\\x)?[0-9a-fA-F]{2}[\s:,]?){8,}")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2}|[\w.~-]){6,}")

_COMMON = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "to",
        "of",
        "in",
        "on",
        "for",
        "is",
        "are",
        "be",
        "you",
        "your",
        "me",
        "my",
        "i",
        "it",
        "this",
        "that",
        "with",
        "as",
        "at",
        "by",
        "from",
        "all",
        "any",
        "not",
        "no",
        "do",
        "does",
        "what",
        "how",
        "why",
        "when",
        "who",
        "now",
        "will",
        "can",
        "must",
        "should",
        "would",
        "please",
        "tell",
        "give",
        "show",
        "write",
        "say",
        "print",
        "reveal",
        "repeat",
        "ignore",
        "previous",
        "instructions",
        "instruction",
        "prompt",
        "system",
        "rules",
        "above",
        "below",
        "forget",
        "disregard",
        "new",
        "task",
        "answer",
        "output",
        "text",
        "act",
        "are",
        "was",
        "were",
        "have",
        "has",
        "been",
        "if",
        "then",
        "than",
        "so",
        "but",
        "about",
        "into",
        "over",
        "only",
        "just",
        "every",
        "each",
        "secret",
        "password",
        "key",
        "data",
        "user",
        "assistant",
        "model",
        "follow",
        "following",
        "mode",
        "developer",
        "guidelines",
        "restrictions",
        "without",
        "any",
        "anything",
        "everything",
        "here",
        "there",
        "make",
        "let",
        "us",
        "we",
        "they",
        "he",
        "she",
        "his",
        "her",
        "our",
        "their",
        "them",
        "these",
        "those",
        "which",
        "also",
        "like",
        "more",
        "most",
        "some",
        "such",
        "one",
        "two",
        "out",
        "up",
        "down",
        "per",
        "line",
        "word",
        "words",
        "first",
        "last",
        "next",
        "before",
        "after",
        "again",
        "other",
        "same",
        "own",
        "very",
        "too",
        "here",
        "where",
        "there",
        "its",
        "him",
        "ask",
        "asked",
        "told",
        "said",
        "see",
        "use",
        "used",
        "get",
        "got",
        "go",
        "going",
        "know",
        "want",
        "need",
        "send",
        "call",
        "take",
        "find",
        "mark",
        "close",
        "open",
        "delete",
        "execute",
        "run",
        "command",
        "commands",
        "earlier",
        "instead",
        "only",
        "real",
        "true",
        "false",
        "never",
        "always",
        "yes",
        "no",
        "ok",
        "hidden",
        "full",
        "entire",
        "exactly",
        "verbatim",
        "character",
        "characters",
        "then",
        "must",
        "shall",
        "may",
        "might",
        "could",
        "did",
        "done",
        "do",
        "say",
        "says",
        "think",
        "time",
        "way",
        "thing",
        "things",
        "people",
        "person",
        "day",
        "world",
        "life",
        "work",
        "good",
        "bad",
        "new",
        "old",
        "great",
        "little",
        "long",
        "right",
        "left",
        "high",
        "because",
        "while",
        "until",
        "through",
        "between",
        "under",
        "again",
        "off",
        "why",
    ]
)
_WORD = re.compile(r"[a-z]+")
_COMMON_ROT13 = frozenset(codecs.encode(w, "rot13") for w in _COMMON)
_COMMON_REVERSED = frozenset(w[::-1] for w in _COMMON)
_LOWERS_TO_ASCII = re.compile("[\u0130\u212a]")
"""The only non-ASCII characters whose lower case holds an ASCII letter (İ, Kelvin sign)."""
_LEET_RUN = re.compile(r"(?<![\w@$!])[\w@$!]*[013457@$!][\w@$!]*")
"""A whole run of token characters holding a leet character (anchored: linear time)."""


@dataclass(frozen=True, slots=True)
class View:
    """One reading of the text: ``kind`` says how it was derived.

    ``start``/``end`` locate the source span in the original text (the whole text
    for whole-text views, the encoded payload for decoded ones).
    """

    kind: str
    text: str
    start: int
    end: int
    depth: int = 0


@dataclass(frozen=True, slots=True)
class Normalized:
    """Every view of a text, plus what was hidden in it.

    ``text`` is the main view (NFKC, invisibles removed, look-alikes folded);
    ``offsets[i]`` is the index in the original of ``text[i]``, or ``None`` when the
    main view *is* the original (plain ASCII: no table is built).
    """

    original: str
    text: str
    offsets: tuple[int, ...] | None
    views: tuple[View, ...]
    invisible: int
    """How many zero-width or bidi characters inside words, or tag characters, were removed."""
    tag_payload: str
    """ASCII spelled with invisible Unicode tag characters, if any."""
    homoglyphs: int
    """How many look-alike letters were folded inside mixed-script words."""

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of :attr:`text` back to the original text."""
        if self.offsets is None:  # plain text: the main view is the original
            last = len(self.text) - 1
            if last < 0:
                return (0, len(self.original))
            s = min(start, last)
            return (s, max(min(max(end - 1, 0), last) + 1, s))
        if not self.offsets:
            return (0, len(self.original))
        s = self.offsets[min(start, len(self.offsets) - 1)]
        e = self.offsets[min(max(end - 1, 0), len(self.offsets) - 1)] + 1
        return (s, max(e, s))


def englishness(text: str) -> float:
    """Share of lower-cased words that are very common English (or injection) words."""
    words = _WORD.findall(text.lower())
    if not words:
        return 0.0
    return sum(1 for w in words if w in _COMMON) / len(words)


def _common_words(text: str) -> int:
    return sum(1 for w in _WORD.findall(text.lower()) if w in _COMMON)


def fold_homoglyphs(text: str) -> str:
    """Map Cyrillic/Greek look-alikes to Latin letters, everywhere."""
    return text.translate(_CONFUSABLE_TABLE)


def _clean(text: str) -> tuple[str, list[int], int, str, int]:
    """NFKC per character, drop invisibles, decode tag characters, fold look-alikes."""
    out: list[str] = []
    offsets: list[int] = []
    invisible = 0
    tags: list[str] = []
    for run in _PLAIN_RUN.finditer(text):
        ch = run.group()
        i = run.start()
        if ch.isascii() or (_SPECIAL.match(ch) is None and unicodedata.is_normalized("NFKC", ch)):
            out.append(ch)  # the common case: a whole run of ordinary characters at once
            offsets.extend(range(i, run.end()))
            continue
        if len(ch) > 1:  # ordinary characters, some not in NFKC form: one at a time
            for k, c in enumerate(ch):
                for n in unicodedata.normalize("NFKC", c):
                    out.append(n)
                    offsets.append(i + k)
            continue
        cp = ord(ch)
        if cp in _INVISIBLE:
            prev = text[i - 1] if i else " "
            nxt = text[i + 1] if i + 1 < len(text) else " "
            if prev.isalnum() and nxt.isalnum():
                invisible += 1  # inside a word: hiding it from a filter; emoji joiners do not count
            continue
        if _TAG_FIRST <= cp <= _TAG_LAST:
            invisible += 1
            if 0xE0020 <= cp <= 0xE007E:
                tags.append(chr(cp - 0xE0000))
            continue
        norm = unicodedata.normalize("NFKC", ch)
        for c in norm:
            out.append(c)
            offsets.append(i)
    cleaned = "".join(out)
    folded, homoglyphs = _fold_mixed(cleaned)
    return folded, offsets, invisible, "".join(tags), homoglyphs


_TOKEN = re.compile(r"\w+")
_LATIN = re.compile(r"[A-Za-z]")
_SPECIAL_CLASS = (
    "".join(re.escape(chr(c)) for c in sorted(_INVISIBLE))
    + "".join(re.escape(c) for c in _CONFUSABLES)
    + "\U000e0000-\U000e007f"
)
_SPECIAL = re.compile(f"[{_SPECIAL_CLASS}]")
"""Characters the cleaning step may drop or fold: invisibles, tag characters, look-alikes."""
_PLAIN_RUN = re.compile(f"[^{_SPECIAL_CLASS}]+|[{_SPECIAL_CLASS}]")


def _fold_mixed(text: str) -> tuple[str, int]:
    """Fold look-alikes in words that mix Latin with Cyrillic/Greek, or in a Latin text."""
    if text.isascii():
        return text, 0
    letters = sum(map(str.isalpha, text))
    latin = len(_LATIN.findall(text))
    mostly_latin = letters > 0 and latin / letters >= 0.6
    count = 0
    parts: list[str] = []
    last = 0
    for m in _TOKEN.finditer(text):
        word = m.group()
        if word.isascii():
            continue
        folded = word.translate(_CONFUSABLE_TABLE)
        if folded == word:
            continue
        has_latin = any(c.isascii() and c.isalpha() for c in word)
        if has_latin or (mostly_latin and folded.isascii()):
            count += sum(1 for a, b in zip(word, folded, strict=True) if a != b)
            parts.append(text[last : m.start()])
            parts.append(folded)
            last = m.end()
    if not count:
        return text, 0
    parts.append(text[last:])
    return "".join(parts), count


def _despace(text: str) -> str:
    """Join runs of single letters: ``i g n o r e`` -> ``ignore``; wide gaps stay spaces."""

    def join(m: re.Match[str]) -> str:
        run = m.group()
        words = re.split(r"\s{2,}|\s*/\s*|\s*\|\s*", run)
        if len(words) == 1 and " " in run and re.search(r"\w[.\-_*,]\w", run):
            words = run.split()  # s-h-o-w y-o-u-r: letters joined by marks, words by spaces
        return " ".join(re.sub(r"[^\w]", "", w) for w in words)

    return _SPACED.sub(join, text)


def _printable(data: bytes) -> str | None:
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(s) < 4:
        return None
    good = sum(1 for c in s if c.isprintable() or c in "\n\r\t")
    letters = sum(1 for c in s if c.isalpha() or c == " ")
    if good / len(s) < 0.95 or letters / len(s) < 0.6:
        return None
    return s


def _decode_b64(s: str) -> str | None:
    raw = s.strip("=")
    if len(raw) % 4 == 1:
        return None
    padded = raw + "=" * (-len(raw) % 4)
    try:
        if "-" in raw or "_" in raw:
            data = base64.urlsafe_b64decode(padded)
        else:
            data = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _printable(data)


def _decode_b32(s: str) -> str | None:
    raw = s.strip("=")
    padded = raw + "=" * (-len(raw) % 8)
    try:
        data = base64.b32decode(padded)
    except (binascii.Error, ValueError):
        return None
    return _printable(data)


def _decode_hex(s: str) -> str | None:
    digits = re.sub(r"0x|\\x|[\s:,]", "", s)
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        data = bytes.fromhex(digits)
    except ValueError:
        return None
    return _printable(data)


def _decoded_payloads(text: str) -> list[tuple[str, str, int, int]]:
    """(kind, decoded, start, end) for each encoded payload found in ``text``."""
    found: list[tuple[str, str, int, int]] = []
    for m in _HEX.finditer(text):
        dec = _decode_hex(m.group()[:MAX_DECODE_INPUT])
        if dec is not None:
            found.append(("hex", dec, m.start(), m.end()))
    runs = list(_BASE64.finditer(text))
    # base32's alphabet is inside base64's: without a long base64-alphabet run, no base32 run
    for m in _BASE32.finditer(text) if runs else ():
        dec = _decode_b32(m.group()[:MAX_DECODE_INPUT])
        if dec is not None:
            found.append(("base32", dec, m.start(), m.end()))
    for m in runs:
        token = m.group()
        if token.isalpha() and (token.islower() or token.isupper()):
            continue  # an ordinary long word
        dec = _decode_b64(token[:MAX_DECODE_INPUT])
        if dec is not None:
            found.append(("base64", dec, m.start(), m.end()))
    if text.count("%") >= 3:
        for m in _PERCENT.finditer(text):
            chunk = m.group()
            if chunk.count("%") >= 3:
                dec = urllib.parse.unquote(chunk[:MAX_DECODE_INPUT])
                if dec != chunk:
                    found.append(("url", dec, m.start(), m.end()))
    return found


def _reads_better(view: float, base: float) -> bool:
    """A transformed text is worth a view when it reads clearly more like English."""
    return view >= 0.2 and view > base + 0.1


def _unleet(m: re.Match[str]) -> str:
    tok = m.group()
    if _LEET_CHAR.search(tok) and _ASCII_LETTER.search(tok):
        return tok.translate(_LEET)
    return tok


def _shares(words: list[str]) -> tuple[float, float, float]:
    """Englishness of a word list as it is, read in ROT13, and read reversed (one pass).

    ROT13 and reversal map ``[a-z]+`` runs to runs, so the share of common words in
    ``rot13(text)`` is the share of ``words`` in :data:`_COMMON_ROT13` (likewise for
    reversed text): the transformed texts are only built when they read better.
    """
    if not words:
        return 0.0, 0.0, 0.0
    n = len(words)
    common = rot = rev = 0
    for w in words:
        common += w in _COMMON
        rot += w in _COMMON_ROT13
        rev += w in _COMMON_REVERSED
    return common / n, rot / n, rev / n


def _may_leet(sample: str) -> bool:
    """Whether any token mixes a leetspeak character with an ASCII letter (else no leet view)."""
    return any(_ASCII_LETTER.search(m.group()) for m in _LEET_RUN.finditer(sample))


def _whole_text_views(text: str) -> list[tuple[str, str]]:
    """Whole-text readings that are kept only when they read more like English."""
    views: list[tuple[str, str]] = []
    sample = text[:MAX_DECODE_INPUT]
    if sample.isascii() or not _LOWERS_TO_ASCII.search(sample):
        # ROT13 touches only ASCII letters, and only these two characters lower-case into
        # ASCII letters: elsewhere the word-list shares equal the transformed texts' shares
        words = _WORD.findall(sample.lower())
        base, rot_share, rev_share = _shares(words)
        if len(text) > len(sample):
            base = _shares(_WORD.findall(text.lower()))[0]
        if _reads_better(rot_share, base):
            views.append(("rot13", codecs.encode(sample, "rot13")))
        if _reads_better(rev_share, base):
            views.append(("reversed", sample[::-1]))
    else:
        base = englishness(text)
        rot = codecs.encode(sample, "rot13")
        if _reads_better(englishness(rot), base):
            views.append(("rot13", rot))
        rev = sample[::-1]
        if _reads_better(englishness(rev), base):
            views.append(("reversed", rev))
    if _SPACED.search(sample):
        despaced = _despace(sample)
        if despaced != sample:
            views.append(("despaced", despaced))
    if _may_leet(sample):
        leet = _LEET_TOKEN.sub(_unleet, sample)
        if leet != sample and _common_words(leet) >= _common_words(sample) + 2:
            views.append(("leet", leet))
    return views


def normalize(text: str) -> Normalized:
    """Every view of ``text`` a model could read, within the decoding bounds."""
    offsets: list[int] | None
    if text.isascii() or (
        _SPECIAL.search(text) is None and unicodedata.is_normalized("NFKC", text)
    ):
        # the common case: nothing to clean or fold, and no offset table to build
        main, offsets, invisible, tags, homoglyphs = text, None, 0, "", 0
    else:
        main, offsets, invisible, tags, homoglyphs = _clean(text)
    n = len(text)
    views: list[View] = [View("main", main, 0, n)]
    if tags:
        views.append(View("tags", tags, 0, n, 1))
    queue: list[View] = list(views)
    seen = {main, tags}
    while queue and len(views) < MAX_VIEWS:
        view = queue.pop(0)
        if view.depth >= MAX_DEPTH:
            continue
        derived: list[View] = []
        for kind, dec, s, e in _decoded_payloads(view.text):
            start, end = (view.start, view.end) if view.kind != "main" else _span(offsets, s, e, n)
            derived.append(View(kind, dec, start, end, view.depth + 1))
        if view.depth == 0 or view.kind in {"base64", "base32", "hex", "url", "tags"}:
            for kind, alt in _whole_text_views(view.text):
                derived.append(View(kind, alt, view.start, view.end, view.depth + 1))
        for d in derived:
            if d.text in seen or len(views) >= MAX_VIEWS:
                continue
            seen.add(d.text)
            views.append(d)
            queue.append(d)
    table = None if offsets is None else tuple(offsets)
    return Normalized(text, main, table, tuple(views), invisible, tags, homoglyphs)


def _span(offsets: list[int] | None, s: int, e: int, n: int) -> tuple[int, int]:
    if offsets is None:
        return (min(s, n - 1), min(max(e - 1, 0), n - 1) + 1) if n else (0, n)
    if not offsets:
        return (0, n)
    a = offsets[min(s, len(offsets) - 1)]
    b = offsets[min(max(e - 1, 0), len(offsets) - 1)] + 1
    return (a, b)
