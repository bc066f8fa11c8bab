"""Server-rendered console: control dashboard and ledger view.

Plain HTML from Jinja2 templates with autoescaping and one small stylesheet of
our own; no JavaScript is needed. Every page carries the ledger badge
("verified up to seq N") from the app's latest background verification.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from vallum import __version__
from vallum.governance import audit as audit_service
from vallum.governance.catalog import Framework
from vallum.governance.service import Status, evaluate

_HERE = Path(str(resources.files("vallum.console")))
PAGE_SIZE = 50
MAX_SEQ = 2**53 - 1


def install(app: FastAPI) -> None:
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    def render(request: Request, name: str, **values: Any) -> HTMLResponse:
        state = request.app.state.vallum
        values.update(
            version=__version__,
            badge=state.report,
            checked_at=state.checked_at,
            instance_id=state.ctx.instance_id,
        )
        resp = templates.TemplateResponse(request, name, values)
        resp.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(request: Request, framework: str | None = None) -> HTMLResponse:
        ctx = request.app.state.vallum.ctx
        fw = Framework(framework) if framework in {f.value for f in Framework} else None
        statuses = evaluate(ctx, fw)
        counts = {str(st): sum(1 for s in statuses if s.status is st) for st in Status}
        return render(
            request,
            "dashboard.html",
            statuses=statuses,
            counts=counts,
            frameworks=[f.value for f in Framework],
            framework=fw.value if fw else None,
        )

    @app.get("/ledger", response_class=HTMLResponse, include_in_schema=False)
    def ledger(
        request: Request, before: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None
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
            events=events,
            last=last,
            older=start if start > 0 else None,
            newer=top + PAGE_SIZE + 1 if top < last else None,
        )
