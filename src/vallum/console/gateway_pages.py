"""Console page for the gateway: /gateway (vendors, routes, live traffic).

Read-only: vendors (never their credentials), routes with their targets, guard
policy, access and limits, and the newest gateway events from the ledger
(identifiers, counts and outcomes, never content). Changes go through
``vallum vendors`` and ``vallum routes``. Needs ``monitor.read``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from vallum.api.auth import Caller, page
from vallum.console.render import render
from vallum.gateway import config, traffic
from vallum.identity.permissions import Permission as P

router = APIRouter(include_in_schema=False)
MonitorReader = Annotated[Caller, Depends(page(P.MONITOR_READ))]


@router.get("/gateway", response_class=HTMLResponse)
def gateway_page(request: Request, caller: MonitorReader) -> HTMLResponse:
    ctx = request.app.state.vallum.ctx
    return render(
        request,
        "gateway.html",
        caller,
        vendors=config.list_vendors(ctx),
        routes=config.list_routes(ctx),
        traffic=traffic.recent(ctx, 50),
    )
