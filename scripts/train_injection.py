"""Train the injection classifier shipped in src/vallum/detect/data/.

    .venv/bin/python scripts/train_injection.py   # needs numpy (installed with h5py)

Reproducible: fixed seed, deterministic corpus (scripts/injection_corpus.py), full-batch
order fixed by the seed. Writes ``injection_weights.bin`` (float32, little-endian,
2**bits entries) and ``injection_model.json`` (bias, SHA-256 of the weights, data
sources and licences, split sizes per technique, hyper-parameters and held-out
metrics of the classifier alone). The test split is never used for training.
"""

from __future__ import annotations

import collections
import hashlib
import json
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import injection_corpus  # noqa: E402
from vallum.detect.injection_model import (  # noqa: E402
    MODEL_FILE,
    N_FEATURES_BITS,
    WEIGHTS_FILE,
    features,
    windows,
)
from vallum.detect.normalize import normalize  # noqa: E402

OUT = ROOT / "src" / "vallum" / "detect" / "data"
HYPER = {"epochs": 12, "batch": 32, "lr": 0.05, "l2": 1e-6, "max_windows": 4, "seed": 7}


def training_texts(text: str, label: int, technique: str) -> list[str]:
    """The views of an example the classifier should learn from (what the detector scores)."""
    views = normalize(text).views
    if label == 1 and (technique == "unicode_tags" or technique.startswith("encoded_")):
        # the attack is in the decoded view; the encoded text itself looks like any blob
        views = tuple(v for v in views if v.kind != "main")
    out: list[str] = []
    for v in views:
        out.extend(windows(v.text)[: HYPER["max_windows"]])
    return out


def to_sparse(texts: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    idx, val = [], []
    for t in texts:
        f = features(t)
        keys = np.fromiter(f.keys(), dtype=np.int64, count=len(f))
        vals = np.fromiter(f.values(), dtype=np.float64, count=len(f))
        idx.append(keys)
        val.append(vals)
    return idx, val


def scores(w: np.ndarray, b: float, idx: list[np.ndarray], val: list[np.ndarray]) -> np.ndarray:
    z = np.array([b + float(np.dot(w[i], v)) for i, v in zip(idx, val, strict=True)])
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def train(idx: list[np.ndarray], val: list[np.ndarray], y: np.ndarray) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(HYPER["seed"])
    n_feat = 1 << N_FEATURES_BITS
    w = np.zeros(n_feat)
    b = 0.0
    pos = y.sum()
    neg = len(y) - pos
    cw = np.where(y == 1, len(y) / (2 * pos), len(y) / (2 * neg))
    g2 = np.zeros(n_feat) + 1e-8  # AdaGrad accumulators
    gb2 = 1e-8
    for _ in range(HYPER["epochs"]):
        order = rng.permutation(len(y))
        for start in range(0, len(order), HYPER["batch"]):
            batch = order[start : start + HYPER["batch"]]
            grad = collections.defaultdict(float)
            gb = 0.0
            bi = np.concatenate([idx[k] for k in batch])
            bv = np.concatenate([val[k] for k in batch])
            z = np.array([b + float(np.dot(w[idx[k]], val[k])) for k in batch])
            p = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
            err = (p - y[batch]) * cw[batch]
            reps = np.repeat(err, [len(idx[k]) for k in batch])
            g = np.zeros(n_feat)
            np.add.at(g, bi, reps * bv)
            touched = np.unique(bi)
            g[touched] += HYPER["l2"] * w[touched]
            g2[touched] += g[touched] ** 2
            w[touched] -= HYPER["lr"] * g[touched] / np.sqrt(g2[touched])
            gb = float(err.sum())
            gb2 += gb * gb
            b -= HYPER["lr"] * gb / np.sqrt(gb2)
            del grad
    return w, b


def tpr_at_fpr(p: np.ndarray, y: np.ndarray, max_fpr: float) -> tuple[float, float]:
    negs = np.sort(p[y == 0])[::-1]
    k = int(np.floor(max_fpr * len(negs)))
    thr = negs[k] + 1e-9 if k < len(negs) else 0.0
    return float((p[y == 1] >= thr).mean()), float(thr)


def auc(p: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(p)
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fit(rows: list[injection_corpus.Example]) -> tuple[np.ndarray, float]:
    texts: list[str] = []
    labels: list[int] = []
    for e in rows:
        for t in training_texts(e.text, e.label, e.technique):
            texts.append(t)
            labels.append(e.label)
    y = np.array(labels, dtype=np.float64)
    idx, val = to_sparse(texts)
    print(f"training on {len(texts)} windows from {len(rows)} examples", file=sys.stderr)
    return train(idx, val, y)


def predict(
    w: np.ndarray, b: float, rows: list[injection_corpus.Example]
) -> tuple[np.ndarray, np.ndarray]:
    """Classifier score per example: the max over views and windows, as the detector does."""
    tp, tv = [], []
    for e in rows:
        ts = [t for v in normalize(e.text).views for t in windows(v.text)]
        i2, v2 = to_sparse(ts)
        tp.append(float(scores(w, b, i2, v2).max()))
        tv.append(e.label)
    return np.array(tp), np.array(tv)


def main() -> None:
    corpus = injection_corpus.build()
    train_rows = [e for e in corpus if e.split == "train"]
    test_rows = [e for e in corpus if e.split == "test"]
    # calibration: hold a fifth of the training groups out, pick the score at which the
    # validation false-positive rate is 1 %, then refit on every training group
    fit_rows = [e for e in train_rows if zlib.crc32(e.group.encode()) % 5 != 0]
    val_rows = [e for e in train_rows if zlib.crc32(e.group.encode()) % 5 == 0]
    w, b = fit(fit_rows)
    pv, yv = predict(w, b, val_rows)
    _, calibration = tpr_at_fpr(pv, yv, 0.01)
    calibration = min(max(calibration, 0.2), 0.95)
    w, b = fit(train_rows)
    p, yt = predict(w, b, test_rows)
    tpr2, thr2 = tpr_at_fpr(p, yt, 0.02)
    metrics = {
        "test_examples": len(test_rows),
        "validation_examples": len(val_rows),
        "auc": round(auc(p, yt), 4),
        "tpr_at_fpr_0.02": round(tpr2, 4),
        "threshold_at_fpr_0.02": round(thr2, 4),
        "tpr_at_0.5": round(float((p[yt == 1] >= 0.5).mean()), 4),
        "fpr_at_0.5": round(float((p[yt == 0] >= 0.5).mean()), 4),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    raw = w.astype("<f4").tobytes()
    (OUT / WEIGHTS_FILE).write_bytes(raw)
    split_counts: dict[str, dict[str, int]] = {}
    for e in corpus:
        split_counts.setdefault(e.technique, {"train": 0, "test": 0})[e.split] += 1
    meta = {
        "model": "logistic regression over hashed word 1-2-grams and UTF-8 char 3-5-grams",
        "n_features_bits": N_FEATURES_BITS,
        "bias": float(b),
        "calibration_threshold": round(calibration, 6),
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": hashlib.sha256(raw).hexdigest(),
        "seed": injection_corpus.SEED,
        "hyperparameters": HYPER,
        "sources": injection_corpus.SOURCES,
        "split": "by group (template, DAN family, BIPIA category, hash of prompt); "
        "test groups never trained on",
        "split_counts": dict(sorted(split_counts.items())),
        "metrics_classifier_only": metrics,
        "command": "bench/.venv-peers/bin/python scripts/train_injection.py",
    }
    (OUT / MODEL_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
