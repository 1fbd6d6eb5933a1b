"""The middleware hands the fast routes to the fast path (api/fastpath.py), past the framework."""

import asyncio

from fastapi.responses import JSONResponse, Response

from api.fastpath import FastPath
from api.middleware import RequestMiddleware
from district_engine.errors import InvalidInputError
from helpers import fast_route_app


class Histogram:
    def labels(self, *labels):
        self.seen = labels
        return self

    def observe(self, value):
        pass


def _app():
    app = fast_route_app()

    @app.exception_handler(InvalidInputError)  # not the fast path's: it answers from api/errors.py's table
    async def invalid(request, exc):
        return JSONResponse({"field": exc.field}, status_code=422)

    return app


async def _call(middleware, app, path, body):
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"content-length", str(len(body)).encode())],
             "app": app, "query_string": b""}
    await middleware(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_fast_route_is_served_without_the_framework_and_a_plain_one_by_it():
    app = _app()
    fastpath = FastPath()
    fastpath.add(app.routes)
    inner_calls = []

    async def inner(scope, receive, send):  # the framework: must not be reached for /fast
        inner_calls.append(scope["path"])
        await Response(b"framework")(scope, receive, send)

    latency = Histogram()
    mw = RequestMiddleware(inner, max_body_bytes=1024, latency=latency, fastpath=fastpath)
    assert asyncio.run(_call(mw, app, "/fast", b"hi")) == (200, b"fast:hi")
    assert latency.seen == ("POST", "/fast", "200") and inner_calls == []
    assert asyncio.run(_call(mw, app, "/fast", b"bad")) == (
        422, b'{"error":{"code":"invalid_input","message":"bad","field":"x"}}')
    assert asyncio.run(_call(mw, app, "/slow", b"")) == (200, b"framework") and inner_calls == ["/slow"]
    try:
        asyncio.run(_call(mw, app, "/fast", b"boom"))
    except RuntimeError as e:  # unhandled: up to the server-error middleware, as any route's
        assert str(e) == "unhandled"
    else:
        raise AssertionError("an unhandled error was swallowed")
