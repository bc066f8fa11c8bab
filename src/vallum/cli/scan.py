"""``vallum scan``: statically scan model files before anyone loads them."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vallum import __version__
from vallum.cli.options import State, pass_state
from vallum.errors import ExitStatus, NotInitializedError, UsageError
from vallum.scan import FileResult, Verdict, record_scan
from vallum.scan.sarif import scan_root, to_sarif
from vallum.scan.service import iter_files, scan_file, summary

if TYPE_CHECKING:
    from rich.progress import Progress

#: A scan is "large" (progress bar, process pool) from this many files or bytes.
LARGE_FILES = 32
LARGE_BYTES = 256 << 20


@click.command()
@click.argument(
    "paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="Text for people, JSON for programs, SARIF 2.1.0 for code scanning.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to this file instead of stdout.",
)
@click.option(
    "--allow-unscannable",
    is_flag=True,
    help="Exit 0 even when some files cannot be scanned (unknown or unsupported format).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Worker processes; 0 uses every core when the scan is large.",
)
@pass_state
def scan(
    state: State,
    paths: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    allow_unscannable: bool,
    jobs: int,
) -> int:
    """Scan model files statically (never loading them) for code execution.

    Directories are walked recursively. Exit 0 when every file is safe, 1 when any
    file is unsafe or cannot be scanned, 2 on a usage error (such as a path that
    does not exist). Each file is recorded in the ledger when Vallum is initialised.
    """
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or directory: {missing[0]}")
    files = list(iter_files(paths))
    results = scan_files(files, jobs=jobs)
    accepted = {Verdict.SAFE, Verdict.UNSCANNABLE} if allow_unscannable else {Verdict.SAFE}
    ok = all(r.verdict in accepted for r in results)
    code = int(ExitStatus.OK if ok else ExitStatus.VIOLATION)
    text = _render(results, fmt, paths, code)
    if output is None:
        click.echo(text)
    else:
        try:
            output.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    _record(state, results)
    return code


def scan_files(files: list[Path], *, jobs: int = 0) -> list[FileResult]:
    """Scan in order; in a process pool when the scan is large or ``jobs`` > 1."""
    sizes = [_size(f) for f in files]
    large = len(files) >= LARGE_FILES or sum(sizes) >= LARGE_BYTES
    workers = jobs or ((os.cpu_count() or 1) if large else 1)
    workers = min(workers, len(files)) or 1
    with _progress(len(files), large) as advance:
        if workers == 1:
            out = []
            for f in files:
                out.append(scan_file(f))
                advance()
            return out
        ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            out = []
            for result in pool.map(scan_file, files, chunksize=max(1, len(files) // (workers * 8))):
                out.append(result)
                advance()
            return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class _progress:
    """A rich progress bar on stderr for large scans on a terminal; otherwise nothing."""

    def __init__(self, total: int, large: bool) -> None:
        self.bar: Progress | None = None
        if large and sys.stderr.isatty():
            from rich.console import Console  # only for a bar on a terminal: start-up time
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("scanning"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.task = self.bar.add_task("scan", total=total)

    def __enter__(self) -> Callable[[], None]:
        if self.bar is None:
            return lambda: None
        self.bar.start()
        bar, task = self.bar, self.task
        return lambda: bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _render(results: list[FileResult], fmt: str, paths: tuple[Path, ...], code: int) -> str:
    counts = summary(results)
    if fmt == "json":
        doc = {"results": [r.to_dict() for r in results], "summary": counts}
        return json.dumps(doc, indent=2, ensure_ascii=False)
    if fmt == "sarif":
        sarif = to_sarif(results, root=scan_root(paths), exit_code=code, version=__version__)
        return json.dumps(sarif, indent=2, ensure_ascii=False)
    return "\n".join(_text_lines(results, counts))


def _text_lines(results: list[FileResult], counts: dict[str, int]) -> Iterator[str]:
    for r in results:
        yield f"{r.verdict.upper():<12} {r.format:<15} {r.path}"
        for f in r.findings:
            yield f"    [{f.severity}] {f.rule}: {f.message} ({f.location})"
    yield (
        f"{counts['files']} file{'' if counts['files'] == 1 else 's'}: "
        f"{counts['safe']} safe, {counts['unsafe']} unsafe, "
        f"{counts['unscannable']} unscannable"
    )


def _record(state: State, results: list[FileResult]) -> None:
    try:
        ctx = state.context()
    except NotInitializedError:
        click.echo("vallum: Vallum is not initialised; the scan was not recorded", err=True)
        return
    try:
        record_scan(ctx, results)
    finally:
        ctx.close()
