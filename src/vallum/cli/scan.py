"""``vallum scan``: statically scan model files before anyone loads them."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vallum.cli.options import State, pass_state
from vallum.errors import ExitStatus, NotInitializedError, UsageError
from vallum.scan import FileResult, Verdict, record_scan, scan_path
from vallum.scan.service import summary


@click.command()
@click.argument(
    "paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output as text for people or JSON for programs.",
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
@pass_state
def scan(
    state: State, paths: tuple[Path, ...], fmt: str, output: Path | None, allow_unscannable: bool
) -> int:
    """Scan model files statically (never loading them) for code execution.

    Directories are walked recursively. Exit 0 when every file is safe, 1 when any
    file is unsafe or cannot be scanned, 2 when a path does not exist. Each file
    is recorded in the ledger when Vallum is initialised.
    """
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or directory: {missing[0]}")
    results = [r for p in paths for r in scan_path(p)]
    text = _render(results, fmt)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
    _record(state, results)
    accepted = {Verdict.SAFE, Verdict.UNSCANNABLE} if allow_unscannable else {Verdict.SAFE}
    ok = all(r.verdict in accepted for r in results)
    return int(ExitStatus.OK if ok else ExitStatus.VIOLATION)


def _render(results: list[FileResult], fmt: str) -> str:
    counts = summary(results)
    if fmt == "json":
        doc = {"results": [r.to_dict() for r in results], "summary": counts}
        return json.dumps(doc, indent=2, ensure_ascii=False)
    lines = []
    for r in results:
        lines.append(f"{r.verdict.upper():<12} {r.format:<15} {r.path}")
        lines.extend(f"    [{f.severity}] {f.rule}: {f.message} ({f.location})" for f in r.findings)
    lines.append(
        f"{counts['files']} files: {counts['safe']} safe, {counts['unsafe']} unsafe, "
        f"{counts['unscannable']} unscannable"
    )
    return "\n".join(lines)


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
