"""``vallum models``: register, list, show, export, identify and BOM model versions."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from vallum.cli.options import Format, State, emit_json, format_option, pass_state
from vallum.errors import ExitStatus
from vallum.registry import (
    Dataset,
    ModelCard,
    Ref,
    RegisterRequest,
    detail,
    export,
    generate_bom,
    identify,
    list_versions,
    register,
)
from vallum.registry.depaudit import DEFAULT_TIMEOUT

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def models() -> None:
    """The model registry: encrypted, immutable, fingerprinted model versions."""


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


@models.command("register")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--version", "version", required=True, help="Version label, e.g. 3 or 2.1.0.")
@click.option("--framework", default=None, help="pytorch, onnx, ... (else from the format).")
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    metavar="NAME@V",
    help="A dataset it was trained on (repeat).",
)
@click.option("--owner", default=None, help="Team or person accountable for the model.")
@click.option("--task", default=None, help="Model card: the task, e.g. classification.")
@click.option("--architecture", default=None, help="Model card: the architecture.")
@click.option("--description", default=None, help="Model card: one-line description.")
@click.option("--use-case", "use_cases", multiple=True, help="Model card: intended use (repeat).")
@click.option(
    "--limitation", "limitations", multiple=True, help="Model card: known limitation (repeat)."
)
@click.option(
    "--signature",
    type=_FILE,
    default=None,
    help="Signature bundle (default: model.sig in the folder, or FILE.sig).",
)
@click.option("--public-key", type=_FILE, default=None, help="PEM public key of the signer.")
@click.option(
    "--certificate-chain",
    "certificate_chain",
    type=_FILE,
    multiple=True,
    help="PEM certificate chain of the signer (repeat, root last).",
)
@click.option(
    "--allow-unscannable",
    is_flag=True,
    help="Store files the scanner cannot judge (the gate still refuses them).",
)
@format_option()
@pass_state
def register_cmd(
    state: State,
    name: str,
    path: Path,
    version: str,
    framework: str | None,
    datasets: tuple[str, ...],
    owner: str | None,
    task: str | None,
    architecture: str | None,
    description: str | None,
    use_cases: tuple[str, ...],
    limitations: tuple[str, ...],
    signature: Path | None,
    public_key: Path | None,
    certificate_chain: tuple[Path, ...],
    allow_unscannable: bool,
    fmt: str,
) -> int:
    """Scan, hash, check the signature of and store PATH as NAME at --version.

    Refused (exit 1) when a file is unsafe or cannot be scanned, or when a
    signature does not verify; NAME@V already registered is exit 2. Files are
    stored encrypted; the version can never change afterwards.
    """
    ref = Ref.of(name, version)
    request = RegisterRequest(
        ref=ref,
        path=path,
        framework=framework,
        datasets=tuple(
            Dataset(r.name, r.version) for r in (Ref.parse(d, "dataset") for d in datasets)
        ),
        owner=owner,
        card=ModelCard(task, architecture, description, use_cases, limitations),
        signature=signature,
        public_key=public_key,
        certificate_chain=certificate_chain,
        allow_unscannable=allow_unscannable,
    )
    with state.context() as ctx:
        done = register(ctx, request)
        shown = detail(ctx.engine, ref)
    if fmt == Format.JSON:
        emit_json(shown.to_dict())
        return 0
    info = done.info
    signed = f"signed by key {(info.key_fingerprint or '?')[:16]}" if info.signed else "unsigned"
    click.echo(
        f"registered {ref}: {len(done.files)} file(s), {_size(info.total_size)}, {info.format}, "
        f"scan {done.verdict}, {signed}, "
        f"{len(done.fingerprints.tensors)} distinctive tensor fingerprint(s)"
    )
    click.echo(f"manifest {info.manifest_digest}")
    for note in done.fingerprints.notes:
        click.echo(f"note: {note}", err=True)
    return 0


@models.command("list")
@click.argument("name", required=False)
@format_option()
@pass_state
def list_cmd(state: State, name: str | None, fmt: str) -> int:
    """List registered versions (of NAME, or of every model)."""
    with state.context() as ctx:
        found = [detail(ctx.engine, v.ref) for v in list_versions(ctx.engine, name)]
    if fmt == Format.JSON:
        emit_json({"models": [d.to_dict() for d in found]})
        return 0
    table = Table(box=None)
    for col in ("model", "format", "framework", "size", "signed", "scan", "bom", "registered"):
        table.add_column(col, overflow="fold")
    for d in found:
        table.add_row(
            str(d.info.ref),
            d.info.format.replace(",", ", "),
            d.info.framework or "-",
            _size(d.info.total_size),
            "yes" if d.info.signed else "no",
            d.scan.verdict if d.scan else "-",
            "yes" if d.bom else "no",
            d.info.created_at[:16].replace("T", " ") + "Z",  # to the minute; `show` has it all
        )
    Console().print(table)
    return 0


@models.command("show")
@click.argument("ref", metavar="NAME@V")
@format_option()
@pass_state
def show_cmd(state: State, ref: str, fmt: str) -> int:
    """Show one version: files, digests, signature, datasets, scan and BOM."""
    with state.context() as ctx:
        d = detail(ctx.engine, Ref.parse(ref))
    if fmt == Format.JSON:
        emit_json(d.to_dict())
        return 0
    i = d.info
    rows = [
        ("model", str(i.ref)),
        ("format", f"{i.format} ({i.layout})"),
        ("framework", i.framework or "-"),
        ("size", _size(i.total_size)),
        ("manifest", i.manifest_digest),
        ("owner", i.owner or "-"),
        ("datasets", ", ".join(f"{x.name}@{x.version}" for x in i.datasets) or "-"),
        ("signed", f"yes, {i.signature_method}, key {i.key_fingerprint}" if i.signed else "no"),
        ("scan", f"{d.scan.verdict} at {d.scan.scanned_at}" if d.scan else "-"),
        ("bom", f"{d.bom.serial_number} ({d.bom.vulnerabilities})" if d.bom else "-"),
        ("tensors", str(d.tensors)),
        ("registered", f"{i.created_at} by {i.registered_by}"),
    ]
    for key, value in rows:
        click.echo(f"{key:<11} {value}")
    click.echo("files:")
    for f in d.files:
        click.echo(f"  {f.sha256}  {_size(f.size):>10}  {f.format:<14} {f.path}")
    return 0


@models.command("export")
@click.argument("ref", metavar="NAME@V")
@click.argument("dest", type=click.Path(path_type=Path))
@pass_state
def export_cmd(state: State, ref: str, dest: Path) -> int:
    """Decrypt NAME@V into the empty folder DEST and re-verify every digest.

    The signature, if any, is written beside the model (model.sig in DEST, or
    FILE.sig), so `vallum verify` works on the export.
    """
    with state.context() as ctx:
        done = export(ctx, Ref.parse(ref), dest)
    click.echo(
        f"exported {done.info.ref} to {done.model} ({done.files} file(s), "
        f"manifest {done.info.manifest_digest[:16]} verified)"
    )
    return 0


@models.command("identify")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="List at most this many related versions.",
)
@format_option()
@pass_state
def identify_cmd(state: State, path: Path, limit: int, fmt: str) -> int:
    """Say which registered version PATH is, or what share of its tensors it has.

    An exact match has the same files byte for byte; otherwise each version
    sharing distinctive tensors is listed with `shared` (the fraction of PATH's
    tensors found in it) and `covers` (the fraction of its tensors found in PATH).
    """
    with state.context() as ctx:
        found = identify(ctx, path, limit=limit)
    if fmt == Format.JSON:
        emit_json(found.to_dict())
        return 0
    exact = found.exact
    if exact is not None:
        click.echo(f"{path.name} is exactly {exact.version.ref}")
    elif not found.matches:
        click.echo(
            f"{path.name} matches no registered version "
            f"({found.tensors} distinctive tensors, {found.trivial} trivial)"
        )
    for m in found.matches:
        if m.kind == "exact":
            continue
        where = f" (as {m.file})" if m.file else ""
        click.echo(
            f"{m.version.ref}: {m.kind}{where}, shares {m.shared:.0%} of {found.tensors} "
            f"distinctive tensor(s) of {path.name}, covers {m.covers:.0%} of its own"
            + (f" ({found.trivial} constant tensor(s) not compared)" if found.trivial else "")
        )
    for note in found.notes:
        click.echo(f"note: {note}", err=True)
    return 0


@models.command("bom")
@click.argument("ref", metavar="NAME@V")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the BOM to this file instead of stdout.",
)
@click.option("--no-audit", is_flag=True, help="Do not run pip-audit (vulnerabilities unchecked).")
@click.option(
    "--audit-timeout",
    type=click.FloatRange(1, 600),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds pip-audit may take.",
)
@pass_state
def bom_cmd(
    state: State, ref: str, output: Path | None, no_audit: bool, audit_timeout: float
) -> int:
    """Write the CycloneDX 1.6 AI-BOM of NAME@V and store it with the version.

    The BOM holds the model (with hashes and model card), its training datasets
    and the Python packages of this environment, and is validated against the
    CycloneDX 1.6 schema. Known vulnerabilities come from pip-audit when it is
    installed and its database answers; otherwise they are marked unchecked.
    """
    with state.context() as ctx:
        done = generate_bom(ctx, Ref.parse(ref), audit=not no_audit, audit_timeout=audit_timeout)
    if output is None:
        click.echo(done.text)
    else:
        output.write_text(done.text + "\n", encoding="utf-8")
    rec = done.record
    vulns = (
        f"{rec.vulnerability_count} known vulnerabilities"
        if rec.vulnerability_count is not None
        else f"vulnerabilities unchecked: {rec.note}"
    )
    click.echo(f"AI-BOM {rec.serial_number}: {rec.components} components, {vulns}", err=True)
    return int(ExitStatus.OK)
