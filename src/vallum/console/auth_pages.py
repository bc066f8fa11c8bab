"""Console sign-in: login, MFA verification and enrolment, password change, logout.

These routes are public by name (``PUBLIC_ROUTES``): they are how a person
becomes a caller. The login form uses a double-submit cookie against login
CSRF; every form after it carries the session's CSRF token. Cookies are
HttpOnly, Secure and SameSite=Strict.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vallum.api.auth import CSRF_FIELD, SESSION_COOKIE, Caller, directory_of
from vallum.console.render import render, secure_headers
from vallum.errors import AuthError, UsageError
from vallum.identity import login

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "vallum_login_csrf"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if _CONTROL.search(target):
        return "/"  # never in a real path (and a browser drops tabs: "/\t/x" reads "//x")
    return target


def _cookie(resp: Response, name: str, value: str, max_age: int | None = None) -> None:
    resp.set_cookie(
        name, value, max_age=max_age, httponly=True, secure=True, samesite="strict", path="/"
    )


def _drop_cookie(resp: Response, name: str) -> None:
    """Delete a cookie with the flags it was set with (Starlette's default has none)."""
    resp.delete_cookie(name, path="/", httponly=True, secure=True, samesite="strict")


def _session(request: Request) -> tuple[login.SessionState, str] | None:
    token = request.cookies.get(SESSION_COOKIE)
    state = login.resume(directory_of(request), token)
    if state is None or token is None:
        return None
    return state, token


def _caller(state: login.SessionState, token: str) -> Caller:
    return Caller(
        actor=state.account.actor,
        account=state.account,
        permissions=frozenset(),
        session=state,
        csrf=login.csrf_for(token),
    )


def _redirect(location: str) -> RedirectResponse:
    resp = RedirectResponse(location, status_code=303)
    secure_headers(resp)  # type: ignore[arg-type]
    return resp


def _next_step(request: Request, state: login.SessionState | None, target: str) -> str:
    """Where a signed-in person goes next: MFA first, then the password, then ``target``."""
    if state is None:
        return "/login"
    due = login.mfa_due(directory_of(request), state)
    if due == "verify":
        return "/login/mfa"
    if state.account.must_change_password:
        return "/account/password"
    if due == "enrol":
        return "/account/mfa"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", login_csrf=token, next=_safe_next(next), error=None)
    _cookie(resp, LOGIN_CSRF_COOKIE, token, max_age=900)
    return resp


@router.post("/login", response_class=HTMLResponse)
async def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    login_csrf: Annotated[str, Form(max_length=128)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    target = _safe_next(next)
    # As bytes: compare_digest raises TypeError (a 500) on non-ASCII text.
    if not cookie or not hmac.compare_digest(cookie.encode(), login_csrf.encode()):
        fresh = secrets.token_urlsafe(24)  # so the form shown again can be sent
        again = render(
            request,
            "login.html",
            login_csrf=fresh,
            next=target,
            error="The form expired; please sign in again.",
            status_code=400,
        )
        _cookie(again, LOGIN_CSRF_COOKIE, fresh, max_age=900)
        return again
    d = directory_of(request)
    # No username holds a control character. Such a name is still a failed attempt
    # (and recorded), but without them: PostgreSQL refuses NUL in text (a 500), and
    # the ledger's subject must not carry terminal escapes to whoever reads it.
    username = _CONTROL.sub("\ufffd", username)
    try:
        session = await run_in_threadpool(login.login, d, username, password)
    except AuthError as exc:
        return render(
            request, "login.html", login_csrf=cookie, next=target, error=exc.detail, status_code=401
        )
    resp = _redirect(_next_step(request, session.state, target))
    _cookie(resp, SESSION_COOKIE, session.token)
    _drop_cookie(resp, LOGIN_CSRF_COOKIE)
    return resp


@router.get("/login/mfa", response_class=HTMLResponse)
def mfa_form(request: Request) -> Response:
    found = _session(request)
    if found is None:
        return _redirect("/login")
    state, token = found
    return render(request, "mfa_verify.html", _caller(state, token), error=None)


@router.post("/login/mfa", response_class=HTMLResponse)
async def mfa_submit(
    request: Request,
    code: Annotated[str, Form(max_length=64)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)],
) -> Response:
    found = _session(request)
    if found is None:
        return _redirect("/login")
    state, token = found
    if not state.csrf_ok(csrf_token):
        return _redirect("/login/mfa")
    try:
        await run_in_threadpool(login.verify_mfa, directory_of(request), state, code)
    except AuthError as exc:
        return render(
            request, "mfa_verify.html", _caller(state, token), error=exc.detail, status_code=401
        )
    refreshed = login.resume(directory_of(request), token)
    return _redirect(_next_step(request, refreshed, "/"))


@router.get("/account/mfa", response_class=HTMLResponse)
async def mfa_enrol_form(request: Request) -> Response:
    found = _session(request)
    if found is None:
        return _redirect("/login")
    state, token = found
    if state.account.mfa_enabled:
        # Enrolment is for accounts without a factor: starting one disables the
        # current factor, and finishing one verifies the session without counting
        # failures. Either would let a password alone get past MFA.
        return _redirect(_next_step(request, state, "/"))
    try:
        enrolment = await run_in_threadpool(login.start_mfa_enrolment, directory_of(request), state)
    except AuthError:
        return _redirect("/login/mfa")
    qr = segno.make(enrolment.uri, error="m").svg_data_uri(scale=5, border=2)
    return render(
        request, "mfa_enrol.html", _caller(state, token), qr=qr, secret=enrolment.secret, error=None
    )


@router.post("/account/mfa", response_class=HTMLResponse)
async def mfa_enrol_submit(
    request: Request,
    code: Annotated[str, Form(max_length=64)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)],
) -> Response:
    found = _session(request)
    if found is None:
        return _redirect("/login")
    state, token = found
    if state.account.mfa_enabled:
        return _redirect(_next_step(request, state, "/"))
    if not state.csrf_ok(csrf_token):
        return _redirect("/account/mfa")
    try:
        codes = await run_in_threadpool(
            login.finish_mfa_enrolment, directory_of(request), state, code
        )
    except AuthError as exc:
        return render(
            request,
            "mfa_enrol.html",
            _caller(state, token),
            qr=None,
            secret=None,
            error=f"{exc.detail} Start again with a new code.",
            status_code=401,
        )
    refreshed = login.resume(directory_of(request), token)
    nxt = _next_step(request, refreshed, "/")
    return render(request, "recovery_codes.html", _caller(state, token), codes=codes, next=nxt)


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request) -> Response:
    found = _session(request)
    if found is None:
        return _redirect("/login")
    state, token = found
    if login.mfa_due(directory_of(request), state) == "verify":
        return _redirect("/login/mfa")  # a password alone must not change the password
    return render(request, "password.html", _caller(state, token), error=None)


@router.post("/account/password", response_class=HTMLResponse)
async def password_submit(
    request: Request,
    current: Annotated[str, Form(max_length=1024)],
    new: Annotated[str, Form(max_length=1024)],
    confirm: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)],
) -> Response:
    found = _session(request)
    if found is None:
        return _redirect("/login")
    state, token = found
    if login.mfa_due(directory_of(request), state) == "verify":
        return _redirect("/login/mfa")
    if not state.csrf_ok(csrf_token):
        return _redirect("/account/password")
    if new != confirm:
        return render(
            request,
            "password.html",
            _caller(state, token),
            error="The two new passwords differ.",
            status_code=400,
        )
    try:
        await run_in_threadpool(login.change_password, directory_of(request), state, current, new)
    except (AuthError, UsageError) as exc:
        return render(
            request, "password.html", _caller(state, token), error=exc.detail, status_code=400
        )
    refreshed = login.resume(directory_of(request), token)
    return _redirect(_next_step(request, refreshed, "/"))


@router.post("/logout")
async def logout(
    request: Request, csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]
) -> Response:
    found = _session(request)
    if found is not None and not found[0].csrf_ok(csrf_token):
        # A cross-site "logout" must neither end the session nor drop its cookie
        # (dropping it alone would leave the session open on the server).
        return _redirect("/")
    if found is not None:
        await run_in_threadpool(login.logout, directory_of(request), found[0])
    resp = _redirect("/login")
    _drop_cookie(resp, SESSION_COOKIE)
    return resp
