"""``vallum redact``, ``vallum tokenize``, ``vallum detokenize`` for files and stdin."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from vallum.cli.detect import load_detector, read_input
from vallum.cli.options import State, parse_duration, pass_state
from vallum.detect.types import DetectorConfig, Finding, Outcome, run_detector
from vallum.errors import ExitStatus, UsageError

__all__ = ["detokenize", "redact", "tokenize"]

F = TypeVar("F", bound=Callable[..., Any])

REDACTING = {
    "phi": "vallum.detect.phi:PhiDetector",
    "secrets": "vallum.detect.secrets:SecretsDetector",
}


def _input_options(f: F) -> F:
    f = click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write the result to this file instead of stdout.",
    )(f)
    f = click.option(
        "--file",
        "-f",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Read the text from this file ('-' for stdin).",
    )(f)
    return click.argument("text", required=False)(f)


def _detector_options(f: F) -> F:
    f = click.option(
        "--threshold",
        type=float,
        default=0.5,
        show_default=True,
        help="Replace findings scoring at least this (0 to 1).",
    )(f)
    return click.option(
        "--detector",
        "detectors",
        type=click.Choice(sorted(REDACTING)),
        multiple=True,
        help="Detector to run (repeatable; default: phi and secrets).",
    )(f)


def find_all(text: str, detectors: Sequence[str], threshold: float) -> list[Finding]:
    """Findings of every chosen detector; a failing detector fails the command."""
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold must be within [0, 1], not {threshold}")
    config = DetectorConfig(threshold=threshold)
    findings: list[Finding] = []
    for name in detectors or sorted(REDACTING):
        verdict = run_detector(load_detector(REDACTING[name], config), text)
        if verdict.outcome is Outcome.ERROR:
            raise click.ClickException(f"detector {name} failed: {verdict.error}")
        findings.extend(verdict.findings)
    return findings


def _write(result: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(result)
        if result and not result.endswith("\n"):
            sys.stdout.write("\n")
    else:
        output.write_text(result, encoding="utf-8")


def _counts(findings: Sequence[Finding]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.type] = counts.get(f.type, 0) + 1
    return dict(sorted(counts.items()))


@click.command()
@_input_options
@_detector_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="The redacted text, or JSON with the text and counts by type.",
)
def redact(
    text: str | None,
    file: Path | None,
    output: Path | None,
    detectors: tuple[str, ...],
    threshold: float,
    fmt: str,
) -> int:
    """Replace PHI and secrets with their type, irreversibly ([NAME], [SSN]...).

    Reads TEXT, --file or stdin. Needs no initialised install; nothing is
    recorded.
    """
    from vallum.detect.redaction import redact as redact_text

    body = read_input(text, file)
    findings = find_all(body, detectors, threshold)
    result = redact_text(body, findings)
    if fmt == "json":
        result = json.dumps({"text": result, "counts": _counts(findings)}, ensure_ascii=False)
    _write(result, output)
    return int(ExitStatus.OK)


@click.command()
@_input_options
@_detector_options
@click.option("--conversation", "-c", required=True, help="Conversation id the mapping belongs to.")
@click.option(
    "--surrogates",
    type=click.Choice(["token", "fake"]),
    default="token",
    show_default=True,
    help="Typed tokens like [NAME_1], or realistic format-preserving fakes.",
)
@click.option(
    "--ttl",
    default="24h",
    show_default=True,
    help="Keep the mapping this long after its last use (e.g. 30m, 24h, 7d).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="The tokenized text, or JSON with the text and counts by type.",
)
@pass_state
def tokenize(
    state: State,
    text: str | None,
    file: Path | None,
    output: Path | None,
    detectors: tuple[str, ...],
    threshold: float,
    conversation: str,
    surrogates: str,
    ttl: str,
    fmt: str,
) -> int:
    """Replace PHI and secrets with consistent surrogates kept in the encrypted vault.

    The mapping is encrypted under the conversation's own data key and expires
    after --ttl; `vallum detokenize` restores the values. Needs an initialised
    install (`vallum init`); records detect.phi_tokenized (counts only).
    """
    from vallum.detect.tokenize import Vault

    lifetime = parse_duration(ttl)
    body = read_input(text, file)
    findings = find_all(body, detectors, threshold)
    with state.context() as ctx:
        vault = Vault(ctx, ttl=lifetime, surrogates="fake" if surrogates == "fake" else "token")
        result = vault.tokenize(conversation, body, findings)
    if fmt == "json":
        result = json.dumps({"text": result, "counts": _counts(findings)}, ensure_ascii=False)
    _write(result, output)
    return int(ExitStatus.OK)


@click.command()
@_input_options
@click.option("--conversation", "-c", required=True, help="Conversation id used to tokenize.")
@click.option("--shred", is_flag=True, help="Destroy the mapping afterwards (or alone: no text).")
@pass_state
def detokenize(
    state: State,
    text: str | None,
    file: Path | None,
    output: Path | None,
    conversation: str,
    shred: bool,
) -> int:
    """Restore the values behind a conversation's surrogates.

    Reads TEXT, --file or stdin. Exit 2 when the conversation has no mapping
    (never tokenized, expired or shredded). With --shred and no text, only
    destroys the mapping (keys.shredded in the ledger).
    """
    from vallum.detect.tokenize import Vault

    shred_only = shred and text is None and file is None and sys.stdin.isatty()
    body = None if shred_only else read_input(text, file)
    with state.context() as ctx:
        vault = Vault(ctx)
        result = None if body is None else vault.detokenize(conversation, body)
        if shred:
            vault.shred(conversation)
    if result is not None:
        _write(result, output)
    elif shred_only:
        click.echo("vallum: mapping shredded", err=True)
    return int(ExitStatus.OK)
