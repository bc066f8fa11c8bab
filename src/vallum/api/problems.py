"""RFC 9457 problem+json for every error the API returns."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vallum.errors import VallumError

log = logging.getLogger(__name__)
MEDIA = "application/problem+json"


def problem(status: int, code: str, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {
            "type": f"urn:vallum:error:{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
        },
        status_code=status,
        media_type=MEDIA,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(VallumError)
    async def _vallum(_req: Request, exc: VallumError) -> JSONResponse:
        title = type(exc).__name__
        if exc.http_status >= 500 and not exc.code.startswith(("unavailable", "not_initialized")):
            log.error("error %s: %s", exc.code, exc.detail)
            return problem(exc.http_status, exc.code, title, "internal error")
        return problem(exc.http_status, exc.code, title, exc.one_line())

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem(400, "usage", "Bad Request", f"{where}: {first.get('msg')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "usage.method"}.get(exc.status_code, "http")
        return problem(exc.status_code, code, "HTTP error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s", type(exc).__name__, exc_info=exc)
        return problem(500, "internal", "Internal Server Error", "internal error")
