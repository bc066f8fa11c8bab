"""``vallum vendors``: the register of model vendors the gateway may call."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from vallum.cli.options import Format, State, emit_json, format_option, pass_state
from vallum.errors import UsageError
from vallum.gateway import config
from vallum.gateway.policy import Status, VendorKind


@click.group()
def vendors() -> None:
    """Model vendors: kind, URL, credential, BAA, regions, data classes, status."""


@vendors.command("add")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in VendorKind if k is not VendorKind.DEMO]),
    required=True,
    help="API the vendor speaks.",
)
@click.option("--base-url", required=True, help="e.g. https://api.openai.com/v1")
@click.option(
    "--baa", type=click.Choice(["yes", "no"]), required=True, help="Is a BAA signed (PHI)?"
)
@click.option("--region", "regions", multiple=True, required=True, help="Region (repeat).")
@click.option(
    "--data-class",
    "data_classes",
    multiple=True,
    help="Data it may receive raw: public, pii, phi, secrets (repeat).",
)
@click.option("--credential-env", default=None, help="Environment variable holding the API key.")
@click.option(
    "--credential-stdin", is_flag=True, help="Read the API key from stdin; stored encrypted."
)
@click.option("--api-version", default=None, help="Azure OpenAI api-version.")
@format_option()
@pass_state
def add(
    state: State,
    name: str,
    kind: str,
    base_url: str,
    baa: str,
    regions: tuple[str, ...],
    data_classes: tuple[str, ...],
    credential_env: str | None,
    credential_stdin: bool,
    api_version: str | None,
    fmt: str,
) -> int:
    """Register or update a vendor (approved). Its credential is never printed."""
    credential = None
    if credential_stdin:
        credential = sys.stdin.readline().strip()
        if not credential:
            raise UsageError("--credential-stdin read an empty line")
    spec = config.VendorSpec(
        name=name,
        kind=VendorKind(kind),
        base_url=base_url,
        baa=baa == "yes",
        regions=regions,
        data_classes=data_classes,
        credential=credential,
        credential_env=credential_env,
        api_version=api_version,
    )
    with state.context() as ctx:
        vendor = config.add_vendor(ctx, spec)
    if fmt == Format.JSON:
        emit_json(vendor.to_dict())
    else:
        click.echo(f"vendor {vendor.name} registered ({vendor.kind}, BAA {baa}, approved)")
    return 0


@vendors.command("list")
@format_option()
@pass_state
def list_(state: State, fmt: str) -> int:
    """List vendors (credentials shown only as where they come from)."""
    with state.context() as ctx:
        found = config.list_vendors(ctx)
    if fmt == Format.JSON:
        emit_json({"vendors": [v.to_dict() for v in found]})
        return 0
    table = Table(box=None)
    for col in ("name", "kind", "base url", "BAA", "regions", "data classes", "status"):
        table.add_column(col, overflow="fold")
    for v in found:
        table.add_row(
            v.name,
            v.kind.value,
            v.base_url,
            "yes" if v.baa else "no",
            " ".join(v.regions),
            " ".join(sorted(v.data_classes)),
            v.status.value,
        )
    Console().print(table)
    return 0


@vendors.command("suspend")
@click.argument("name")
@click.option("--reason", required=True, help="Why (recorded in the ledger).")
@click.option("--resume", is_flag=True, help="Approve the vendor again instead.")
@format_option()
@pass_state
def suspend(state: State, name: str, reason: str, resume: bool, fmt: str) -> int:
    """Suspend a vendor: every gateway worker refuses it within a second."""
    status = Status.APPROVED if resume else Status.SUSPENDED
    with state.context() as ctx:
        vendor = config.set_vendor_status(ctx, name, status, reason)
    if fmt == Format.JSON:
        emit_json(vendor.to_dict())
    else:
        click.echo(f"vendor {vendor.name} is {vendor.status.value}")
    return 0
