"""Console page for API keys: /keys (SEC-POL-012 3.3.2).

/keys lists every key with its status and warnings, never a secret (only its
hash is stored). A new or rotated key's full ``vk_...`` string is shown once, on
the answer to the form that made it; that answer is never cached, and the secret
is never stored, logged or recorded.

Issuing a key (creating or rotating one) hands its secret to whoever asked, so
the console allows only what the caller could use themselves: every scope must
be a permission the caller holds, and the owner must be the caller or a service
account (anyone, for holders of ``users.manage``). Refusals are recorded as
``access.refused``. Revoking is always allowed to holders of ``keys.revoke``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from vallum.api.auth import Caller, directory_of, page
from vallum.console.admin_pages import (
    CHANNEL,
    NoticeQuery,
    SubjectQuery,
    Text,
    failure_status,
    form_int,
    form_list,
    notice_text,
    required,
    see_other,
)
from vallum.console.render import render
from vallum.errors import UsageError, VallumError
from vallum.identity import accounts, apikeys, jit
from vallum.identity.directory import Directory, load_account
from vallum.identity.permissions import Permission as P
from vallum.identity.permissions import parse_permissions

router = APIRouter(include_in_schema=False)
KeysReader = Annotated[Caller, Depends(page(P.KEYS_READ))]
KeysCreator = Annotated[Caller, Depends(page(P.KEYS_CREATE))]
KeysRotator = Annotated[Caller, Depends(page(P.KEYS_ROTATE))]
KeysRevoker = Annotated[Caller, Depends(page(P.KEYS_REVOKE))]
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]

DEFAULT_DAYS = 90
#: Hours the old key keeps working after a rotation, and how the form names them.
OVERLAPS = {0: "none: the old key stops now", 1: "1 hour", 24: "1 day", 168: "7 days"}
DEFAULT_OVERLAP = 24


def _owners(d: Directory, caller: Caller) -> list[str]:
    """Whom the caller may issue keys for: themselves and service accounts (or anyone)."""
    anyone = caller.can(P.USERS_MANAGE)
    return [
        a.username
        for a in accounts.list_accounts(d)
        if not a.disabled
        and (anyone or a.kind == "service" or a.username == caller.account.username)
    ]


def _offered(caller: Caller) -> list[str]:
    """The scopes the form offers: the caller's own permissions."""
    return [str(p) for p in P if p in caller.permissions]


def _may_issue(
    d: Directory, caller: Caller, owner: str, scopes: list[str] | tuple[str, ...], attempt: str
) -> None:
    """Refuse (and record) a key the caller could not use themselves."""
    try:
        perms = parse_permissions(list(scopes))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    account = load_account(d, username=owner)
    beyond = sorted(str(p) for p in perms - caller.permissions)
    # A key owned by another person acts as that person.
    person_not_caller = account.kind != "service" and account.id != caller.account.id
    why = None
    if beyond:
        why = f"a key cannot hold permissions you do not hold: {', '.join(beyond)}"
    elif person_not_caller and not caller.can(P.USERS_MANAGE):
        why = "only holders of users.manage may issue keys owned by other people"
    if why is not None:
        raise jit.refuse(d, caller.actor, account.actor, attempt, why, CHANNEL)


def _keys_page(
    request: Request,
    caller: Caller,
    *,
    notice: str | None = None,
    error: VallumError | None = None,
) -> HTMLResponse:
    d = directory_of(request)
    warned: dict[str, list[str]] = {}
    for w in apikeys.warnings(d):
        warned.setdefault(w["id"], []).append(w["warning"])
    max_days = d.policy.api_key_max_days
    return render(
        request,
        "keys.html",
        caller,
        status_code=200 if error is None else failure_status(error),
        keys=list(reversed(apikeys.list_keys(d))),
        warnings=warned,
        owners=_owners(d, caller) if caller.can(P.KEYS_CREATE) else [],
        scopes=_offered(caller),
        max_days=max_days,
        default_days=min(DEFAULT_DAYS, max_days),
        overlaps=OVERLAPS,
        default_overlap=DEFAULT_OVERLAP,
        notice=notice,
        error=error.detail if error is not None else None,
    )


def _issued(
    request: Request, caller: Caller, issued: apikeys.IssuedKey, replaces: str | None
) -> HTMLResponse:
    """The only page that ever shows a key's secret."""
    return render(
        request,
        "key_created.html",
        caller,
        key=issued.info,
        secret=issued.secret,
        replaces=replaces,
    )


@router.get("/keys", response_class=HTMLResponse)
def keys(
    request: Request,
    caller: KeysReader,
    notice: NoticeQuery = None,
    subject: SubjectQuery = None,
) -> HTMLResponse:
    return _keys_page(request, caller, notice=notice_text(notice, subject))


@router.post("/keys/create", response_class=HTMLResponse)
def create_key(
    request: Request, caller: KeysCreator, name: Text = "", owner: Text = "", days: Text = ""
) -> Response:
    d = directory_of(request)
    try:
        name, owner = required(name, "key name"), required(owner, "owner")
        lifetime = form_int(days, "lifetime in days", 1, d.policy.api_key_max_days)
        scopes = form_list(request, "scope")
        _may_issue(d, caller, owner, scopes, "apikeys.create")
        issued = apikeys.create_key(
            d,
            caller.actor,
            name=name,
            owner=owner,
            scopes=scopes,
            expires_in=dt.timedelta(days=lifetime),
            issuer=caller.account,
        )
    except VallumError as exc:
        return _keys_page(request, caller, error=exc)
    return _issued(request, caller, issued, None)


@router.post("/keys/{key_id}/rotate", response_class=HTMLResponse)
def rotate_key(
    request: Request, caller: KeysRotator, key_id: KeyId, overlap: Text = ""
) -> Response:
    d = directory_of(request)
    try:
        hours = form_int(overlap or str(DEFAULT_OVERLAP), "overlap in hours", 0, 720)
        old = apikeys.get_key(d, key_id)
        _may_issue(d, caller, old.owner, old.scopes, "apikeys.rotate")
        issued = apikeys.rotate_key(
            d, caller.actor, key_id, dt.timedelta(hours=hours), issuer=caller.account
        )
    except VallumError as exc:
        return _keys_page(request, caller, error=exc)
    return _issued(request, caller, issued, key_id)


@router.post("/keys/{key_id}/revoke")
def revoke_key(request: Request, caller: KeysRevoker, key_id: KeyId, reason: Text = "") -> Response:
    d = directory_of(request)
    try:
        apikeys.revoke_key(d, caller.actor, key_id, required(reason, "reason"))
    except VallumError as exc:
        return _keys_page(request, caller, error=exc)
    return see_other("/keys", "key-revoked", key_id)
