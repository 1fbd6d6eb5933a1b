"""One pure-ASGI middleware for every request: request id, body-size limit, latency metric,
JSON access log. (Starlette's BaseHTTPMiddleware costs more than a feed request itself.)

It answers HEAD wherever GET is served: the GET's status and headers, without the body.

It hands the fast routes (api/fastpath.py) to the fast path instead of the framework.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from api.errors import error_body
from api.fastpath import FastPath
from api.logs import access_log

__all__ = ["RequestMiddleware"]


class _BodyTooLarge(Exception):
    pass


class RequestMiddleware:
    def __init__(self, app, max_body_bytes: int, latency, fastpath: FastPath | None = None):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.latency = latency
        self.fastpath = fastpath if fastpath is not None else FastPath(enabled=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method = scope["method"]
        if method == "HEAD":  # answered wherever GET is: the GET's status and headers, no body
            scope = {**scope, "method": "GET"}
            receive, send = _headers_only(receive, send)
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:128] or uuid.uuid4().hex
        start = time.perf_counter()
        status = 500
        started = False

        async def buffered_receive():
            """Read a body of unknown length up front, so an oversized one is refused before the app
            sees it (the app's body parser would turn any error in receive into a 400)."""
            messages, size = [], 0
            while True:
                message = await receive()
                messages.append(message)
                size += len(message.get("body", b""))
                if size > self.max_body_bytes:
                    raise _BodyTooLarge
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
            replay = iter(messages)
            return lambda: _next_or_receive(replay, receive)

        async def tagged_send(message):
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            length = headers.get(b"content-length")
            if length is not None:
                if not length.isdigit() or int(length) > self.max_body_bytes:
                    raise _BodyTooLarge
            elif scope["method"] in ("POST", "PUT", "PATCH"):
                receive = await buffered_receive()
            fast = self.fastpath.route(scope)
            if fast is None:
                await self.app(scope, receive, tagged_send)
            else:
                await self.fastpath.serve(fast, scope, receive, tagged_send)
        except _BodyTooLarge:
            if started:
                raise
            body = json.dumps(error_body("too_large", f"bodies are limited to {self.max_body_bytes} bytes")).encode()
            await tagged_send({"type": "http.response.start", "status": 413,
                               "headers": [(b"content-type", b"application/json"),
                                           (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", "unmatched")
            self.latency.labels(method, route, str(status)).observe(elapsed)
            access_log.info("request", extra={"fields": {
                "request_id": request_id, "method": method, "route": route, "status": status,
                "duration_ms": round(elapsed * 1000, 3)}})


def _headers_only(receive, send):
    """``receive`` and ``send`` for a HEAD request that the app answers as a GET: the client gets
    the status and headers (Content-Length included) and an empty body. Once they are out, the app
    hears that the client left, so that a stream (server-sent events) ends instead of running on."""
    answered = asyncio.Event()

    async def head_send(message):
        if message["type"] == "http.response.start":
            await send(message)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            answered.set()
        # the body's messages are dropped

    async def head_receive():
        if answered.is_set():
            return {"type": "http.disconnect"}
        message, told = asyncio.ensure_future(receive()), asyncio.ensure_future(answered.wait())
        await asyncio.wait((message, told), return_when=asyncio.FIRST_COMPLETED)
        if message.done():
            told.cancel()
            return message.result()
        message.cancel()
        return {"type": "http.disconnect"}

    return head_receive, head_send


async def _next_or_receive(replay, receive):
    message = next(replay, None)
    return message if message is not None else await receive()
