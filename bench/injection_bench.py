"""Prompt-injection bench: Vallum's detector beside a TF-IDF baseline and LLM Guard.

    .venv/bin/python bench/injection_bench.py [--no-peers] [--no-llm-guard] [--samples N]

Data: the held-out test split of scripts/injection_corpus.py (groups never trained
on: DAN families, BIPIA categories, templates), which includes the hard benign
prompts (NotInject test half, a MedQuAD sample, self-instruct, our hard benign
templates). BIPIA attacks inserted into e-mails *without* any carrier text are
reported on their own line and kept out of the headline: they are ordinary
instructions ("What is the capital of Brazil?") that are attacks only relative to
the application's task, which a text-only detector cannot know.

Reports TPR at FPR <= 2 %, a threshold table, TPR per technique and FPR per benign
shape, and p50/p99 latency of one detect() call on 1 KB prompts (one core). Peers
run in a separate venv, bench/.venv-peers-injection (created here if missing; git-ignored):
scikit-learn for the baseline, llm-guard (with CPU torch) for its offline scanners.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import injection_corpus  # noqa: E402

from vallum.detect.injection import InjectionDetector  # noqa: E402

PEERS = ROOT / "bench" / ".venv-peers-injection"
PLAIN = "indirect_bipia_plain"
MAX_FPR = 0.02


def ensure_peers(with_llm_guard: bool) -> Path:
    python = PEERS / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "numpy", "scikit-learn"], check=True
        )
    if with_llm_guard:
        probe = subprocess.run(
            [str(python), "-c", "import llm_guard"], capture_output=True, check=False
        )
        if probe.returncode != 0:
            # llm-guard pulls torch and transformers (large); a CPU-only torch wheel, where
            # pip finds one, keeps the download smaller
            subprocess.run([str(python), "-m", "pip", "install", "-q", "torch"], check=False)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "llm-guard"], check=False)
    return python


def tpr_at_fpr(
    scores: list[float], labels: list[int], max_fpr: float
) -> tuple[float, float, float]:
    """(TPR, FPR, threshold) at the lowest threshold whose FPR is <= max_fpr."""
    best = (0.0, 0.0, 1.01)
    for thr in sorted(set(scores) | {1.01}):
        fp = sum(1 for s, y in zip(scores, labels, strict=True) if y == 0 and s >= thr)
        neg = labels.count(0)
        if fp / neg <= max_fpr:
            tp = sum(1 for s, y in zip(scores, labels, strict=True) if y == 1 and s >= thr)
            return tp / labels.count(1), fp / neg, thr
    return best


def rates(scores: list[float], labels: list[int], thr: float) -> tuple[float, float]:
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    tpr = sum(s >= thr for s in pos) / len(pos) if pos else 0.0
    fpr = sum(s >= thr for s in neg) / len(neg) if neg else 0.0
    return tpr, fpr


def kb_samples(texts: list[str], n: int) -> list[str]:
    """``n`` prompts of exactly 1 KB built from the test texts (repeated when short)."""
    out = []
    for t in texts[:n]:
        s = t
        while len(s) < 1024:
            s += "\n" + t
        out.append(s[:1024])
    return out


def latency(fn: object, samples: list[str], clock: str = "wall") -> tuple[float, float]:
    """p50/p99 ms of ``fn`` per sample, by wall clock or by this thread's CPU time."""
    now = time.perf_counter if clock == "wall" else time.thread_time
    times = []
    for s in samples:
        start = now()
        fn(s)  # type: ignore[operator]
        times.append((now() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]


def leak_report(samples: list[str], w: Callable[[str], None]) -> None:
    """Output filter latency: one detect() per 1 KB response, and streamed in 16-char chunks."""
    from vallum.detect.leak import LeakDetector

    leak = LeakDetector(canaries=["vlm-canary-5e1f0a9b"], allowed_domains=["example.com"])
    leak.detect("warm up")

    def streamed(text: str) -> None:
        stream = leak.stream()
        for i in range(0, len(text), 16):
            stream.feed(text[i : i + 16])
        stream.close()

    links_only = LeakDetector(
        canaries=["vlm-canary-5e1f0a9b"], allowed_domains=["example.com"], phi=False, secrets=False
    )
    links_only.detect("warm up")

    def streamed_links(text: str) -> None:
        stream = links_only.stream()
        for i in range(0, len(text), 16):
            stream.feed(text[i : i + 16])
        stream.close()

    held = ["See ![chart](https://img.test/c.png?d=" + "A" * 1900 + ") for details."] * 20
    d50, d99 = latency(leak.detect, samples[:100], clock="cpu")
    s50, s99 = latency(streamed, samples[:100], clock="cpu")
    l50, l99 = latency(streamed_links, samples[:100], clock="cpu")
    h50, h99 = latency(streamed_links, held, clock="cpu")
    w("Output filter (`LeakDetector`: canaries, links, PHI, secrets), CPU time per 1 KB response:")
    w("")
    w("| mode | p50 ms | p99 ms |")
    w("|---|---|---|")
    w(f"| detect() on the whole response | {d50:.2f} | {d99:.2f} |")
    w(f"| stream(), 16-character chunks (64 feeds) | {s50:.2f} | {s99:.2f} |")
    w(f"| stream(), canaries + links only (the gateway's leak guard), 16-char chunks "
      f"| {l50:.2f} | {l99:.2f} |")  # fmt: skip
    w(f"| stream(), canaries + links only, a 1.9 KB unclosed image link held back "
      f"| {h50:.2f} | {h99:.2f} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-llm-guard", action="store_true")
    ap.add_argument("--samples", type=int, default=300, help="1 KB prompts timed")
    args = ap.parse_args()

    corpus = injection_corpus.build()
    test = [e for e in corpus if e.split == "test"]
    train = [e for e in corpus if e.split == "train"]
    head = [e for e in test if e.technique != PLAIN]
    labels = [e.label for e in head]

    detector = InjectionDetector()
    detector.detect("warm up")
    t0 = time.perf_counter()
    scores = {id(e): detector.detect(e.text).score for e in test}
    elapsed = time.perf_counter() - t0
    vs = [scores[id(e)] for e in head]
    rng_texts = sorted((e.text for e in test), key=lambda t: (len(t) % 97, t))
    samples = kb_samples(rng_texts, args.samples)
    p50, p99 = latency(detector.detect, samples)
    c50, c99 = latency(detector.detect, samples, clock="cpu")
    benign_kb = kb_samples(
        sorted((e.text for e in test if e.label == 0), key=lambda t: (len(t) % 97, t)), args.samples
    )
    b50, b99 = latency(detector.detect, benign_kb, clock="cpu")
    load = os.getloadavg()[0]
    rules_only = InjectionDetector(
        __import__("vallum.detect", fromlist=["DetectorConfig"]).DetectorConfig(
            options={"classifier": False}
        )
    )
    r50, r99 = latency(rules_only.detect, samples)

    tpr2, fpr2, thr2 = tpr_at_fpr(vs, labels, MAX_FPR)
    d_tpr, d_fpr = rates(vs, labels, 0.5)
    lines: list[str] = []
    w = lines.append
    w("## Prompt injection (`bench/injection_bench.py`)")
    w("")
    w(f"Machine: {platform.machine()}, {os.cpu_count()} cores shared, Python "
      f"{platform.python_version()}, {platform.system()}. Date: "
      f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}. Command: `make bench` "
      f"(`.venv/bin/python bench/injection_bench.py`).")  # fmt: skip
    w("")
    w(f"Held-out test split: {len(head)} texts ({labels.count(1)} attacks, "
      f"{labels.count(0)} benign) from groups never trained on; train split {len(train)} texts. "
      f"Detector scored the whole test split in {elapsed:.1f} s.")  # fmt: skip
    w("")
    w("| detector | TPR at FPR <= 2 % | FPR there | threshold | TPR / FPR at 0.5 "
      "| p50 ms / 1 KB | p99 ms / 1 KB |")  # fmt: skip
    w("|---|---|---|---|---|---|---|")
    w(f"| Vallum injection (rules + classifier) | {tpr2:.3f} | {fpr2:.3f} | {thr2:.2f} | "
      f"{d_tpr:.3f} / {d_fpr:.3f} | {p50:.2f} | {p99:.2f} |")  # fmt: skip
    w(f"| Vallum injection, CPU time (load average {load:.1f} on {os.cpu_count()} cores) "
      f"| | | | | {c50:.2f} | {c99:.2f} |")  # fmt: skip
    w(f"| Vallum injection, CPU time, benign 1 KB prompts only | | | | | {b50:.2f} | {b99:.2f} |")
    rs = [rules_only.detect(e.text).score for e in head]
    rt, rf = rates(rs, labels, 0.5)
    w(f"| Vallum injection, rules only | - | - | - | {rt:.3f} / {rf:.3f} | {r50:.2f} | {r99:.2f} |")

    peer_rows: dict[str, dict[str, object]] = {}
    if not args.no_peers:
        python = ensure_peers(not args.no_llm_guard)
        with tempfile.TemporaryDirectory() as tmp:
            inp, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
            inp.write_text(json.dumps({
                "train": [{"text": e.text, "label": e.label} for e in train],
                "test": [{"text": e.text, "label": e.label} for e in test],
                "kb": samples,
            }))  # fmt: skip
            cmd = [str(python), str(ROOT / "bench" / "injection_peers.py"), str(inp), str(out)]
            if args.no_llm_guard:
                cmd.append("--no-llm-guard")
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            peer_rows = json.loads(out.read_text())
    index = {id(e): i for i, e in enumerate(test)}
    for name, res in peer_rows.items():
        if "error" in res:
            w(f"| {name} | could not run: {res['error']} | | | | | |")
            continue
        ps_all = res["scores"]
        if not isinstance(ps_all, list):
            raise TypeError(f"{name}: no scores")
        ps = [ps_all[index[id(e)]] for e in head]
        t2, f2, th = tpr_at_fpr(ps, labels, MAX_FPR)
        pt, pf = rates(ps, labels, 0.5)
        w(f"| {name} | {t2:.3f} | {f2:.3f} | {th:.2f} | {pt:.3f} / {pf:.3f} | "
          f"{res['p50_ms']:.2f} | {res['p99_ms']:.2f} |")  # fmt: skip
    w("")
    w("Threshold table (Vallum, headline set):")
    w("")
    w("| threshold | TPR | FPR |")
    w("|---|---|---|")
    for thr in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        t, f = rates(vs, labels, thr)
        w(f"| {thr:.2f} | {t:.3f} | {f:.4f} |")
    w("")
    w("Per technique (attacks: share flagged; benign shapes: share wrongly flagged), at the "
      "default threshold 0.5 and at the FPR <= 2 % threshold:")  # fmt: skip
    w("")
    tfidf = peer_rows.get("TF-IDF + LR baseline", {})
    tf_scores = tfidf.get("scores") if isinstance(tfidf, dict) else None
    tf_thr = None
    if isinstance(tf_scores, list):
        tf_thr = tpr_at_fpr([tf_scores[index[id(e)]] for e in head], labels, MAX_FPR)[2]
    w("| technique | label | n | Vallum @0.5 | Vallum @FPR 2 % | TF-IDF @FPR 2 % |")
    w("|---|---|---|---|---|---|")
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for e in test:
        groups[(e.label, e.technique)].append(index[id(e)])
    for (label, tech), idxs in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1])):
        ss = [scores[id(test[i])] for i in idxs]
        a = sum(s >= 0.5 for s in ss) / len(ss)
        b = sum(s >= thr2 for s in ss) / len(ss)
        c = "-"
        if isinstance(tf_scores, list) and tf_thr is not None:
            c = f"{sum(tf_scores[i] >= tf_thr for i in idxs) / len(idxs):.3f}"
        note = " (not in headline)" if tech == PLAIN else ""
        kind = "attack" if label else "benign"
        w(f"| {tech}{note} | {kind} | {len(idxs)} | {a:.3f} | {b:.3f} | {c} |")
    w("")
    leak_report(samples, w)
    report = "\n".join(lines)
    print(report)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "injection.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
