"""Builds the FastAPI app: settings, the engine on Redis, routers, error handlers, metrics."""

from __future__ import annotations

import gc
import threading
from contextlib import asynccontextmanager, ExitStack
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry, Counter, Histogram

from api import errors, idempotency, openapi
from api.auth import install_openapi, trusted_networks
from api.logs import configure
from api.batching import AdmitBatcher, GrabBatcher, LocateBatcher, OrderBatcher
from api.fastpath import FastPath, OfferJson
from api.middleware import RequestMiddleware
from api.offload import StoreCalls
from api.routers import campaigns, channel, districts, guides, health, operators, parking, push, redenvelopes
from district_engine.delivery.hub import Hub, running_hub
from district_engine.catalog import follow_changes
from district_engine.engine import Engine
from district_engine.identity.service import Identity
from district_engine.worker import Worker
from district_engine.settings import Settings, engine_options, worker_options
from district_engine.store import open_redis
from district_engine.store.idempotency import IdempotencyStore

CONSOLE_DIR = Path(__file__).parent / "console"
DOCS_ASSETS = "/docs/assets"  # Swagger UI's and ReDoc's scripts, styles and icon


def create_app(settings: Settings | None = None, client=None) -> FastAPI:
    """The app. ``client`` (a Redis client) is for tests; otherwise settings decide where Redis is."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        with ExitStack() as stack:
            redis_client = client if client is not None else stack.enter_context(open_redis(settings))
            engine = Engine(redis_client, **engine_options(settings))
            engine.catalog.load()
            app.state.engine = engine
            app.state.idempotency = IdempotencyStore(redis_client)
            app.state.identity = Identity(redis_client, settings.admin_token, cache_s=settings.auth_cache_s,
                                          operator_calls_per_minute=settings.operator_calls_per_minute,
                                          operator_orders_per_minute=settings.operator_orders_per_minute)
            app.state.store_calls = StoreCalls(settings.redis_timeout_ms / 1000)  # the async routes' Redis work
            stack.callback(app.state.store_calls.close)
            app.state.locate_batcher = LocateBatcher(engine.channel, app.state.store_calls)
            app.state.grab_batcher = GrabBatcher(engine.rains, app.state.store_calls)
            app.state.order_batcher = OrderBatcher(engine.guides, app.state.store_calls)
            app.state.admit_batcher = AdmitBatcher(app.state.identity, app.state.store_calls)
            stop = threading.Event()
            follower = threading.Thread(target=follow_changes, args=(engine.catalog, stop, settings.resync_s), daemon=True,
                                        name="changes")
            follower.start()
            app.state.hub = stack.enter_context(running_hub(Hub(engine.stores.outbox)))
            app.state.worker = stack.enter_context(Worker(engine, **worker_options(settings))) if settings.worker else None
            # Everything loaded so far (numba, the index, the view) lives as long as the process:
            # out of the collector's sight, a full collection no longer walks it mid-request.
            gc.freeze()
            try:
                yield
            finally:
                stop.set()
                follower.join(timeout=2)

    # /docs (Swagger UI) and /redoc load their scripts and styles from the engine itself (the
    # fastapi-offline package ships them), never from a CDN: they work offline. No validator badge:
    # Swagger UI would send the document to an outside validator.
    app = FastAPIOffline(title="district-engine", version="1", lifespan=lifespan, static_url=DOCS_ASSETS,
                         swagger_ui_parameters={"validatorUrl": None},
                         description="Geospatial smart-district broadcast engine. Coordinates are (lat, lng) with "
                                     "`coord` = wgs84 | gcj02 | bd09; GeoJSON keeps [lng, lat].")
    app.state.settings = settings
    app.state.trusted_proxies = trusted_networks(settings.trusted_proxies)
    registry = CollectorRegistry()
    app.state.registry = registry
    latency = Histogram("http_request_duration_seconds", "Request latency by route", ["method", "route", "status"],
                        registry=registry, buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
    app.state.offers_counter = Counter("offers_total", "Offers returned, by route (feed) or delivered (locations)",
                                       ["route"], registry=registry)

    # The offers' JSON pieces (api/fastpath.py): this app's, bounded, dropped with it.
    app.state.offer_json = OfferJson(settings.offer_json_campaigns)
    fastpath, idempotent = FastPath(enabled=settings.direct_routes), {}
    app.add_middleware(idempotency.IdempotencyMiddleware, routes=idempotent)  # added first: inside RequestMiddleware
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes, latency=latency, fastpath=fastpath)
    errors.install(app)
    routers = (health.router, channel.router, operators.router, districts.router, campaigns.router, redenvelopes.router,
               push.router, parking.router, guides.router, guides.orders)
    for r in routers:
        app.include_router(r)  # no prefix added: their routes' paths are the app's
    app.state.api_routes = [route for r in routers for route in r.routes]
    fastpath.add(app.state.api_routes)
    idempotent.update(idempotency.idempotent_routes(app.state.api_routes))
    install_openapi(app, app.state.api_routes)
    idempotency.document(app, app.state.api_routes)
    openapi.document(app)
    # The operator console: static files, no build step; it drives the API above with an operator's key.
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    return app


def app_factory() -> FastAPI:
    """For ``uvicorn --factory api.main:app_factory``: settings from DE_* variables, JSON logs."""
    configure()
    return create_app()
