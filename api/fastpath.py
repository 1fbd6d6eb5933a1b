"""The fast path: the hot routes served past FastAPI's routing, middleware stack and dependency
injection, and their answers' JSON made from pieces serialized once (docs/api.md says what each
saves).

A fast route is an ordinary FastAPI route too (OpenAPI, and the same function): its endpoint takes
only the ``Request``, checks its caller and reads its body itself (``direct``). ``FastPath.serve``
calls it from the request middleware; its errors are answered from the one error table
(``api.errors.error_response``), so a client sees the same bytes either way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from pydantic import BaseModel
from pydantic_core import to_json
from starlette.requests import Request
from starlette.responses import Response

from api.auth import declare, principal_of
from api.errors import error_response
from api.schemas.core import OfferPublic, parse_json
from district_engine.campaigns.model import Campaign
from district_engine.campaigns.offers import Offer
from district_engine.fragments import split_at_holes
from district_engine.identity import Kind, Principal
from district_engine.identity.service import CALLS

__all__ = ["direct", "FastPath", "OfferJson", "locations_json"]


def direct(body: type[BaseModel], *kinds: Kind, budget: str = CALLS) -> Callable:
    """Mark ``async def handler(request, caller, body) -> Response`` as a fast route taking a JSON
    ``body`` from the ``kinds`` of principal (counted against ``budget``): the endpoint becomes
    ``f(request)``, which checks the caller (401, 403, 429) and parses the body (422) as
    FastAPI's dependencies would. Declare the body in the route's OpenAPI with
    ``openapi_extra=json_body(body)``."""
    def mark(handler: Callable[[Request, Principal, BaseModel], Awaitable[Response]]) -> Callable:
        async def endpoint(request: Request) -> Response:
            caller = await principal_of(request, kinds, budget=budget)
            return await handler(request, caller, parse_json(body, await request.body()))

        # Not functools.wraps: FastAPI would read the handler's parameters as the route's own.
        endpoint.__name__, endpoint.__qualname__ = handler.__name__, handler.__qualname__
        endpoint.__doc__ = handler.__doc__
        endpoint.direct = True  # type: ignore[attr-defined]
        return declare(*kinds)(endpoint)
    return mark


class FastPath:
    """The app's fast routes by (method, path), served by ``serve``. ``enabled=False`` leaves them
    to the framework (the same endpoints as plain routes), for comparing the two."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.routes: dict[tuple[str, str], object] = {}

    def add(self, routes: Iterable) -> None:
        """Take the routes whose endpoint is marked by ``direct``."""
        if self.enabled:
            self.routes.update({(m, r.path): r for r in routes if getattr(getattr(r, "endpoint", None), "direct", False)
                                for m in r.methods})

    def route(self, scope: dict):
        """The fast route for this request, or None (the framework serves it)."""
        return self.routes.get((scope["method"], scope["path"])) if self.routes else None

    async def serve(self, route, scope: dict, receive, send) -> None:
        scope["route"] = route  # for the latency metric and the access log
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except Exception as exc:  # no entry in the table: raised again, to the server's 500 as any route's
            response = await error_response(request, exc)
        await response(scope, receive, send)


class OfferJson:
    """Offers' JSON, the bytes ``OfferPublic.model_dump_json`` writes, from each campaign's part
    serialized once around its distance. Kept per campaign while the campaign is the same object
    and its district the same name (a changed campaign is a new object in the view), for the
    ``max_campaigns`` used last; 0 serializes every offer whole. Parking offers carry live free
    spaces: always serialized whole. For the event loop's thread only."""

    def __init__(self, max_campaigns: int):
        self.max_campaigns = max_campaigns
        self._pieces: OrderedDict[str, tuple[Campaign, str, str, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pieces)

    def __call__(self, offer: Offer, district_name: str, public: Callable[[Offer], OfferPublic]) -> str:
        """``public(offer).model_dump_json()``; ``district_name`` is the one ``public`` writes."""
        c = offer.campaign
        if c.parking is not None or self.max_campaigns <= 0:
            return public(offer).model_dump_json()
        kept = self._pieces.get(c.id)
        if kept is None or kept[0] is not c or kept[1] != district_name:
            def dump(holes) -> str:  # the same serializer's JSON of the same fields, the distance a hole
                return to_json(public(Offer(c, 0.0)).model_dump(mode="json") | {"distance_m": holes[0]}).decode()

            head, tail = split_at_holes(dump, 1)
            kept = self._pieces[c.id] = (c, district_name, head, tail)
            if len(self._pieces) > self.max_campaigns:
                self._pieces.popitem(last=False)
        else:
            self._pieces.move_to_end(c.id)
        return f"{kept[2]}{to_json(round(offer.distance_m, 1)).decode()}{kept[3]}"


def locations_json(offers: Iterable[str], untrusted: str | None) -> str:
    """``LocationOut``'s JSON from its offers' JSON (FastAPI would validate and serialize the model
    again)."""
    tail = "]}" if untrusted is None else f'],"untrusted":{to_json(untrusted).decode()}}}'
    return '{"new_offers":[' + ",".join(offers) + tail
