"""Console pages for principals and roles: /users and /roles (SEC-POL-012 3.3.2).

/users lists every principal (people and service accounts) with its live roles,
MFA state and whether it is disabled, and every active grant. Holders of
``users.manage`` create people (the one-time password is shown once, on the
answer to the form) and service accounts, grant and revoke roles, and disable or
enable principals. /roles lists the roles and their permissions; holders of
``roles.manage`` define custom roles from any set of permissions.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from vallum.api.auth import Caller, directory_of, page
from vallum.console.admin_pages import (
    DbId,
    NoticeQuery,
    SubjectQuery,
    Text,
    failure_status,
    form_list,
    notice_text,
    required,
    see_other,
)
from vallum.console.render import render
from vallum.errors import UsageError, VallumError
from vallum.identity import accounts
from vallum.identity.permissions import Permission as P

router = APIRouter(include_in_schema=False)
UsersReader = Annotated[Caller, Depends(page(P.USERS_READ))]
UsersManager = Annotated[Caller, Depends(page(P.USERS_MANAGE))]
RolesReader = Annotated[Caller, Depends(page(P.ROLES_READ))]
RolesManager = Annotated[Caller, Depends(page(P.ROLES_MANAGE))]


# -- /users ----------------------------------------------------------------------


def _users_page(
    request: Request,
    caller: Caller,
    *,
    notice: str | None = None,
    error: VallumError | None = None,
) -> HTMLResponse:
    d = directory_of(request)
    return render(
        request,
        "users.html",
        caller,
        status_code=200 if error is None else failure_status(error),
        principals=accounts.list_accounts(d),
        grants=accounts.list_grants(d),
        roles=[r["name"] for r in accounts.list_roles(d)],
        mfa_for_all=d.policy.mfa_required_for_all,
        notice=notice,
        error=error.detail if error is not None else None,
    )


@router.get("/users", response_class=HTMLResponse)
def users(
    request: Request,
    caller: UsersReader,
    notice: NoticeQuery = None,
    subject: SubjectQuery = None,
) -> HTMLResponse:
    return _users_page(request, caller, notice=notice_text(notice, subject))


@router.post("/users/create", response_class=HTMLResponse)
def create_user(request: Request, caller: UsersManager, username: Text = "") -> Response:
    """A person with a one-time password, shown on this answer only."""
    d = directory_of(request)
    try:
        new = accounts.create_user(
            d, caller.actor, required(username, "username"), form_list(request, "role")
        )
    except VallumError as exc:
        return _users_page(request, caller, error=exc)
    return render(
        request,
        "user_created.html",
        caller,
        account=new.account,
        password=new.one_time_password,
    )


@router.post("/users/service")
def create_service_account(request: Request, caller: UsersManager, name: Text = "") -> Response:
    d = directory_of(request)
    try:
        account = accounts.create_service_account(
            d, caller.actor, required(name, "name"), form_list(request, "role")
        )
    except VallumError as exc:
        return _users_page(request, caller, error=exc)
    return see_other("/users", "service-created", account.actor)


@router.post("/users/grant")
def grant_role(
    request: Request, caller: UsersManager, username: Text = "", role: Text = ""
) -> Response:
    d = directory_of(request)
    try:
        username, role = required(username, "principal"), required(role, "role")
        grant_id = accounts.grant_role(d, caller.actor, username, role)
    except VallumError as exc:
        return _users_page(request, caller, error=exc)
    return see_other("/users", "granted", grant_id)


@router.post("/users/grants/{grant_id}/revoke")
def revoke_grant(
    request: Request, caller: UsersManager, grant_id: DbId, reason: Text = ""
) -> Response:
    d = directory_of(request)
    try:
        accounts.revoke_grant(d, caller.actor, grant_id, required(reason, "reason"))
    except VallumError as exc:
        return _users_page(request, caller, error=exc)
    return see_other("/users", "grant-revoked", grant_id)


def _set_disabled(request: Request, caller: Caller, username: str, disabled: bool) -> Response:
    d = directory_of(request)
    try:
        if disabled and username == caller.account.username:
            raise UsageError("you cannot disable your own account; ask another administrator")
        accounts.set_disabled(d, caller.actor, username, disabled)
    except VallumError as exc:
        return _users_page(request, caller, error=exc)
    return see_other("/users", "disabled" if disabled else "enabled", username)


@router.post("/users/{username}/disable")
def disable(request: Request, caller: UsersManager, username: str) -> Response:
    return _set_disabled(request, caller, username[:128], True)


@router.post("/users/{username}/enable")
def enable(request: Request, caller: UsersManager, username: str) -> Response:
    return _set_disabled(request, caller, username[:128], False)


# -- /roles ----------------------------------------------------------------------


def _roles_page(
    request: Request,
    caller: Caller,
    *,
    notice: str | None = None,
    error: VallumError | None = None,
) -> HTMLResponse:
    return render(
        request,
        "roles.html",
        caller,
        status_code=200 if error is None else failure_status(error),
        roles=accounts.list_roles(directory_of(request)),
        permissions=[str(p) for p in P],
        notice=notice,
        error=error.detail if error is not None else None,
    )


@router.get("/roles", response_class=HTMLResponse)
def roles(
    request: Request,
    caller: RolesReader,
    notice: NoticeQuery = None,
    subject: SubjectQuery = None,
) -> HTMLResponse:
    return _roles_page(request, caller, notice=notice_text(notice, subject))


@router.post("/roles/create")
def create_role(
    request: Request, caller: RolesManager, name: Text = "", description: Text = ""
) -> Response:
    d = directory_of(request)
    try:
        name = required(name, "role name")
        perms = form_list(request, "permission")
        accounts.create_role(d, caller.actor, name, perms, description.strip())
    except VallumError as exc:
        return _roles_page(request, caller, error=exc)
    return see_other("/roles", "role-created", name)
