"""RFC 9457 problem+json for every error the API returns, and the OpenAPI that says so."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from vallum.api.auth import LoginRequired
from vallum.api.models import Problem
from vallum.errors import VallumError

log = logging.getLogger(__name__)
MEDIA = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"


def problem(
    status: int, code: str, title: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
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
        headers=headers,
    )


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document describe the errors the handlers below really send.

    FastAPI documents error bodies as ``application/json`` and adds a 422
    ``HTTPValidationError`` to every operation with parameters; this API answers
    every error with ``application/problem+json`` and invalid input with 400.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = generate()
        for path_item in doc.get("paths", {}).values():
            for operation in path_item.values():
                responses: dict[str, Any] = operation.get("responses", {})
                if responses.pop("422", None) is not None and "400" not in responses:
                    responses["400"] = {
                        "description": "Bad request",
                        "content": {"application/json": {"schema": {"$ref": PROBLEM_REF}}},
                    }
                for status, response in responses.items():
                    content = response.get("content", {})
                    if status[:1] in {"4", "5"} and "application/json" in content:
                        content[MEDIA] = content.pop("application/json")
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        schemas.setdefault("Problem", Problem.model_json_schema())
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _wants_html(request: Request) -> bool:
    """Console pages answer errors as HTML; the API and health checks as problem+json."""
    path = request.url.path
    return (
        not path.startswith(("/api/", "/healthz", "/readyz", "/openapi.json", "/v1/"))
        and "text/html" in request.headers.get("accept", "")
        and getattr(request.app.state, "html_error", None) is not None
    )


def _answer(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if _wants_html(request):
        resp: Response = request.app.state.html_error(request, status, title, detail)
        return resp
    return problem(status, code, title, detail, headers)


def install(app: FastAPI) -> None:
    _document_problems(app)

    @app.exception_handler(LoginRequired)
    async def _login(_req: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(VallumError)
    async def _vallum(req: Request, exc: VallumError) -> Response:
        title = type(exc).__name__
        if exc.http_status >= 500 and not exc.code.startswith(("unavailable", "not_initialized")):
            log.error("error %s: %s", exc.code, exc.detail)
            return _answer(req, exc.http_status, exc.code, title, "internal error")
        headers = {"WWW-Authenticate": 'Bearer realm="vallum"'} if exc.http_status == 401 else None
        return _answer(req, exc.http_status, exc.code, title, exc.one_line(), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(req: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _answer(req, 400, "usage", "Bad Request", f"{where}: {first.get('msg')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "usage.method"}.get(exc.status_code, "http")
        # Keep the handler's headers: a 405 must say what is Allowed (RFC 9110 15.5.6).
        return _answer(req, exc.status_code, code, "HTTP error", str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s", type(exc).__name__, exc_info=exc)
        return problem(500, "internal", "Internal Server Error", "internal error")
