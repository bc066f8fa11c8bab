"""Peer detectors for bench/injection_bench.py, run inside the bench venv (bench/.venv-peers).

    python bench/injection_peers.py IN.json OUT.json

IN holds ``train`` and ``test`` lists of ``{"text", "label"}``. OUT gets, per peer, a
score per test text (or the reason the peer could not run) and its p50/p99 latency
per 1 KB. Peers: a TF-IDF + logistic-regression baseline trained on the same train
split, and LLM Guard's input scanners that work offline.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any


def _latency(fn: Callable[[str], float], samples: list[str]) -> dict[str, float]:
    times = []
    for s in samples:
        start = time.perf_counter()
        fn(s)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
    }


def tfidf(train: list[dict[str, Any]], test: list[str], kb: list[str]) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=200_000),
        LogisticRegression(max_iter=2000, class_weight="balanced", C=4.0),
    )
    model.fit([r["text"] for r in train], [r["label"] for r in train])
    scores = model.predict_proba(test)[:, 1].tolist()

    def one(t: str) -> float:
        return float(model.predict_proba([t])[0, 1])

    return {"scores": scores, **_latency(one, kb)}


BAN = [
    "ignore previous instructions",
    "ignore all previous instructions",
    "ignore the above",
    "disregard previous instructions",
    "do anything now",
    "developer mode",
    "jailbreak",
    "system prompt",
    "you are dan",
]


def llm_guard(test: list[str], kb: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        from llm_guard.util import configure_logger

        configure_logger(log_level="ERROR")
        from llm_guard.input_scanners import BanSubstrings, InvisibleText
        from llm_guard.input_scanners.ban_substrings import MatchType
    except Exception as exc:  # noqa: BLE001 - report why the peer could not run
        return {"error": f"import failed: {type(exc).__name__}: {exc}"[:300]}
    scanners: dict[str, Any] = {
        "InvisibleText": InvisibleText(),
        "BanSubstrings (our phrase list)": BanSubstrings(
            substrings=BAN, match_type=MatchType.STR, case_sensitive=False, redact=False
        ),
    }
    for name, scanner in scanners.items():

        def score(t: str, s: Any = scanner) -> float:
            _, valid, risk = s.scan(t)
            return 0.0 if valid else max(float(risk), 0.5)

        try:
            out[name] = {"scores": [score(t) for t in test], **_latency(score, kb)}
        except Exception as exc:  # noqa: BLE001
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    try:
        from llm_guard.input_scanners import PromptInjection

        PromptInjection()
        out["PromptInjection"] = {"error": "constructed unexpectedly; not scored"}
    except Exception as exc:  # noqa: BLE001
        out["PromptInjection"] = {
            "error": f"cannot run offline: {type(exc).__name__}: {str(exc).splitlines()[0]}"[:300]
        }
    return out


def main() -> None:
    doc = json.loads(open(sys.argv[1], encoding="utf-8").read())  # noqa: SIM115
    test = [r["text"] for r in doc["test"]]
    kb = doc["kb"]
    result: dict[str, Any] = {}
    try:
        result["TF-IDF + LR baseline"] = tfidf(doc["train"], test, kb)
    except Exception:  # noqa: BLE001
        result["TF-IDF + LR baseline"] = {"error": traceback.format_exc(limit=1)[-300:]}
    if "--no-llm-guard" not in sys.argv:
        guard = llm_guard(test, kb)
        if "error" in guard:
            result["LLM Guard"] = guard
        else:
            for name, value in guard.items():
                result[f"LLM Guard {name}"] = value
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
