"""``vallum detect``: run one detector over a text, a file or JSON lines on stdin.

Every detector subcommand is built by :func:`detector_command`, so adding one is
one line::

    detect.add_command(detector_command("injection", "vallum.detect.injection:InjectionDetector",
                                        "Find prompt-injection and jailbreak attempts."))

The detector class is imported only when the subcommand runs (``module:Class``),
so ``vallum --help`` never loads detector data. Extra click options given in
``options`` are passed to the class as keyword arguments (by parameter name).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import click

from vallum.cli.options import Format, format_option
from vallum.detect.types import Detector, DetectorConfig, Verdict, run_detector
from vallum.errors import ExitStatus, UsageError

__all__ = [
    "detect",
    "detector_command",
    "load_detector",
    "read_input",
    "run_jsonl",
]

DetectorFactory = Callable[..., Detector]


def load_detector(target: str | DetectorFactory, config: DetectorConfig, **kwargs: Any) -> Detector:
    """Build a detector from ``module:Class`` (imported now) or a factory."""
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        factory: DetectorFactory = getattr(importlib.import_module(module_name), attr)
    else:
        factory = target
    return factory(config, **kwargs)


def read_input(text: str | None, file: Path | None) -> str:
    """The TEXT argument, else ``--file``, else all of stdin (``-`` reads stdin too)."""
    if text is not None and file is not None:
        raise UsageError("give either TEXT or --file, not both")
    if file is not None:
        if str(file) == "-":
            return sys.stdin.read()
        try:
            return file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"no such file: {file}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {file}: {type(exc).__name__}") from None
    if text is not None:
        return text if text != "-" else sys.stdin.read()
    if sys.stdin.isatty():
        raise UsageError("give a TEXT, --file PATH, or pipe text on stdin")
    return sys.stdin.read()


def _jsonl_texts(stream: TextIO) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(f"stdin line {number} is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("text"), str):
            raise UsageError(f'stdin line {number} has no string "text" field')
        yield number, doc["text"]


def run_jsonl(detector: Detector, stream: TextIO, out: TextIO) -> bool:
    """One output line per input line; returns whether any input was flagged."""
    any_flagged = False
    for _number, text in _jsonl_texts(stream):
        verdict = run_detector(detector, text)
        any_flagged |= verdict.outcome.value != "clean"
        out.write(json.dumps(verdict.to_dict(), ensure_ascii=False) + "\n")
        out.flush()
    return any_flagged


def _table(verdict: Verdict, text: str, show_text: bool) -> str:
    lines = [f"{verdict.detector}: {verdict.outcome.value} (score {verdict.score:.2f})"]
    if verdict.error:
        lines.append(f"error: {verdict.error}")
    if verdict.findings:
        lines.append(
            f"{'TYPE':<18} {'START':>6} {'END':>6} {'SCORE':>5}" + ("  TEXT" if show_text else "")
        )
    for f in verdict.findings:
        row = f"{f.type:<18} {f.start:>6} {f.end:>6} {f.score:>5.2f}"
        if show_text:
            row += "  " + text[f.start : f.end].replace("\n", " ")[:60]
        lines.append(row)
    return "\n".join(lines)


def _types(value: str | None) -> frozenset[str] | None:
    if not value:
        return None
    return frozenset(t.strip().upper() for t in value.split(",") if t.strip())


def detector_command(
    name: str,
    target: str | DetectorFactory,
    summary: str,
    *,
    options: Sequence[click.Option] = (),
) -> click.Command:
    """A ``vallum detect NAME`` subcommand for the detector ``target``.

    ``target`` is ``"package.module:Class"`` (imported when the command runs) or a
    callable taking a :class:`DetectorConfig` (and the values of ``options`` as
    keyword arguments) and returning a :class:`Detector`.
    """

    def callback(
        text: str | None,
        file: Path | None,
        jsonl: bool,
        threshold: float,
        types: str | None,
        show_text: bool,
        fmt: str,
        **extra: Any,
    ) -> int:
        if not 0.0 <= threshold <= 1.0:
            raise UsageError(f"--threshold must be within [0, 1], not {threshold}")
        config = DetectorConfig(threshold=threshold, types=_types(types))
        detector = load_detector(target, config, **extra)
        if jsonl:
            if text is not None or file is not None:
                raise UsageError("--jsonl reads stdin; do not give TEXT or --file")
            flagged = run_jsonl(detector, sys.stdin, sys.stdout)
            return int(ExitStatus.VIOLATION if flagged else ExitStatus.OK)
        body = read_input(text, file)
        verdict = run_detector(detector, body)
        if fmt == Format.JSON:
            doc = verdict.to_dict()
            if show_text:
                doc["findings"] = [
                    {**f.to_dict(), "text": body[f.start : f.end]} for f in verdict.findings
                ]
            click.echo(json.dumps(doc, ensure_ascii=False))
        else:
            click.echo(_table(verdict, body, show_text))
        if verdict.outcome.value == "error":
            return int(ExitStatus.INTERNAL)
        return int(ExitStatus.VIOLATION if verdict.flagged else ExitStatus.OK)

    params: list[click.Parameter] = [
        click.Argument(["text"], required=False),
        click.Option(
            ["--file", "-f"],
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Read the text from this file ('-' for stdin).",
        ),
        click.Option(
            ["--jsonl"],
            is_flag=True,
            help='Read {"text": ...} lines on stdin, write one JSON verdict line each.',
        ),
        click.Option(
            ["--threshold"],
            type=float,
            default=0.5,
            show_default=True,
            help="Flag when a finding scores at least this (0 to 1).",
        ),
        click.Option(
            ["--types"],
            default=None,
            help="Comma-separated finding types to report (default: all).",
        ),
        click.Option(
            ["--show-text"],
            is_flag=True,
            help="Also print each matched text (it is your own input).",
        ),
        *options,
    ]
    command = click.Command(
        name,
        callback=callback,
        params=params,
        help=(
            f"{summary}\n\nReads TEXT, --file or stdin; with --jsonl, JSON lines on stdin. "
            "Exit 0 when nothing is flagged, 1 when something is, 2 on bad input, "
            "3 when the detector fails."
        ),
        short_help=summary,
    )
    format_option()(command)
    return command


@click.group()
def detect() -> None:
    """Find PHI/PII, secrets and other risks in text."""


detect.add_command(
    detector_command(
        "phi",
        "vallum.detect.phi:PhiDetector",
        "Find PHI/PII: the 18 HIPAA identifiers, cards, IBAN, NPI, DEA.",
    )
)
detect.add_command(
    detector_command(
        "secrets",
        "vallum.detect.secrets:SecretsDetector",
        "Find secrets: cloud keys, tokens, private keys, passwords.",
    )
)


# --- prompt injection and output leaks (branch detect-injection) -----------------------------
detect.add_command(
    detector_command(
        "injection",
        "vallum.detect.injection:InjectionDetector",
        "Find prompt injection and jailbreaks, also encoded or hidden.",
    )
)


def _leak_detector(
    config: DetectorConfig,
    canaries: tuple[str, ...],
    allowed_domains: tuple[str, ...],
    caller_file: Path | None,
) -> Detector:
    from vallum.detect.leak import LeakDetector

    caller = read_input(None, caller_file) if caller_file is not None else ""
    try:
        return LeakDetector(
            config, canaries=canaries, allowed_domains=allowed_domains, caller_text=caller
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


detect.add_command(
    detector_command(
        "leak",
        _leak_detector,
        "Find leaks in model output: canaries, exfil links, PHI, secrets.",
        options=[
            click.Option(
                ["--canary", "canaries"],
                multiple=True,
                help="A canary token planted in the system prompt (repeatable).",
            ),
            click.Option(
                ["--allow-domain", "allowed_domains"],
                multiple=True,
                help="A domain responses may link or embed images from (repeatable).",
            ),
            click.Option(
                ["--caller-file", "caller_file"],
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="The caller's own input: its PHI echoed back is not a leak.",
            ),
        ],
    )
)
