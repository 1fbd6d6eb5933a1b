"""Domain errors -> HTTP, in one table; every error body is ``{"error": {code, message, field?}}``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from district_engine.errors import (
    ConflictError,
    DistrictEngineError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    StoreError,
    StoreUnavailableError,
    UnauthorizedError,
)

log = logging.getLogger("district_engine.api")

STATUS = {
    InvalidInputError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    ForbiddenError: 403,
    UnauthorizedError: 401,
    StoreUnavailableError: 503,
    RateLimitedError: 429,
    StoreError: 500,
}
RETRY_AFTER_S = "1"


def error_body(code: str, message: str, field: str | None = None) -> dict:
    err = {"code": code, "message": message}
    if field:
        err["field"] = field
    return {"error": err}


def _status(exc: DistrictEngineError) -> int:
    return next((status for cls, status in STATUS.items() if isinstance(exc, cls)), 500)


async def domain_error(request: Request, exc: DistrictEngineError) -> JSONResponse:
    status = _status(exc)
    if status == 500:  # a bug of ours (a Redis error that is no refusal, StoreError): logged, not told
        log.error("unexpected error", exc_info=exc)
        return JSONResponse(error_body("internal", "an unexpected error; it has been logged"), status_code=500)
    headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(exc.retry_after_s)}
    body = error_body(exc.code, exc.message, exc.field)
    if exc.code in ("out_of_range", "untrusted_location"):  # the grab contract also says {status: ...}
        body["status"] = exc.code
    return JSONResponse(body, status_code=status, headers=headers)


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header", "cookie")]
    message = first.get("msg", "invalid request").removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        message = "unknown field"
    where = tuple(first.get("loc", ()))
    # The body as a whole (not an object, or not JSON: its loc then holds a character position).
    if first.get("type") == "json_invalid" or where == ("body",):
        loc = ["body"]
    return JSONResponse(error_body("invalid_input", message, ".".join(loc) or None), status_code=422)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {400: "invalid_json", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
        exc.status_code, "error")
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:  # the router names only the first route of the path it found
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request.app, request.scope))}
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers)


# The one table: the app's exception handlers, and what code answering outside the app's
# exception middleware (api/fastpath.py, api/idempotency.py) looks up.
HANDLERS: dict[type[Exception], Callable[[Request, Any], Awaitable[JSONResponse]]] = {
    DistrictEngineError: domain_error,
    RequestValidationError: invalid_request,
    StarletteHTTPException: http_error,
}


def install(app: FastAPI) -> None:
    for cls, handler in HANDLERS.items():
        app.add_exception_handler(cls, handler)


async def error_response(request: Request, exc: Exception) -> JSONResponse:
    """The answer to ``exc`` from the table above, as the app's exception handlers give it;
    ``exc`` itself is raised again if no entry takes it (a bug: the server's 500)."""
    handler = next((HANDLERS[c] for c in type(exc).__mro__ if c in HANDLERS), None)
    if handler is None:
        raise exc
    return await handler(request, exc)


def allowed_methods(app, scope) -> list[str]:
    """Every method served at the scope's path, over all the app's routes that match it (several
    routes share a path: ``GET`` and ``DELETE /v1/districts/{id}``); ``HEAD`` wherever ``GET`` is
    (api/middleware.py answers it)."""
    # The path as the app got it: a mount that raised the 405 has changed the scope's root_path.
    scope = {"type": "http", "method": scope["method"], "path": scope["path"],
             "root_path": scope.get("app_root_path", scope.get("root_path", ""))}
    methods = set()
    for route in _leaves(app.router.routes):
        match, _ = route.matches(scope)
        if match is Match.NONE:
            continue
        route_methods = getattr(route, "methods", None)
        methods |= set(route_methods) if route_methods is not None else {"GET"}  # a mount: static files
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _leaves(routes):
    """The routes themselves, also those of the routers the app includes (FastAPI keeps an included
    router as one entry)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from _leaves(included.routes) if included is not None else (route,)
