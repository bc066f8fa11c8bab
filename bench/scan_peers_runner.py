"""Runs inside ``bench/.venv-peers``: scans files with picklescan, modelscan and fickling.

    python scan_peers_runner.py detect FILE...      # one JSON line per tool and file
    python scan_peers_runner.py throughput FILE...  # picklescan seconds over all files

Never imported by Vallum; the peers are never Vallum dependencies.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path


def _picklescan(path: str) -> tuple[bool, bool]:
    from picklescan.scanner import scan_file_path

    result = scan_file_path(path)
    return result.issues_count > 0 or result.infected_files > 0, bool(result.scan_err)


def _modelscan(path: str) -> tuple[bool, bool]:
    from modelscan.modelscan import ModelScan

    report = ModelScan().scan(path)
    issues = report.get("summary", {}).get("total_issues", 0)
    return issues > 0, bool(report.get("errors"))


def _fickling(path: str) -> tuple[bool, bool]:
    import fickling
    from fickling.analysis import Severity

    result = fickling.scan_file(path, graceful=True)
    return result.severity != Severity.LIKELY_SAFE, bool(result.errors)


TOOLS: dict[str, Callable[[str], tuple[bool, bool]]] = {
    "picklescan": _picklescan,
    "modelscan": _modelscan,
    "fickling": _fickling,
}


def detect(files: list[str]) -> None:
    for name, fn in TOOLS.items():
        for path in files:
            try:
                flagged, error = fn(path)
            except Exception as exc:  # noqa: BLE001 - a peer crashing is a result too
                flagged, error = False, True
                logging.debug("%s failed on %s: %s", name, path, exc)
            print(json.dumps({"tool": name, "file": path, "flagged": flagged, "error": error}))


def throughput(files: list[str]) -> None:
    from picklescan.scanner import scan_file_path

    started, cpu_started = time.perf_counter(), time.process_time()
    errors = 0
    for path in files:
        errors += bool(scan_file_path(path).scan_err)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    print(json.dumps({"tool": "picklescan", "seconds": seconds, "cpu_seconds": cpu_seconds}))


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    mode, paths = sys.argv[1], [str(Path(p)) for p in sys.argv[2:]]
    {"detect": detect, "throughput": throughput}[mode](paths)
