"""Rendering for console pages: templates, security headers, the ledger badge."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from vallum import __version__
from vallum.api.auth import CSRF_FIELD, Caller

HERE = Path(str(resources.files("vallum.console")))
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


@functools.cache
def templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(HERE / "templates"))


def secure_headers(resp: HTMLResponse) -> HTMLResponse:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    return resp


def render(
    request: Request,
    name: str,
    caller: Caller | None = None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    state = request.app.state.vallum
    values.update(
        version=__version__,
        badge=state.report,
        checked_at=state.checked_at,
        instance_id=state.ctx.instance_id,
        caller=caller,
        csrf_field=CSRF_FIELD,
        csrf=caller.csrf if caller is not None else None,
    )
    resp = templates().TemplateResponse(request, name, values, status_code=status_code)
    return secure_headers(resp)
