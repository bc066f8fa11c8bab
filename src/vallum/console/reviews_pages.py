"""Console pages for access reviews: /reviews and /reviews/{id} (SEC-POL-012 3.3.2).

/reviews lists the campaigns with their counts; holders of ``reviews.manage``
start one (a snapshot of every active grant and API key). /reviews/{id} lists
its items; holders of ``reviews.certify`` certify or revoke each one that is not
their own (a revocation removes the access at once). Closing a campaign turns
the undecided items into ``unreviewed``, which the page then lists: they are
never certified by default. The rules are ``identity.reviews``'s.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from vallum.api.auth import Caller, directory_of, page
from vallum.console.admin_pages import (
    CHANNEL,
    DbId,
    NoticeQuery,
    SubjectQuery,
    Text,
    failure_status,
    form_int,
    notice_text,
    see_other,
)
from vallum.console.render import render
from vallum.errors import NotFoundError, VallumError
from vallum.identity import reviews
from vallum.identity.permissions import Permission as P

router = APIRouter(include_in_schema=False)
ReviewsReader = Annotated[Caller, Depends(page(P.REVIEWS_READ))]
ReviewsManager = Annotated[Caller, Depends(page(P.REVIEWS_MANAGE))]
Certifier = Annotated[Caller, Depends(page(P.REVIEWS_CERTIFY))]
DEFAULT_DAYS = 30


def _reviews_page(
    request: Request,
    caller: Caller,
    *,
    notice: str | None = None,
    error: VallumError | None = None,
) -> HTMLResponse:
    return render(
        request,
        "reviews.html",
        caller,
        status_code=200 if error is None else failure_status(error),
        campaigns=list(reversed(reviews.list_campaigns(directory_of(request)))),
        default_days=DEFAULT_DAYS,
        max_days=reviews.MAX_DEADLINE.days,
        notice=notice,
        error=error.detail if error is not None else None,
    )


def _review_page(
    request: Request,
    caller: Caller,
    campaign_id: int,
    *,
    notice: str | None = None,
    error: VallumError | None = None,
) -> HTMLResponse:
    status = reviews.campaign_status(directory_of(request), campaign_id)
    return render(
        request,
        "review.html",
        caller,
        status_code=200 if error is None else failure_status(error),
        campaign=status.campaign,
        items=status.items,
        unreviewed=status.unreviewed,
        notice=notice,
        error=error.detail if error is not None else None,
    )


@router.get("/reviews", response_class=HTMLResponse)
def campaigns(
    request: Request,
    caller: ReviewsReader,
    notice: NoticeQuery = None,
    subject: SubjectQuery = None,
) -> HTMLResponse:
    return _reviews_page(request, caller, notice=notice_text(notice, subject))


@router.post("/reviews/start")
def start(request: Request, caller: ReviewsManager, name: Text = "", days: Text = "") -> Response:
    d = directory_of(request)
    try:
        deadline = form_int(days, "deadline in days", 1, reviews.MAX_DEADLINE.days)
        campaign_id = reviews.start_campaign(d, caller.actor, name, dt.timedelta(days=deadline))
    except VallumError as exc:
        return _reviews_page(request, caller, error=exc)
    return see_other(f"/reviews/{campaign_id}", "campaign-started", campaign_id)


@router.get("/reviews/{campaign_id}", response_class=HTMLResponse)
def campaign(
    request: Request,
    caller: ReviewsReader,
    campaign_id: DbId,
    notice: NoticeQuery = None,
    subject: SubjectQuery = None,
) -> HTMLResponse:
    return _review_page(request, caller, campaign_id, notice=notice_text(notice, subject))


def _decide(
    request: Request, caller: Caller, campaign_id: int, item_id: int, certify: bool, reason: str
) -> Response:
    d = directory_of(request)
    try:
        items = reviews.campaign_status(d, campaign_id).items
        if item_id not in {i.id for i in items}:
            raise NotFoundError(f"campaign {campaign_id} has no item {item_id}")
        reviews.decide(d, caller.account.username, item_id, certify, reason, via=CHANNEL)
    except VallumError as exc:
        return _review_page(request, caller, campaign_id, error=exc)
    return see_other(f"/reviews/{campaign_id}", "certified" if certify else "item-revoked", item_id)


@router.post("/reviews/{campaign_id}/items/{item_id}/certify")
def certify(
    request: Request, caller: Certifier, campaign_id: DbId, item_id: DbId, reason: Text = ""
) -> Response:
    return _decide(request, caller, campaign_id, item_id, True, reason)


@router.post("/reviews/{campaign_id}/items/{item_id}/revoke")
def revoke(
    request: Request, caller: Certifier, campaign_id: DbId, item_id: DbId, reason: Text = ""
) -> Response:
    return _decide(request, caller, campaign_id, item_id, False, reason)


@router.post("/reviews/{campaign_id}/close")
def close(request: Request, caller: ReviewsManager, campaign_id: DbId) -> Response:
    try:
        reviews.close_campaign(directory_of(request), caller.actor, campaign_id)
    except VallumError as exc:
        return _review_page(request, caller, campaign_id, error=exc)
    return see_other(f"/reviews/{campaign_id}", "closed", campaign_id)
