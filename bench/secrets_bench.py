"""Secrets detection: Vallum's SecretsDetector beside LLM Guard's Secrets scanner.

    .venv/bin/python bench/secrets_bench.py [--per-kind N] [--samples N] [--write-docs]

The corpus (bench/secrets_corpus.py, seed 7) holds fake secrets of every provider type
Vallum claims, in code, config, logs, chat prompts and clinical notes, plus hard
negatives. A text counts as flagged when the tool reports any secret in it.

The peer runs in its own venv, bench/.venv-peers-secrets (created here if missing;
git-ignored): ``detect-secrets`` plus ``llm-guard`` installed with ``--no-deps`` (its
full install pulls torch). LLM Guard's ``Secrets`` scanner module imports presidio
and torch-backed utilities, so it is not imported; instead this script reads
``_default_detect_secrets_config`` out of the installed llm_guard/input_scanners/secrets.py
(its detect-secrets plugins and its own ~90 regex plugin files) and runs detect-secrets
with exactly that configuration, through a temporary file, as the scanner does.
Also reported: detect-secrets with its own default plugins (``detect-secrets scan``).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / ".venv-peers-secrets"
DOCS = ROOT / "docs" / "benchmarks.md"
HEADING = "## Secrets detection"


def ensure_peers() -> Path:
    python = PEERS / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import detect_secrets, importlib.util as u; assert u.find_spec('llm_guard')",
        ],
        capture_output=True,
    )
    if probe.returncode != 0:
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "detect-secrets"], check=True)
        subprocess.run([*pip, "--no-deps", "llm-guard"], check=True)
    return python


def _percentiles(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {
        "p50_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))],
    }


def _timed(fn: Callable[[str], object], samples: list[str]) -> dict[str, float]:
    times = []
    for s in samples:
        start = time.perf_counter()
        fn(s)
        times.append((time.perf_counter() - start) * 1000)
    return _percentiles(times)


# --- peer side (runs inside bench/.venv-peers-secrets; stdlib + detect_secrets only) ---


def _llm_guard_config() -> dict[str, Any]:
    import importlib.util

    spec = importlib.util.find_spec("llm_guard")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm_guard is not installed in the peers venv")
    scanners = Path(spec.submodule_search_locations[0]) / "input_scanners"
    tree = ast.parse((scanners / "secrets.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_default_detect_secrets_config"
            for t in node.targets
        ):
            expr = ast.Expression(node.value)
            plugins = "file://" + str(scanners / "secrets_plugins")
            config: dict[str, Any] = eval(  # noqa: S307 - the peer's own literal
                compile(expr, "secrets.py", "eval"), {"_custom_plugins_path": plugins}
            )
            return config
    raise SystemExit("llm_guard secrets config not found")


def peer_main(in_path: str, out_path: str) -> None:
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import default_settings, transient_settings

    job = json.loads(Path(in_path).read_text())
    lg_config = _llm_guard_config()

    def scan(text: str) -> list[str]:
        # As llm_guard.input_scanners.secrets.Secrets.scan: a temp file, then scan_file.
        if not text.strip():
            return []
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(text.encode("utf-8"))
        try:
            secrets = SecretsCollection()
            secrets.scan_file(f.name)
            return sorted({s.type for file in secrets.files for s in secrets[file]})
        finally:
            os.remove(f.name)

    out: dict[str, Any] = {}
    with transient_settings(lg_config):
        out["llm_guard"] = {
            "types": [scan(t) for t in job["texts"]],
            **_timed(scan, job["samples"]),
            "plugins": len(lg_config["plugins_used"]),
        }
    with default_settings():
        out["detect_secrets_default"] = {
            "types": [scan(t) for t in job["texts"]],
            **_timed(scan, job["samples"]),
        }
    Path(out_path).write_text(json.dumps(out))


# --- bench side (Vallum's venv) ---


def kb_samples(texts: list[str], n: int) -> list[str]:
    blob = "\n".join(texts)
    step = max(1, (len(blob) - 1024) // n)
    return [blob[i * step : i * step + 1024] for i in range(n)]


def score(flags: list[bool], rows: list[dict[str, Any]]) -> dict[str, Any]:
    per_kind: dict[str, list[int]] = {}
    tp = fp = fn = 0
    for flagged, row in zip(flags, rows, strict=True):
        per_kind.setdefault(str(row["kind"]), []).append(int(flagged))
        if row["label"] == 1:
            tp += flagged
            fn += not flagged
        else:
            fp += flagged
    return {
        "per_kind": {k: sum(v) / len(v) for k, v in per_kind.items()},
        "recall": tp / (tp + fn),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "fp": fp,
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--peer":
        peer_main(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-kind", type=int, default=40)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT / "bench"))
    from secrets_corpus import NEGATIVE_KINDS, SECRET_KINDS, corpus

    from vallum.detect.secrets import SecretsDetector

    rows = corpus(seed=7, per_kind=args.per_kind)
    texts = [str(r["text"]) for r in rows]
    samples = kb_samples(texts, args.samples)
    det = SecretsDetector()
    det.detect("warm up")
    results: dict[str, dict[str, Any]] = {
        "Vallum SecretsDetector": {
            **score([det.detect(t).flagged for t in texts], rows),
            **_timed(det.detect, samples),
        }
    }

    python = ensure_peers()
    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        job.write_text(json.dumps({"texts": texts, "samples": samples}))
        subprocess.run([str(python), __file__, "--peer", str(job), str(out)], check=True)
        peer = json.loads(out.read_text())
    names = {
        "llm_guard": "LLM Guard Secrets (detect-secrets, its config)",
        "detect_secrets_default": "detect-secrets, default plugins",
    }
    for key, name in names.items():
        p = peer[key]
        results[name] = {**score([bool(t) for t in p["types"]], rows), **p}

    ds_version = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m; "
            "print(m.version('detect-secrets'), m.version('llm-guard'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    lines = render(results, rows, list(SECRET_KINDS), list(NEGATIVE_KINDS), ds_version, args)
    print("\n".join(lines))
    if args.write_docs:
        text = DOCS.read_text()
        if HEADING in text:
            text = text[: text.index(HEADING)].rstrip("\n") + "\n"
        DOCS.write_text(text + "\n" + "\n".join(lines) + "\n")


def render(
    results: dict[str, dict[str, Any]],
    rows: list[dict[str, Any]],
    pos: list[str],
    neg: list[str],
    versions: list[str],
    args: argparse.Namespace,
) -> list[str]:
    names = list(results)
    n_pos = sum(1 for r in rows if r["label"] == 1)
    cpu = platform.processor() or platform.machine()
    w = [
        HEADING,
        "",
        f"Machine: {cpu}, {os.cpu_count()} cores shared with other jobs, Python "
        f"{platform.python_version()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Command: "
        f"`.venv/bin/python bench/secrets_bench.py --write-docs` (`make bench`). Peers: "
        f"detect-secrets {versions[0]}, llm-guard {versions[1]} (installed `--no-deps` in "
        "bench/.venv-peers-secrets).",
        "",
        f"Corpus: bench/secrets_corpus.py, seed 7, {n_pos} positives ({args.per_kind} per secret "
        f"type) and {len(rows) - n_pos} hard negatives ({args.per_kind} per kind), each in a "
        "random carrier (code, config, log, chat prompt, clinical note). All secrets are fake, "
        "random characters in the provider's format. A text counts as flagged if the tool reports "
        "any secret in it. LLM Guard's `Secrets` scanner is emulated, not imported (its module "
        "pulls presidio and torch): detect-secrets runs with the `_default_detect_secrets_config` "
        "read from the installed llm_guard/input_scanners/secrets.py (detect-secrets built-ins, "
        "its ~90 own regex plugins, Base64 entropy 4.5, hex entropy 3.0), through a temporary "
        "file per text as the scanner does; that file round trip is in its latency.",
        "",
        "| tool | recall | precision | false positives | p50 ms / 1 KB | p99 ms / 1 KB |",
        "|---|---|---|---|---|---|",
    ]
    n_neg = len(rows) - n_pos
    for name, r in results.items():
        w.append(
            f"| {name} | {r['recall']:.3f} | {r['precision']:.3f} | {r['fp']}/{n_neg} | "
            f"{r['p50_ms']:.3f} | {r['p99_ms']:.3f} |"
        )
    v = results[names[0]]
    lg = results[names[1]]
    w += [
        "",
        f"Latency ratio (LLM Guard / Vallum): p50 {lg['p50_ms'] / v['p50_ms']:.0f}x, p99 "
        f"{lg['p99_ms'] / v['p99_ms']:.0f}x, over {args.samples} 1 KB windows of the corpus, "
        "one core, wall clock.",
        "",
        "Caveats: the generator was written knowing Vallum's patterns, so its recall of 1.000 "
        "is an upper bound, not a held-out figure. Vallum's false positives are all "
        "`doc_placeholder` texts: it flags AWS's documented example keys "
        "(`AKIAIOSFODNN7EXAMPLE`, `wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`), which have the "
        "real format; an allowlist of published example keys would remove them. LLM Guard's "
        "config has no generic `password=` keyword plugin (its KeywordDetector is off), hence 0 "
        "on PASSWORD_ASSIGNMENT, and its Anthropic and OpenAI misses are key formats its regexes "
        "do not know (`sk-ant-api03-...`, `sk-proj-...`).",
        "",
        "Recall per secret type (share of positive texts flagged):",
        "",
        "| type | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for k in pos:
        w.append(f"| {k} | " + " | ".join(f"{results[n]['per_kind'][k]:.3f}" for n in names) + " |")
    w += [
        "",
        "False-positive rate per negative kind (share of negative texts flagged):",
        "",
        "| negative | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for k in neg:
        w.append(f"| {k} | " + " | ".join(f"{results[n]['per_kind'][k]:.3f}" for n in names) + " |")
    return w


if __name__ == "__main__":
    main()
