"""Console page for just-in-time access and break-glass: /access (SEC-POL-012 3.3.2).

Holders of ``access.request`` see their own requests and ask for a role for a
bounded time, with a reason; they may withdraw a pending one. Holders of
``access.approve`` also see everyone else's pending requests (Approve / Deny)
and the break-glass grants nobody has reviewed yet. Holders of
``access.break_glass`` get the emergency form: a grant without approval, which
raises an alert and must be reviewed by someone else afterwards. The rules (four
eyes, durations, who may approve what) are ``identity.jit``'s; this page only
shows them and passes the caller's username.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from vallum.api.auth import Caller, directory_of, page
from vallum.clock import now_text
from vallum.console.admin_pages import (
    CHANNEL,
    DbId,
    NoticeQuery,
    SubjectQuery,
    Text,
    failure_status,
    form_int,
    notice_text,
    required,
    see_other,
)
from vallum.console.render import render
from vallum.errors import NotFoundError, PolicyViolation, UsageError, VallumError
from vallum.identity import accounts, jit
from vallum.identity.permissions import Permission as P

router = APIRouter(include_in_schema=False)
Requester = Annotated[Caller, Depends(page(P.ACCESS_REQUEST))]
Approver = Annotated[Caller, Depends(page(P.ACCESS_APPROVE))]
BreakGlass = Annotated[Caller, Depends(page(P.ACCESS_BREAK_GLASS))]

#: Durations the forms offer, in minutes (each form keeps those within its limit).
DURATIONS = (15, 30, 60, 120, 240, 480)
MAX_MINUTES = 7 * 24 * 60  # a sanity bound on input; jit enforces the real limits
WITHDRAWN = "withdrawn by the requester in the console"


def _durations(limit: dt.timedelta) -> list[tuple[int, str]]:
    def label(m: int) -> str:
        return f"{m} minutes" if m < 60 else f"{m // 60} hour{'s' if m >= 120 else ''}"

    return [(m, label(m)) for m in DURATIONS if dt.timedelta(minutes=m) <= limit]


def _access_page(
    request: Request,
    caller: Caller,
    *,
    notice: str | None = None,
    error: VallumError | None = None,
) -> HTMLResponse:
    d = directory_of(request)
    everything = jit.list_requests(d)
    approver = caller.can(P.ACCESS_APPROVE)
    others = [r for r in everything if approver and r.principal != caller.actor]
    held = set(caller.account.roles)
    return render(
        request,
        "access.html",
        caller,
        status_code=200 if error is None else failure_status(error),
        mine=[r for r in reversed(everything) if r.principal == caller.actor],
        pending=[r for r in others if r.status == "pending"],
        reviews_due=[r for r in others if r.review_due],
        roles=[r["name"] for r in accounts.list_roles(d) if r["name"] not in held],
        durations=_durations(d.policy.jit_max),
        glass_durations=_durations(d.policy.break_glass_max),
        now=now_text(),
        notice=notice,
        error=error.detail if error is not None else None,
    )


@router.get("/access", response_class=HTMLResponse)
def access(
    request: Request,
    caller: Requester,
    notice: NoticeQuery = None,
    subject: SubjectQuery = None,
) -> HTMLResponse:
    return _access_page(request, caller, notice=notice_text(notice, subject))


@router.post("/access/request")
def request_access(
    request: Request, caller: Requester, role: Text = "", minutes: Text = "", reason: Text = ""
) -> Response:
    d = directory_of(request)
    try:
        duration = dt.timedelta(minutes=form_int(minutes, "duration", 1, MAX_MINUTES))
        request_id = jit.request_role(
            d, caller.account.username, required(role, "role"), duration, reason, via=CHANNEL
        )
    except VallumError as exc:
        return _access_page(request, caller, error=exc)
    return see_other("/access", "requested", request_id)


@router.post("/access/{request_id}/withdraw")
def withdraw(request: Request, caller: Requester, request_id: DbId) -> Response:
    d = directory_of(request)
    try:
        found = [r for r in jit.list_requests(d, "pending") if r.id == request_id]
        if not found:
            raise NotFoundError(f"no pending access request {request_id}")
        if found[0].principal != caller.actor:
            raise PolicyViolation("you can withdraw only your own requests")
        jit.deny(d, caller.account.username, request_id, WITHDRAWN, via=CHANNEL)
    except VallumError as exc:
        return _access_page(request, caller, error=exc)
    return see_other("/access", "withdrawn", request_id)


@router.post("/access/{request_id}/approve")
def approve(request: Request, caller: Approver, request_id: DbId) -> Response:
    d = directory_of(request)
    try:
        jit.approve(d, caller.account.username, request_id, via=CHANNEL)
    except VallumError as exc:
        return _access_page(request, caller, error=exc)
    return see_other("/access", "approved", request_id)


@router.post("/access/{request_id}/deny")
def deny(request: Request, caller: Approver, request_id: DbId, reason: Text = "") -> Response:
    d = directory_of(request)
    try:
        jit.deny(d, caller.account.username, request_id, reason, via=CHANNEL)
    except VallumError as exc:
        return _access_page(request, caller, error=exc)
    return see_other("/access", "denied", request_id)


@router.post("/access/break-glass")
def break_glass(
    request: Request,
    caller: BreakGlass,
    role: Text = "",
    minutes: Text = "",
    reason: Text = "",
    confirm: Text = "",
) -> Response:
    d = directory_of(request)
    try:
        if confirm != "yes":
            raise UsageError("tick the box to confirm that this is an emergency")
        duration = dt.timedelta(minutes=form_int(minutes, "duration", 1, MAX_MINUTES))
        request_id = jit.break_glass(
            d, caller.account.username, required(role, "role"), duration, reason, via=CHANNEL
        )
    except VallumError as exc:
        return _access_page(request, caller, error=exc)
    return see_other("/access", "break-glass", request_id)


@router.post("/access/{request_id}/review")
def review_break_glass(
    request: Request, caller: Approver, request_id: DbId, notes: Text = ""
) -> Response:
    d = directory_of(request)
    try:
        jit.review_break_glass(d, caller.account.username, request_id, notes, via=CHANNEL)
    except VallumError as exc:
        return _access_page(request, caller, error=exc)
    return see_other("/access", "reviewed", request_id)
