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
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "MODEL_FILE",
    "N_FEATURES_BITS",
    "WEIGHTS_FILE",
    "WINDOW",
    "InjectionModel",
    "features",
    "load_model",
    "windows",
]

N_FEATURES_BITS = 18
WEIGHTS_FILE = "injection_weights.bin"
MODEL_FILE = "injection_model.json"
WINDOW = 1500
"""Long texts are scored in overlapping windows of this many characters; the maximum wins."""
_STEP = 1200
_SPACE = re.compile(r"\s+")
_WORDS = re.compile(r"\w+|[^\w\s]")


def features(text: str, bits: int = N_FEATURES_BITS) -> dict[int, float]:
    """Hashed, L2-normalised n-gram counts of ``text`` (lower-cased, spaces collapsed)."""
    mask = (1 << bits) - 1
    t = _SPACE.sub(" ", text.lower()).strip()
    counts: dict[int, float] = {}
    crc = zlib.crc32
    words = _WORDS.findall(t)
    prev = "<s>"
    for w in words:
        for key in (b"w" + w.encode(), b"b" + (prev + " " + w).encode()):
            h = crc(key) & mask
            counts[h] = counts.get(h, 0.0) + 1.0
        prev = w
    padded = " " + t + " "
    data = padded.encode("utf-8", "surrogatepass")
    # character n-grams over the UTF-8 bytes: cheap, and language-agnostic
    n = len(data)
    for size, tag in ((3, 3), (4, 4), (5, 5)):
        for i in range(n - size + 1):
            h = crc(data[i : i + size], tag) & mask
            counts[h] = counts.get(h, 0.0) + 1.0
    norm = math.sqrt(sum(v * v for v in counts.values())) or 1.0
    return {k: v / norm for k, v in counts.items()}


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

    def calibrated(self, p: float) -> float:
        """Map a raw probability so that ``calibration`` lands on 0.5 (monotone, in [0, 1])."""
        c = self.calibration
        if p <= c:
            return 0.5 * p / c if c > 0 else 0.5
        return 0.5 + 0.5 * (p - c) / (1.0 - c) if c < 1 else 1.0

    def score(self, text: str) -> float:
        best = 0.0
        w = self.weights
        for chunk in windows(text):
            z = self.bias
            for k, v in features(chunk, self.bits).items():
                z += w[k] * v
            p = 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))
            best = max(best, p)
        return best


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
