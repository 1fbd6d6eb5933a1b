"""A fast local webhook receiver for bench/push.py: one aiohttp process (uvloop when installed)
that verifies every request's Standard Webhooks signature and counts.

POST to any path: 204 once the signature verifies, 401 otherwise. GET /count:
{"received": verified requests, "bad_signatures": ..., "unique": distinct verified webhook-ids}.

    DE_BENCH_WEBHOOK_SECRET=whsec_... python bench/webhook_receiver.py --port 8765
"""

from __future__ import annotations

import argparse
import os
import time

from aiohttp import web

from district_engine.errors import UnauthorizedError
from district_engine.signing import verify

SECRET_ENV = "DE_BENCH_WEBHOOK_SECRET"


def make_app(secrets: list[str]) -> web.Application:
    counts = {"received": 0, "bad_signatures": 0}
    seen: set[str] = set()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        h = request.headers
        try:
            verify(secrets, h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature"), body,
                   now_s=time.time())
        except UnauthorizedError:
            counts["bad_signatures"] += 1
            return web.Response(status=401)
        counts["received"] += 1
        seen.add(h["webhook-id"])
        return web.Response(status=204)

    async def count(request: web.Request) -> web.Response:
        return web.json_response({**counts, "unique": len(seen)})

    app = web.Application()
    app.router.add_get("/count", count)
    app.router.add_post("/{path:.*}", hook)
    return app


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", action="append", help=f"signing secret (repeatable); default: ${SECRET_ENV}")
    args = ap.parse_args(argv)
    secrets = args.secret or [os.environ[SECRET_ENV]]
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = None
    # A deep backlog: the senders open hundreds of connections at once, and a dropped SYN costs 1 s.
    web.run_app(make_app(secrets), host="127.0.0.1", port=args.port, backlog=4096, access_log=None,
                print=None, loop=loop)


if __name__ == "__main__":
    main()
