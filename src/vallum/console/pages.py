"""Server-rendered console: control dashboard and ledger view.

Plain HTML from Jinja2 templates with autoescaping and one small stylesheet of
our own; no JavaScript is needed. Every page carries the ledger badge
("verified up to seq N") from the app's latest background verification.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from vallum.api.auth import Caller, page
from vallum.console.access_pages import router as access_router
from vallum.console.auth_pages import router as auth_router
from vallum.console.gateway_pages import router as gateway_router
from vallum.console.keys_pages import router as keys_router
from vallum.console.render import HERE, render
from vallum.console.reviews_pages import router as reviews_router
from vallum.console.users_pages import router as users_router
from vallum.governance import audit as audit_service
from vallum.governance.catalog import Framework
from vallum.governance.service import Status, evaluate
from vallum.identity.permissions import Permission as P


def render_error(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    """Errors on console pages, as a page (the API answers problem+json)."""
    titles = {401: "Please sign in", 403: "Not allowed", 404: "Not found"}
    return render(
        request,
        "error.html",
        None,
        status_code=status,
        status=status,
        title=titles.get(status, title),
        detail=detail,
    )


PAGE_SIZE = 50
MAX_SEQ = 2**53 - 1
router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.state.html_error = render_error
    app.include_router(auth_router)
    app.include_router(router)
    app.include_router(users_router)
    app.include_router(keys_router)
    app.include_router(access_router)
    app.include_router(reviews_router)
    app.include_router(gateway_router)


@router.get("/", response_class=HTMLResponse)
def dashboard(
    request: Request,
    caller: Annotated[Caller, Depends(page(P.CONTROLS_READ))],
    framework: str | None = None,
) -> HTMLResponse:
    ctx = request.app.state.vallum.ctx
    fw = Framework(framework) if framework in {f.value for f in Framework} else None
    statuses = evaluate(ctx, fw)
    counts = {str(st): sum(1 for s in statuses if s.status is st) for st in Status}
    return render(
        request,
        "dashboard.html",
        caller,
        statuses=statuses,
        counts=counts,
        frameworks=[f.value for f in Framework],
        framework=fw.value if fw else None,
    )


@router.get("/ledger", response_class=HTMLResponse)
def ledger(
    request: Request,
    caller: Annotated[Caller, Depends(page(P.LEDGER_READ))],
    before: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
) -> HTMLResponse:
    """The PAGE_SIZE newest events with seq < ``before`` (default: the newest)."""
    ctx = request.app.state.vallum.ctx
    last = audit_service.last_seq(ctx)
    top = last if before is None else min(before - 1, last)
    start = max(0, top - PAGE_SIZE)
    # events() returns at least one event whatever its limit, so an empty window
    # (before=1) must not ask it at all.
    window = audit_service.events(ctx, since=start, limit=top - start) if top > start else []
    events = list(reversed(window))
    return render(
        request,
        "ledger.html",
        caller,
        events=events,
        last=last,
        older=start if start > 0 else None,
        newer=top + PAGE_SIZE + 1 if top < last else None,
    )
