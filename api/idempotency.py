"""``Idempotency-Key`` on the create routes, with Stripe's semantics (docs/api.md, "Idempotency").

A route whose endpoint is marked ``idempotent`` takes the header (1..255 printable ASCII). Within
24 h, the same principal sending the same key with the same request (method, path and body) gets
the first answer again, with ``Idempotent-Replayed: true``; with another request, 422
``idempotency_key_reused``; while the first one still runs, 409 ``idempotency_key_in_flight``.
Only 2xx answers are kept: any other frees the key, and a retry runs again. Keys are per principal.

A create whose answer was lost (Redis answered late, the client got a 503) runs again when the
client retries: the ids it makes are derived from the key (district_engine/ids.py) and every create
writes if absent, so the retry finds what the first run made instead of making it a second time.

A pure ASGI middleware (api/middleware.py says why), inside the request middleware (bodies are
size-checked first) and outside the app's exception handlers (it sees each answer as the client
will). Its Redis calls run on the Redis threads (api/offload.py), never on the event loop; their
errors are answered by the app's own handlers (503 with Retry-After).
"""

from __future__ import annotations

import hashlib
import logging
import re

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.errors import RETRY_AFTER_S, error_body, error_response
from api.schemas.core import REQUEST_KEY_PATTERN
from district_engine.errors import UnauthorizedError
from district_engine.ids import derived_ids
from district_engine.store.idempotency import Answer, Claim, IdempotencyStore

__all__ = ["HEADER", "REPLAYED", "idempotent", "idempotent_routes", "IdempotencyMiddleware", "document"]

log = logging.getLogger("district_engine.api")

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def idempotent(endpoint):
    """Mark a create route's endpoint: it honours an Idempotency-Key (the middleware finds the
    marked routes with ``idempotent_routes``)."""
    endpoint.idempotent = True
    return endpoint


def idempotent_routes(routes) -> dict:
    """(method, path) -> route, for the routes whose endpoint is marked ``idempotent``."""
    return {(m, r.path): r for r in routes if getattr(getattr(r, "endpoint", None), "idempotent", False)
            for m in r.methods}


def _check_key(given: list[bytes]) -> str | None:
    """The key, or None if it is not one: exactly one header of 1..255 printable ASCII characters."""
    if len(given) != 1 or not re.fullmatch(REQUEST_KEY_PATTERN.encode(), given[0]):
        return None
    return given[0].decode("ascii")


def _principal(request: Request) -> str | None:
    """Whose key it is ("<kind>:<id>[:<user>]"), or None for no credential or a bad one: the app
    then answers 401 itself, and there is nothing to remember."""
    values = request.headers.getlist("authorization")
    scheme, _, credential = values[0].partition(" ") if len(values) == 1 else ("", "", "")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    try:
        p = request.app.state.identity.authenticate(credential.strip())
    except UnauthorizedError:
        return None
    return ":".join(part for part in (p.kind.value, p.id, p.user_id) if part)


def _fingerprint(method: str, path: str, body: bytes) -> bytes:
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).digest()


def _refusal(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    return JSONResponse(error_body(code, message, HEADER), status_code=status, headers=headers)


class IdempotencyMiddleware:
    def __init__(self, app, routes: dict):
        self.app = app
        self.routes = routes  # filled by the app once its routes are in (``idempotent_routes``)

    async def __call__(self, scope, receive, send):
        route = self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        given = [v for k, v in scope["headers"] if k == b"idempotency-key"] if route is not None else []
        if not given:  # not a create, or no key: as if this middleware were not there
            return await self.app(scope, receive, send)
        scope["route"] = route  # for the latency metric and the log, also when answered here
        request = Request(scope, receive)
        body = await request.body()
        receive = _replay(body, receive)
        store: IdempotencyStore = request.app.state.idempotency
        calls = request.app.state.store_calls
        try:
            principal = await calls.run(_principal, request)
            if principal is None:
                return await self.app(scope, receive, send)
            key = _check_key(given)
            if key is None:
                return await _refusal(422, "invalid_input", "must be one header of 1 to 255 printable ASCII "
                                      "characters")(scope, receive, send)
            fingerprint = _fingerprint(scope["method"], scope["path"], body)
            claim = await calls.run(store.claim, principal, key, fingerprint)
        except Exception as exc:  # Redis away: the app's own answer (503, Retry-After)
            return await (await error_response(request, exc))(scope, receive, send)
        if claim.state == "replay":
            a = claim.answer
            return await Response(a.body, status_code=a.status, headers={
                "content-type": a.content_type, REPLAYED: "true"})(scope, receive, send)
        if claim.state == "reused":
            return await _refusal(422, "idempotency_key_reused", "this key was used with another request; "
                                  "send a new key for a new request")(scope, receive, send)
        if claim.state == "in_flight":
            return await _refusal(409, "idempotency_key_in_flight", "a request with this key is running; "
                                  "retry shortly", {"Retry-After": RETRY_AFTER_S})(scope, receive, send)

        messages = []

        async def keep(message):  # the answer goes out once it is recorded (or the key released)
            messages.append(message)

        try:
            with derived_ids(principal, key, fingerprint):
                await self.app(scope, receive, keep)
        except Exception:  # not on a cancellation: the route's thread may still run; its claim lapses
            await _release(calls, store, claim)
            raise
        start = messages[0]
        if 200 <= start["status"] < 300:
            headers = dict(start.get("headers", []))
            answer = Answer(start["status"], headers.get(b"content-type", b"application/json").decode("latin-1"),
                            b"".join(m.get("body", b"") for m in messages[1:]))
            try:
                await calls.run(store.record, claim, answer)
            except Exception as exc:  # the retry this 503 asks for finds the object (see above)
                await _release(calls, store, claim)
                return await (await error_response(request, exc))(scope, receive, send)
        else:
            await _release(calls, store, claim)
        for message in messages:
            await send(message)


async def _release(calls, store: IdempotencyStore, claim: Claim) -> None:
    """Best effort: a claim not released lapses by itself within a minute (``PENDING_MS``)."""
    try:
        await calls.run(store.release, claim)
    except Exception:
        log.warning("could not release an idempotency key; it lapses by itself", exc_info=True)


def _replay(body: bytes, receive):
    """``receive`` for the app, once the body has been read here: the body, then the client's own
    messages (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        return pending.pop() if pending else await receive()
    return replayed


_PARAMETER = {
    "name": HEADER, "in": "header", "required": False,
    "schema": {"type": "string", "pattern": REQUEST_KEY_PATTERN},
    "description": "Makes the create safe to retry (a UUID is a good key). Within 24 h, the same key "
                   "and the same request from the same caller answer what the first one answered "
                   f"(with `{REPLAYED}: true`); a retry of a create whose answer was lost makes nothing twice.",
}
_ANSWERS = {
    "409": "`idempotency_key_in_flight`: a request with this Idempotency-Key is running; see Retry-After",
    "422": "`idempotency_key_reused`: this Idempotency-Key went with another request (or the key is not "
           "1..255 printable ASCII characters)",
}


def document(app: FastAPI, routes: list) -> None:
    """In the OpenAPI document of every ``idempotent`` route: the header, its 409 and 422 answers,
    and the ``Idempotent-Replayed`` header of its 2xx answer. Wraps ``app.openapi`` (api/auth.py's)."""
    inner = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = inner()
        for (method, _), route in idempotent_routes(routes).items():
            op = doc["paths"][route.path_format][method.lower()]
            op.setdefault("parameters", []).append(_PARAMETER)
            for status, response in op["responses"].items():
                if status.startswith("2"):
                    response.setdefault("headers", {})[REPLAYED] = {
                        "description": "`true` when this is the answer of an earlier request with the same "
                                       "Idempotency-Key", "schema": {"type": "string", "enum": ["true"]}}
            for status, text in _ANSWERS.items():
                response = op["responses"].setdefault(status, {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
                response["description"] = f"{response['description']}; {text}" if "description" in response else text
        return doc
    app.openapi = openapi
