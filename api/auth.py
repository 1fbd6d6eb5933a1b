"""Who may call what: every route declares the kinds of principal it accepts (``allow``), one
dependency resolves the bearer credential (district_engine/identity), and the OpenAPI document
names, per route, the security schemes it accepts. tests/api/test_principals.py calls every route
with every kind of credential.

A missing or bad credential is a 401; a valid credential of a kind the route does not take is a
403 (the caller is known, and not allowed here).
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Annotated, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi

from district_engine.errors import ForbiddenError, UnauthorizedError
from district_engine.identity import Kind, Principal
from district_engine.identity.service import CALLS, CacheMiss

__all__ = ["allow", "declare", "principal_of", "declared_kinds", "install_openapi", "trusted_networks",
           "client_address", "OperatorDep", "AdminDep", "ChannelUserDep", "ChannelDep", "OperatorOrChannelDep"]

SCHEMES = {
    Kind.ADMIN: {"type": "http", "scheme": "bearer", "description": "The deployment's DE_ADMIN_TOKEN."},
    Kind.OPERATOR: {"type": "http", "scheme": "bearer", "description": "A mall operator's API key (de_live_...)."},
    Kind.CHANNEL: {"type": "http", "scheme": "bearer",
                   "description": "A channel's API key (de_chan_...): an app backend acting for its users."},
    Kind.USER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A user token: HS256 JWT signed with the channel's token secret "
                               "(iss = channel id, sub = user id, aud = district-engine, exp at most 24 h ahead)."},
    Kind.GATE: {"type": "apiKey", "in": "header", "name": "webhook-signature",
                "description": "Standard Webhooks signature with the lot's secret "
                               "(webhook-id, webhook-timestamp, webhook-signature)."},
}
SCHEME_NAMES = {Kind.ADMIN: "admin", Kind.OPERATOR: "operatorKey", Kind.CHANNEL: "channelKey",
                Kind.USER: "userToken", Kind.GATE: "gateSignature"}


def _bearer(request: Request) -> str | None:
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:  # which one counts would be up to each proxy on the way: none does
        raise UnauthorizedError("send one Authorization header, not several")
    header = headers[0] if headers else None
    if not header:
        return None
    scheme, _, credential = header.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else None


def trusted_networks(spec: str) -> tuple:
    """DE_TRUSTED_PROXIES ("10.0.0.1, 10.1.0.0/16") as networks."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip())


def client_address(request: Request) -> str | None:
    """The device's address: the peer, or, when the peer is a trusted proxy, the nearest address
    in X-Forwarded-For that is not one (the ones further left are the client's own say-so)."""
    peer = request.client.host if request.client else None
    proxies = request.app.state.trusted_proxies
    if not peer or not proxies or not _in(peer, proxies):
        return peer
    for hop in reversed([h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]):
        if not _in(hop, proxies):
            return hop
    return peer


def _in(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


async def principal_of(request: Request, kinds: tuple[Kind, ...], budget: str = CALLS) -> Principal:
    """The caller, if it is of one of ``kinds``; 401 if it is nobody, 403 if it may not call here,
    429 past its rate limit. A cached key costs a hash and a dict lookup on the event loop; a
    lookup the cache misses, and an operator's call count, go to a Redis thread (api/offload.py)."""
    state = request.app.state
    bearer = _bearer(request)
    try:
        principal = state.identity.authenticate(bearer, cached_only=True)
    except CacheMiss:
        principal = await state.store_calls.run(state.identity.authenticate, bearer)
    if principal.kind is Kind.USER:  # only a device's calls are counted by address
        principal = replace(principal, address=client_address(request))
    if principal.kind not in kinds:
        names = " or ".join(SCHEME_NAMES[k] for k in kinds)
        raise ForbiddenError(f"this route takes {names}, not {SCHEME_NAMES[principal.kind]}", code="wrong_principal")
    if state.identity.counts_calls(principal, budget):  # rate limits count the principal, once it is known
        await state.admit_batcher.admit(principal, budget)
    return principal


def allow(*kinds: Kind) -> Callable:
    """The dependency of a route that the ``kinds`` of principal may call."""
    async def dependency(request: Request) -> Principal:
        return await principal_of(request, kinds)
    dependency.principals = kinds
    return dependency


def declare(*kinds: Kind, optional: tuple[Kind, ...] = ()) -> Callable:
    """Declares the callers of a route that takes anyone (no ``kinds``), or that checks its caller
    itself (a gate's signature needs the body): an attribute of the endpoint, costing nothing per
    request. ``optional``: kinds whose credential a public route reads when given (``?mine=true``)."""
    def mark(endpoint):
        endpoint.principals = kinds
        endpoint.optional = optional
        return endpoint
    return mark


def declared_kinds(route) -> tuple[Kind, ...] | None:
    """The kinds a route declares (() for public), or None if it declares nothing."""
    for dep in _walk(route.dependant):
        kinds = getattr(dep.call, "principals", None)
        if kinds is not None:
            return kinds
    return getattr(route.endpoint, "principals", None)  # declared on the endpoint (``declare``)


def _optional(route) -> tuple[Kind, ...]:
    return getattr(route.endpoint, "optional", ())


def _walk(dependant):
    for dep in dependant.dependencies:
        yield dep
        yield from _walk(dep)


def install_openapi(app: FastAPI, routes: list) -> None:
    """Every route's ``security`` in the OpenAPI document: the schemes of the kinds it declares.
    ``routes``: the API's routes (the app's own list holds its routers, not their routes)."""
    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        doc.setdefault("components", {})["securitySchemes"] = {SCHEME_NAMES[k]: s for k, s in SCHEMES.items()}
        for route in routes:
            kinds = declared_kinds(route)
            if kinds is None:
                continue
            for method in route.methods - {"HEAD"}:
                op = doc["paths"].get(route.path_format, {}).get(method.lower())
                if op is not None:
                    optional = _optional(route)
                    op["security"] = ([{}] if optional else []) + [{SCHEME_NAMES[k]: []} for k in kinds + optional]
        app.openapi_schema = doc
        return doc
    app.openapi = openapi


async def _operator_id(principal: Annotated[Principal, Depends(allow(Kind.OPERATOR))]) -> str:
    return principal.id


OperatorDep = Annotated[str, Depends(_operator_id)]
AdminDep = Annotated[Principal, Depends(allow(Kind.ADMIN))]
ChannelDep = Annotated[Principal, Depends(allow(Kind.CHANNEL))]
ChannelUserDep = Annotated[Principal, Depends(allow(Kind.CHANNEL, Kind.USER))]
OperatorOrChannelDep = Annotated[Principal, Depends(allow(Kind.OPERATOR, Kind.CHANNEL))]
