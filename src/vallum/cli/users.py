"""``vallum users`` and ``vallum roles``: principals, grants and custom roles."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from vallum.cli.options import Format, State, emit_json, format_option, pass_state
from vallum.identity import accounts
from vallum.identity.permissions import BUILTIN_ROLES, Permission


@click.group()
def users() -> None:
    """People and service accounts, and the roles they hold."""


@users.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, help="A role to grant (repeat).")
@click.option("--service", is_flag=True, help="A service account: no password, API keys only.")
@format_option()
@pass_state
def create(state: State, username: str, roles: tuple[str, ...], service: bool, fmt: str) -> int:
    """Create a user (prints a one-time password) or a service account."""
    with state.context() as ctx:
        if service:
            account = accounts.create_service_account(
                ctx.directory, ctx.principal.actor, username, list(roles)
            )
            password = None
        else:
            new = accounts.create_user(ctx.directory, ctx.principal.actor, username, list(roles))
            account, password = new.account, new.one_time_password
    if fmt == Format.JSON:
        emit_json({**account.to_dict(), "one_time_password": password})
    else:
        click.echo(f"created {account.actor} with roles {', '.join(account.roles) or '(none)'}")
        if password is not None:
            click.echo("One-time password (shown once; changed at first login):", err=True)
            click.echo(password)
    return 0


@users.command("list")
@format_option()
@pass_state
def list_users(state: State, fmt: str) -> int:
    """Every principal with its live roles."""
    with state.context() as ctx:
        found = accounts.list_accounts(ctx.directory)
    if fmt == Format.JSON:
        emit_json({"users": [a.to_dict() for a in found]})
        return 0
    table = Table(box=None)
    for col in ("username", "kind", "roles", "mfa", "disabled"):
        table.add_column(col, overflow="fold")
    for a in found:
        table.add_row(
            a.username,
            a.kind,
            ", ".join(a.roles) or "-",
            "on" if a.mfa_enabled else "off",
            "yes" if a.disabled else "no",
        )
    Console().print(table)
    return 0


@users.command("grants")
@click.option("--all", "show_all", is_flag=True, help="Include revoked and expired grants.")
@format_option()
@pass_state
def grants(state: State, show_all: bool, fmt: str) -> int:
    """Every role grant: standing, just-in-time and break-glass."""
    with state.context() as ctx:
        found = accounts.list_grants(ctx.directory, include_inactive=show_all)
    if fmt == Format.JSON:
        emit_json({"grants": found})
        return 0
    table = Table(box=None)
    for col in ("id", "principal", "role", "kind", "expires", "active"):
        table.add_column(col, overflow="fold")
    for g in found:
        table.add_row(
            str(g["id"]),
            g["principal"],
            g["role"],
            g["kind"],
            g["expires_at"] or "-",
            "yes" if g["active"] else "no",
        )
    Console().print(table)
    return 0


@users.command("grant")
@click.argument("username")
@click.argument("role")
@pass_state
def grant(state: State, username: str, role: str) -> int:
    """Give USERNAME the ROLE (a standing grant, reviewed in access reviews)."""
    with state.context() as ctx:
        grant_id = accounts.grant_role(ctx.directory, ctx.principal.actor, username, role)
    click.echo(f"granted {role} to {username} (grant {grant_id})")
    return 0


@users.command("revoke")
@click.argument("grant_id", type=int)
@click.option("--reason", required=True, help="Why (recorded in the ledger).")
@pass_state
def revoke(state: State, grant_id: int, reason: str) -> int:
    """End grant GRANT_ID at once."""
    with state.context() as ctx:
        accounts.revoke_grant(ctx.directory, ctx.principal.actor, grant_id, reason)
    click.echo(f"grant {grant_id} revoked")
    return 0


@users.command("disable")
@click.argument("username")
@pass_state
def disable(state: State, username: str) -> int:
    """Disable USERNAME: sessions end, keys stop working."""
    with state.context() as ctx:
        accounts.set_disabled(ctx.directory, ctx.principal.actor, username, True)
    click.echo(f"{username} disabled")
    return 0


@users.command("enable")
@click.argument("username")
@pass_state
def enable(state: State, username: str) -> int:
    """Enable USERNAME again."""
    with state.context() as ctx:
        accounts.set_disabled(ctx.directory, ctx.principal.actor, username, False)
    click.echo(f"{username} enabled")
    return 0


@click.group()
def roles() -> None:
    """Roles: named sets of permissions (five built in, custom ones allowed)."""


@roles.command("list")
@format_option()
@pass_state
def list_roles(state: State, fmt: str) -> int:
    """Every role and its permissions."""
    with state.context() as ctx:
        found = accounts.list_roles(ctx.directory)
    if fmt == Format.JSON:
        emit_json({"roles": found})
        return 0
    table = Table(box=None)
    for col in ("role", "built-in", "permissions"):
        table.add_column(col, overflow="fold")
    for r in found:
        table.add_row(r["name"], "yes" if r["builtin"] else "no", " ".join(r["permissions"]))
    Console().print(table)
    return 0


@roles.command("create")
@click.argument("name")
@click.option("--permission", "permissions", multiple=True, required=True, help="Repeat for each.")
@click.option("--description", default="", help="What the role is for.")
@pass_state
def create_role(state: State, name: str, permissions: tuple[str, ...], description: str) -> int:
    """Define a custom role from named permissions."""
    with state.context() as ctx:
        accounts.create_role(
            ctx.directory, ctx.principal.actor, name, list(permissions), description
        )
    click.echo(f"role {name} created")
    return 0


@roles.command("permissions")
@format_option()
def permissions(fmt: str) -> int:
    """Every permission name, and which built-in roles hold it."""
    rows = [
        {"permission": str(p), "roles": [r for r, ps in BUILTIN_ROLES.items() if p in ps]}
        for p in Permission
    ]
    if fmt == Format.JSON:
        emit_json({"permissions": rows})
        return 0
    for row in rows:
        click.echo(f"{row['permission']:<22} {', '.join(row['roles'])}")
    return 0
