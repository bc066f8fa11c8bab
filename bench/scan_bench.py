"""Model scanner benchmark: detection beside modelscan, picklescan and fickling; throughput.

    make bench                              # with the ledger benchmarks
    python bench/scan_bench.py              # this one (creates bench/.venv-peers once)
    python bench/scan_bench.py --mib 64     # a smaller throughput set

1. Detection: the DEV corpus of ``shared/bench/make_model_corpus.py`` (generated into
   a temporary directory, labels in ``labels.json``) is scanned by every tool; per
   tool: malicious files flagged, benign files flagged (false positives), errors.
2. Throughput: a set of state-dict-like pickles in three shapes (big tensors as
   BINBYTES plus thousands of small tensors and keys) is scanned by Vallum (one
   process, then a pool of one worker process per core) and by picklescan, in the
   same run; pickle bytes/s and opcodes/s (opcode count from ``pickletools``), in
   wall-clock and per CPU second (the pool's CPU includes its reaped workers).

The peers live in a separate venv (``bench/.venv-peers``, git-ignored), never in
Vallum's. Results print as Markdown for docs/benchmarks.md; the machine is shared,
so compare ratios within a run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import pickletools
import platform
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vallum.cli.scan import scan_files
from vallum.scan.service import scan_file
from vallum.scan.verdict import Verdict

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(os.environ.get("VALLUM_BENCH_PEERS_VENV", ROOT / "bench" / ".venv-peers"))
PEER_PACKAGES = ("picklescan", "modelscan", "fickling")
RUNNER = ROOT / "bench" / "scan_peers_runner.py"
GENERATOR = Path(
    os.environ.get(
        "VALLUM_MODEL_CORPUS_GENERATOR", ROOT.parent / "shared" / "bench" / "make_model_corpus.py"
    )
)


def peers_python() -> Path:
    python = PEERS / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True)
    return python


def peer_versions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys;"
        f"print(json.dumps({{p: m.version(p) for p in {list(PEER_PACKAGES)!r}}}))"
    )
    out = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
    versions: dict[str, str] = json.loads(out.stdout)
    return versions


# --- detection ------------------------------------------------------------------------


def detection(python: Path, work: Path) -> list[str]:
    subprocess.run([sys.executable, str(GENERATOR), str(work)], check=True, capture_output=True)
    labels: dict[str, dict[str, object]] = json.loads((work / "labels.json").read_text())
    files = {rel: work / "files" / rel for rel in labels}
    rows: dict[str, dict[str, int]] = {}

    def tally(tool: str, rel: str, flagged: bool, error: bool) -> None:
        row = rows.setdefault(tool, {"tp": 0, "fn": 0, "fp": 0, "tn": 0, "errors": 0})
        malicious = bool(labels[rel]["malicious"])
        row["errors"] += error
        key = ("tp" if flagged else "fn") if malicious else ("fp" if flagged else "tn")
        row[key] += 1

    unscannable_files: list[str] = []
    for rel, path in files.items():
        result = scan_file(path)
        tally("vallum", rel, result.verdict is not Verdict.SAFE, False)
        if result.verdict is Verdict.UNSCANNABLE:
            unscannable_files.append(f"{rel} ({result.format})")
    by_path = {str(p): rel for rel, p in files.items()}
    out = subprocess.run(
        [str(python), str(RUNNER), "detect", *map(str, files.values())],
        check=True,
        capture_output=True,
        text=True,
    )
    for line in out.stdout.splitlines():
        rec = json.loads(line)
        tally(rec["tool"], by_path[rec["file"]], rec["flagged"], rec["error"])
    mal = sum(bool(v["malicious"]) for v in labels.values())
    lines = [
        f"DEV corpus: {len(labels)} files ({mal} malicious, {len(labels) - mal} benign); "
        "Vallum counts `unsafe` and `unscannable` as flagged (both block); unscannable: "
        + (", ".join(unscannable_files) or "none")
        + ".",
        "",
        "| tool | malicious flagged | benign flagged (false positives) | errors |",
        "| --- | --- | --- | --- |",
    ]
    for tool, r in rows.items():
        lines.append(
            f"| {tool} | {r['tp']}/{r['tp'] + r['fn']} ({100 * r['tp'] / max(1, mal):.0f}%) "
            f"| {r['fp']}/{r['fp'] + r['tn']} | {r['errors']} |"
        )
    return lines


# --- throughput -------------------------------------------------------------------------


def _op_str(s: str) -> bytes:
    raw = s.encode()
    return (
        b"\x8c" + bytes([len(raw)]) + raw
        if len(raw) < 256
        else b"X" + struct.pack("<I", len(raw)) + raw
    )


def _op_int(v: int) -> bytes:
    return b"K" + bytes([v]) if 0 <= v < 256 else b"J" + struct.pack("<i", v)


def state_dict_pickle(big: int, big_bytes: int, small: int, small_bytes: int, seed: int) -> bytes:
    """A protocol 4 pickle shaped like a state dict of numpy arrays (what joblib and
    ``pickle.dump`` of a dict of arrays write): OrderedDict of _reconstruct/BUILD
    with the data as BINBYTES, plus per-entry metadata."""
    out = bytearray(b"\x80\x04")
    # like pickle.dumps: each global is imported once, memoised, then fetched with BINGET
    for module, name in (("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray")):
        out += _op_str(module) + _op_str(name) + b"\x93\x940"
    out += _op_str("numpy") + _op_str("dtype") + b"\x93\x940"
    out += _op_str("collections") + _op_str("OrderedDict") + b"\x93\x94)R\x94("
    payload_big = bytes((seed + i) % 251 for i in range(4096)) * (big_bytes // 4096)
    payload_small = bytes(range(small_bytes % 256)) + bytes(small_bytes - small_bytes % 256)
    for i in range(big + small):
        data = payload_big if i < big else payload_small
        out += _op_str(f"layers.{i}.{'weight' if i % 2 else 'bias'}")
        out += b"h\x00h\x01" + _op_int(0) + b"\x85" + b"C\x01b\x87R\x94("
        out += _op_int(1) + _op_int(len(data) // 4) + b"\x85"
        out += b"h\x02" + _op_str("f4") + b"\x89\x88\x87R\x94"
        out += b"(" + _op_int(3) + _op_str("<") + b"NNN" + _op_int(255) * 2 + _op_int(0) + b"tb"
        out += b"\x89" + b"B" + struct.pack("<I", len(data)) + data + b"tb"
    out += b"u."
    return bytes(out)


#: (big tensors, bytes each, small tensors, bytes each): every file is about 24 MiB.
SHAPES = (
    (4, 5 << 20, 3000, 1024),  # a few large layers and their small norms/biases
    (2, 8 << 20, 6000, 1024),  # fewer large layers, twice the small entries (more opcodes)
    (12, 2 << 20, 500, 256),  # many mid-sized layers (bulk-dominated)
)


def make_throughput_set(directory: Path, mib: int) -> list[Path]:
    files = []
    per_file = 24 << 20
    for n in range(max(2, (mib << 20) // per_file)):
        big, big_bytes, small, small_bytes = SHAPES[n % len(SHAPES)]
        data = state_dict_pickle(big, big_bytes, small, small_bytes, seed=n)
        path = directory / f"state_{n:02d}.pkl"
        path.write_bytes(data)
        files.append(path)
    return files


def _children_cpu() -> float:
    """CPU seconds of this process's reaped children (a closed process pool's workers)."""
    t = os.times()
    return t.children_user + t.children_system


def count_opcodes(files: list[Path]) -> int:
    return sum(sum(1 for _ in pickletools.genops(p.read_bytes())) for p in files)


def throughput(python: Path, work: Path, mib: int, repeats: int) -> list[str]:
    files = make_throughput_set(work, mib)
    total = sum(p.stat().st_size for p in files)
    ops = count_opcodes(files)
    for p in files:  # warm the page cache for every tool alike
        p.read_bytes()
    workers = os.cpu_count() or 1
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def best(name: str, seconds: float, cpu_seconds: float) -> None:
        wall[name] = min(seconds, wall.get(name, seconds))
        cpu[name] = min(cpu_seconds, cpu.get(name, cpu_seconds))

    for _ in range(repeats):  # interleaved, best of each: the machine is shared
        started, cpu_started = time.perf_counter(), time.process_time()
        results = scan_files(files, jobs=1)
        best("vallum, 1 process", time.perf_counter() - started, time.process_time() - cpu_started)
        if any(r.verdict is not Verdict.SAFE for r in results):
            raise SystemExit(f"benign throughput set not safe: {[r.findings for r in results]}")
        started, cpu_started = time.perf_counter(), time.process_time() + _children_cpu()
        results = scan_files(files, jobs=workers)  # the pool is shut down (reaped) on return
        best(
            f"vallum, {workers} processes",
            time.perf_counter() - started,
            time.process_time() + _children_cpu() - cpu_started,
        )
        if any(r.verdict is not Verdict.SAFE for r in results):
            raise SystemExit("benign throughput set not safe in the pool")
        out = subprocess.run(
            [str(python), str(RUNNER), "throughput", *map(str, files)],
            check=True,
            capture_output=True,
            text=True,
        )
        peer = json.loads(out.stdout)
        best("picklescan, 1 process", peer["seconds"], peer["cpu_seconds"])
    base_wall, base_cpu = wall["picklescan, 1 process"], cpu["picklescan, 1 process"]
    mib = total / 2**20
    lines = [
        f"Throughput set: {len(files)} state-dict-like pickles, {mib:.0f} MiB, "
        f"{ops:,} opcodes (per file, in turn: 4 tensors of 5 MiB and 3,000 of 1 KiB; "
        f"2 of 8 MiB and 6,000 of 1 KiB; 12 of 2 MiB and 500 of 256 B); "
        f"best of {repeats} interleaved runs; load average {os.getloadavg()[0]:.1f} "
        f"on {workers} cores.",
        "",
        "| scanner | wall s | MiB/s (wall) | opcodes/s (wall) | vs picklescan (wall) "
        "| CPU s | MiB/s (CPU) | opcodes/s (CPU) | vs picklescan (CPU) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    pool = f"vallum, {workers} processes"
    gib_s = total / 2**30 / wall[pool]
    cpu_gib_s = total / 2**30 / cpu["vallum, 1 process"]
    notes = [
        "",
        f"- Bytes/s on {workers} cores (wall, pool): {gib_s:.2f} GiB/s, target >= 1 GiB/s: "
        f"{'met' if gib_s >= 1 else 'not met in this run'}; one process scans "
        f"{cpu_gib_s:.2f} GiB per CPU second, the pool {total / 2**30 / cpu[pool]:.2f} "
        f"(pool CPU includes its workers' fork and exit).",
        f"- Opcodes/s vs picklescan per CPU second: {base_cpu / cpu['vallum, 1 process']:.1f}x, "
        f"target >= 2x: {'met' if base_cpu / cpu['vallum, 1 process'] >= 2 else 'not met'}.",
    ]
    for name, seconds in wall.items():
        c = cpu[name]
        cpu_cells = (
            "| - | - | - | -"
            if math.isnan(c)
            else f"| {c:.2f} | {mib / c:,.0f} | {ops / c:,.0f} | {base_cpu / c:.1f}x"
        )
        lines.append(
            f"| {name} | {seconds:.2f} | {mib / seconds:,.0f} | {ops / seconds:,.0f} "
            f"| {base_wall / seconds:.1f}x {cpu_cells} |"
        )
    return lines + notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=384, help="size of the throughput set")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    python = peers_python()
    versions = peer_versions(python)
    print(
        f"### {dt.datetime.now(dt.UTC):%Y-%m-%d}, {platform.processor() or platform.machine()} "
        f"({os.cpu_count()} cores), Python {platform.python_version()}"
    )
    print()
    print("Peers: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print()
    with tempfile.TemporaryDirectory(prefix="vallum-scan-bench-") as tmp:
        for line in detection(python, Path(tmp) / "corpus"):
            print(line)
        print()
        (Path(tmp) / "set").mkdir()
        for line in throughput(python, Path(tmp) / "set", args.mib, args.repeats):
            print(line)


if __name__ == "__main__":
    main()
