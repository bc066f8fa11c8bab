"""Authentication and authorization for every route, as FastAPI dependencies.

Every route declares the one permission it needs with ``requires(P)`` (API) or
``page(P)`` (console); a test walks the app's routes and fails on any route
without one (health, login and static assets are public by name, in
``PUBLIC_ROUTES``). A caller is either an API key (``Authorization: Bearer
vk_...``) or a console session (cookie). Every decision, granted or refused, is
a ledger event (``auth.authorized``), and refusals never say more than needed.

Unsafe methods on a session need the CSRF token (form field ``csrf_token`` or
header ``X-CSRF-Token``); API keys are not ambient credentials and need none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from vallum.errors import AuthError, PolicyViolation
from vallum.identity import apikeys, login
from vallum.identity.directory import Account, Directory
from vallum.identity.permissions import Permission

SESSION_COOKIE = "vallum_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Routes anyone may call (by path). Everything else declares a permission.
PUBLIC_ROUTES = frozenset(
    {
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/login",
        "/login/mfa",
        "/logout",
        "/account/password",
        "/account/mfa",
        "/static",
    }
)
PERMISSION_ATTR = "vallum_permission"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling and what they may do right now."""

    actor: str
    account: Account
    permissions: frozenset[Permission]
    session: login.SessionState | None = None
    csrf: str | None = None  # the raw CSRF token, for rendering forms

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


class LoginRequired(Exception):
    """A console page needs a signed-in (and MFA-verified) session: redirect."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def directory_of(request: Request) -> Directory:
    d: Directory = request.app.state.vallum.ctx.directory
    return d


def _session_caller(d: Directory, request: Request) -> Caller | None:
    token = request.cookies.get(SESSION_COOKIE)
    state = login.resume(d, token)
    if state is None or token is None:
        return None
    return Caller(
        actor=state.account.actor,
        account=state.account,
        permissions=state.account.permissions,
        session=state,
        csrf=login.csrf_for(token),
    )


def _authenticate(d: Directory, request: Request, *, console: bool) -> Caller:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and not console:
        key = apikeys.authenticate(
            d, header[7:].strip(), where=f"{request.method} {_route(request)}"
        )
        return Caller(actor=key.actor, account=key.owner, permissions=key.permissions)
    caller = _session_caller(d, request)
    if caller is None:
        _refused(d, request, "anonymous", "no credentials")
        if console:
            raise LoginRequired(f"/login?next={quote(request.url.path, safe='/')}")
        raise AuthError("authentication required: an API key or a console session")
    state = caller.session
    assert state is not None  # noqa: S101 - a session caller has a session
    # The order of the sign-in pages: prove who you are, then replace the
    # one-time password, then enrol MFA (auth_pages._next_step).
    due = login.mfa_due(d, state)
    if due == "verify":
        _refused(d, request, caller.actor, "mfa due")
        if console:
            raise LoginRequired("/login/mfa")
        raise AuthError("this session has not completed MFA")
    if state.account.must_change_password:
        _refused(d, request, caller.actor, "password change due")
        if console:
            raise LoginRequired("/account/password")
        raise AuthError("the one-time password must be changed first")
    if due == "enrol":
        _refused(d, request, caller.actor, "mfa enrolment due")
        if console:
            raise LoginRequired("/account/mfa")
        raise AuthError("this session has not completed MFA")
    return caller


def _refused(d: Directory, request: Request, actor: str, reason: str) -> None:
    """Record a request refused before any permission could be checked."""
    d.record(
        actor,
        "auth.authorized",
        f"{request.method} {_route(request)}",
        outcome="denied",
        data={"reason": reason},
    )


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


def _decide(d: Directory, request: Request, permission: Permission, console: bool) -> Caller:
    caller = _authenticate(d, request, console=console)
    route = f"{request.method} {_route(request)}"
    if permission not in caller.permissions:
        d.record(
            caller.actor,
            "auth.authorized",
            route,
            outcome="denied",
            data={"permission": str(permission)},
        )
        raise PolicyViolation(f"you do not have the {permission} permission")
    if caller.session is not None and request.method not in SAFE_METHODS:
        presented = request.headers.get(CSRF_HEADER)
        if presented is None:
            form = getattr(request.state, "form", None)
            presented = form.get(CSRF_FIELD) if form is not None else None
        if not caller.session.csrf_ok(presented if isinstance(presented, str) else None):
            d.record(
                caller.actor, "auth.authorized", route, outcome="denied", data={"reason": "csrf"}
            )
            raise PolicyViolation("the form expired or came from another site; reload and retry")
    d.record(caller.actor, "auth.authorized", route, data={"permission": str(permission)})
    return caller


def _dependency(permission: Permission, *, console: bool) -> Callable[..., Any]:
    async def dependency(request: Request) -> Caller:
        if request.method not in SAFE_METHODS and "form" in request.headers.get("content-type", ""):
            request.state.form = await request.form()
        d = directory_of(request)
        return await run_in_threadpool(_decide, d, request, permission, console)

    setattr(dependency, PERMISSION_ATTR, permission)
    return dependency


def requires(permission: Permission) -> Callable[..., Any]:
    """API dependency: 401 without credentials, 403 without ``permission``."""
    return _dependency(permission, console=False)


def page(permission: Permission) -> Callable[..., Any]:
    """Console dependency: redirect to login when signed out, 403 without ``permission``."""
    return _dependency(permission, console=True)


def declared_permission(endpoint_dependencies: list[Any]) -> Permission | None:
    """The permission a route declared (for the route-coverage test)."""
    for dep in endpoint_dependencies:
        perm = getattr(dep.call, PERMISSION_ATTR, None)
        if perm is not None:
            return perm  # type: ignore[no-any-return]
    return None
