"""Malformed input never breaks the scanner: a bounded atheris run and a mutation test."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vallum.scan import Verdict
from vallum.scan.pickle_vm import scan_pickle_stream
from vallum.scan.verdict import Report

ROOT = Path(__file__).resolve().parents[3]
FUZZ = ROOT / "fuzz" / "scan_fuzz.py"


def _seeds() -> dict[str, bytes]:
    spec = importlib.util.spec_from_file_location("scan_fuzz", FUZZ)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seeds: dict[str, bytes] = module.seeds()
    return seeds


SEEDS = list(_seeds().values())


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
@pytest.mark.timeout(300)
def test_atheris_bounded_run_over_the_pickle_vm(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(FUZZ), "--seeds", str(corpus)], check=True)
    env = {**os.environ, "VALLUM_FUZZ_TARGET": "pickle"}
    proc = subprocess.run(
        [
            sys.executable,
            str(FUZZ),
            str(corpus),
            "-runs=4000",
            "-seed=7",
            "-timeout=5",
            "-rss_limit_mb=2048",
            "-max_len=8192",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 4000 runs" in proc.stderr
    assert not list(tmp_path.glob("crash-*"))


mutation = st.tuples(
    st.sampled_from(range(len(SEEDS))),
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert", "dup"]),
            st.integers(0, 1 << 16),
            st.binary(max_size=9),
        ),
        min_size=1,
        max_size=6,
    ),
)


def _mutate(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, at, blob in edits:
        i = at % (len(out) + 1)
        if kind == "flip" and out:
            out[i % len(out)] ^= (blob[:1] or b"\xff")[0] or 1
        elif kind == "cut":
            del out[i : i + len(blob) + 1]
        elif kind == "insert":
            out[i:i] = blob
        else:
            out[i:i] = out[i : i + 16]
    return bytes(out)


@settings(max_examples=400, deadline=None)
@given(case=mutation)
def test_mutated_pickles_yield_a_verdict_quickly(
    case: tuple[int, list[tuple[str, int, bytes]]],
) -> None:
    seed, edits = case
    data = _mutate(SEEDS[seed], edits)
    started = time.perf_counter()
    report = Report()
    scan_pickle_stream(data, "fuzz", report)
    assert report.verdict() in (Verdict.SAFE, Verdict.UNSAFE, Verdict.UNSCANNABLE)
    assert time.perf_counter() - started < 2.0
