"""The learned layer: logistic regression over hashed word and character n-grams.

Pure Python at run time (no numpy): a text becomes a sparse vector of hashed
features (word unigrams and bigrams, character 3- to 5-grams), L2-normalised,
and the score is ``sigmoid(bias + w . x)``. The weights are a flat float32 array
shipped as package data (``data/injection_weights.bin``), loaded on first use;
``data/injection_model.json`` records how they were trained
(``scripts/train_injection.py``), their SHA-256 and the held-out metrics.

:func:`features` is shared with the training script, so training and inference
can never disagree about what a feature is.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import threading
import zlib
from array import array
from dataclasses import dataclass, field
from importlib import resources

__all__ = [
    "MODEL_FILE",
    "N_FEATURES_BITS",
    "WEIGHTS_FILE",
    "WINDOW",
    "InjectionModel",
    "bigram_key",
    "features",
    "load_model",
    "tokens",
    "windows",
    "word_keys",
]

N_FEATURES_BITS = 18
WEIGHTS_FILE = "injection_weights.bin"
MODEL_FILE = "injection_model.json"
WINDOW = 1500
"""Long texts are scored in overlapping windows of this many characters; the maximum wins."""
_STEP = 1200
_SPACE = re.compile(r"\s+")
_TOKENS = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|\w+|[^\w\s]")
_MAX_WORD = 48
"""Character n-grams are taken from at most this many leading bytes of a token."""


def tokens(text: str) -> list[str]:
    """Lower-cased words, single CJK characters and single punctuation marks."""
    return _TOKENS.findall(text.lower())


def word_keys(word: str, bits: int = N_FEATURES_BITS) -> list[int]:
    """The hashed features a token contributes on its own: itself and its char 3-5-grams."""
    mask = (1 << bits) - 1
    crc = zlib.crc32
    raw = word.encode("utf-8", "surrogatepass")
    keys = [crc(b"w" + raw) & mask]
    padded = b" " + raw[:_MAX_WORD] + b" "
    n = len(padded)
    for size in (3, 4, 5):
        keys.extend(crc(padded[i : i + size], size) & mask for i in range(n - size + 1))
    return keys


def bigram_key(prev: str, word: str, bits: int = N_FEATURES_BITS) -> int:
    return zlib.crc32(("b" + prev + " " + word).encode("utf-8", "surrogatepass")) & (
        (1 << bits) - 1
    )


def features(text: str, bits: int = N_FEATURES_BITS) -> dict[int, float]:
    """Hashed n-gram counts of ``text``, scaled by 1/sqrt(number of n-grams).

    Per token: the token, its character 3- to 5-grams (with word-boundary padding);
    per adjacent pair: the bigram. Linear in the counts, so a model can score a text
    from cached per-token sums (:meth:`InjectionModel.score`) and get the same value.
    """
    counts: dict[int, float] = {}
    prev = "<s>"
    total = 0
    for w in tokens(text):
        for k in (*word_keys(w, bits), bigram_key(prev, w, bits)):
            counts[k] = counts.get(k, 0.0) + 1.0
            total += 1
        prev = w
    scale = 1.0 / math.sqrt(total) if total else 0.0
    return {k: v * scale for k, v in counts.items()}


def windows(text: str) -> list[str]:
    """The text itself when short, else overlapping windows covering all of it."""
    if len(text) <= WINDOW:
        return [text]
    out = [text[i : i + WINDOW] for i in range(0, len(text) - WINDOW + _STEP, _STEP)]
    return [w for w in out if w.strip()]


@dataclass(frozen=True, slots=True)
class InjectionModel:
    """Loaded weights: ``score(text)`` is the probability that ``text`` is an attack."""

    weights: array[float]
    bias: float
    bits: int
    sha256: str
    calibration: float = 0.5
    """Raw probability at which the validation false-positive rate was 1 %."""
    _cache: dict[str, tuple[float, int, bytes, int]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def calibrated(self, p: float) -> float:
        """Map a raw probability so that ``calibration`` lands on 0.5 (monotone, in [0, 1])."""
        c = self.calibration
        if p <= c:
            return 0.5 * p / c if c > 0 else 0.5
        return 0.5 + 0.5 * (p - c) / (1.0 - c) if c < 1 else 1.0

    def score(self, text: str) -> float:
        """Probability that ``text`` is an attack: the maximum over its windows."""
        best = 0.0
        for chunk in windows(text):
            z = self.bias + self._dot(chunk)
            best = max(best, 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0))))
        return best

    def _dot(self, text: str) -> float:
        """``w . features(text)`` from cached per-token sums (same value, far fewer hashes).

        Per distinct token the cache holds its own weight sum and feature count, its
        UTF-8 bytes and the CRC-32 state after ``b"b" + token + b" "``: a bigram's key
        is then one incremental CRC over the next token's bytes, with no string built.
        """
        w = self.weights
        cache = self._cache
        mask = (1 << self.bits) - 1
        crc = zlib.crc32
        total = 0
        acc = 0.0
        state = _START_STATE
        for tok in tokens(text):
            hit = cache.get(tok)
            if hit is None:
                hit = self._entry(tok)
            acc += hit[0] + w[crc(hit[2], state) & mask]
            total += hit[1]
            state = hit[3]
        return acc / math.sqrt(total) if total else 0.0

    def _entry(self, tok: str) -> tuple[float, int, bytes, int]:
        w = self.weights
        keys = word_keys(tok, self.bits)
        raw = tok.encode("utf-8", "surrogatepass")
        entry = (sum(w[k] for k in keys), len(keys) + 1, raw, zlib.crc32(b"b" + raw + b" "))
        if len(self._cache) < _CACHE_MAX:
            self._cache[tok] = entry
        return entry


_CACHE_MAX = 200_000
_START_STATE = zlib.crc32(b"b<s> ")
"""CRC-32 state of a bigram whose first token is the start marker ``<s>``."""
_lock = threading.Lock()
_cached: InjectionModel | None = None


def load_model() -> InjectionModel:
    """Load (once) the shipped weights; raise if they do not match their record."""
    global _cached
    with _lock:
        if _cached is not None:
            return _cached
        pkg = resources.files("vallum.detect") / "data"
        meta = json.loads((pkg / MODEL_FILE).read_text(encoding="utf-8"))
        raw = (pkg / WEIGHTS_FILE).read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != meta["weights_sha256"]:
            raise ValueError("injection weights do not match their recorded SHA-256")
        weights = array("f")
        weights.frombytes(raw)
        if sys.byteorder != "little":
            weights.byteswap()
        bits = int(meta["n_features_bits"])
        if len(weights) != 1 << bits:
            raise ValueError("injection weights have the wrong size")
        calibration = float(meta.get("calibration_threshold", 0.5))
        _cached = InjectionModel(weights, float(meta["bias"]), bits, digest, calibration)
        return _cached
