"""The channels' routes: the feed of offers near a point (public), user locations (one, or many
queued for the matchers), and a user's pushed offers as server-sent events. A channel key acts for
any of its users (named by ``user_id``), a user token for its own user only."""

import asyncio

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from api.auth import ChannelDep, ChannelUserDep, declare, principal_of
from api.deps import ChannelServiceDep
from api.fastpath import OfferJson, direct, locations_json
from api.schemas.core import (REQUEST_KEY_PATTERN, TEXT_PATTERN, Coord, Feed, LocationIn, LocationOut, OfferPublic,
                              error_responses, json_body, request_key)
from api.schemas.push import LocationBatchAccepted, LocationBatchIn
from district_engine.campaigns.offers import Offer
from district_engine.channel import Channel
from district_engine.identity import Kind, Principal
from district_engine.store.streams import STREAM_ID, stream_id_key
from district_engine.errors import InvalidInputError

router = APIRouter(prefix="/v1", tags=["channels"], responses=error_responses(401, 403, 413, 422, 503))


def offer_public(o: Offer, service: Channel) -> OfferPublic:
    c = o.campaign
    parking = {}
    if c.parking:
        lot_id = c.parking["lot_id"]
        parking = {"lot_id": lot_id, "free_spaces": service.free_spaces(c.district_id, lot_id)}
    return OfferPublic(campaign_id=c.id, district_id=c.district_id, district_name=service.district_name(c.district_id),
                       kind=c.kind.value, title=c.title, body=c.body, distance_m=round(o.distance_m, 1),
                       starts_at=c.starts_at, ends_at=c.ends_at, **parking)


# async: the feed is answered from memory in microseconds, a thread hop would cost more than that.
@router.get("/feed", response_model=Feed, summary="Live offers within reach of a point, nearest first (records nothing)",
            description="Public. With `user_id` and a credential for that user (the channel's key, or the user's "
                        "token), the user's members-only offers (the campaigns of the stores whose guides the user "
                        "is a member of) come first, wherever the point is; that credential is then checked (401, "
                        "403). Without `user_id`, any credential is ignored.")
@declare(optional=(Kind.CHANNEL, Kind.USER))
async def feed(request: Request, service: ChannelServiceDep, lat: float = Query(ge=-90, le=90, examples=[39.9310]),
               lng: float = Query(ge=-180, le=180, examples=[116.4600]),
               coord: Coord = "wgs84",
               user_id: str | None = Query(
                   default=None, min_length=1, max_length=128, pattern=TEXT_PATTERN, description=(
                       "with a credential for this user: the user whose members-only offers are added; without "
                       "a credential it is ignored")),
               limit: int = Query(default=20, ge=1, le=200)) -> Feed:
    user = None
    if user_id is not None and "authorization" in request.headers:  # else public: read from memory only
        user = (await principal_of(request, (Kind.CHANNEL, Kind.USER))).user(user_id)
    if user is not None and service.members_live():  # the members read Redis: off the loop
        offers = await request.app.state.store_calls.run(service.feed, lat, lng, coord, limit, user)
    else:
        offers = service.feed(lat, lng, coord, limit)
    request.app.state.offers_counter.labels("feed").inc(len(offers))
    return Feed(offers=[offer_public(o, service) for o in offers])


def offer_public_json(o: Offer, service: Channel, offer_json: OfferJson) -> str:
    """``offer_public(o, service).model_dump_json()``, the same bytes, from the campaign's part
    serialized once (api/fastpath.py)."""
    return offer_json(o, service.district_name(o.campaign.district_id), lambda x: offer_public(x, service))


# async: the updates that arrive in one turn of the event loop share one Redis round trip, on a
# Redis thread (api/batching.py, api/offload.py). A fast route (api/fastpath.py): it reads its own
# body and answers its own JSON.
@router.post("/locations", response_model=LocationOut,
             openapi_extra=json_body(LocationIn) | {"parameters": [{
                 "name": "Idempotency-Key", "in": "header", "required": False,
                 "schema": {"type": "string", "pattern": REQUEST_KEY_PATTERN},
                 "description": "Your name for this update: sent again after a 503 or a lost answer, it answers the "
                                "offers it gave, and pushes none of them again."}]},
             summary="A user's position: returns offers in reach this user had not been given")
@direct(LocationIn, Kind.CHANNEL, Kind.USER)
async def locations(request: Request, caller: Principal, body: LocationIn) -> Response:
    state = request.app.state
    placed = await state.locate_batcher.locate(caller.user(body.user_id), body.lat, body.lng, body.coord, body.at,
                                               body.accuracy_m, body.mocked,
                                               request_key(request.headers.get("idempotency-key")))
    state.offers_counter.labels("locations").inc(len(placed.offers))
    return Response(locations_json((offer_public_json(o, state.engine.channel, state.offer_json) for o in placed.offers),
                                   placed.untrusted), media_type="application/json")


@router.post("/locations:batch", status_code=202, response_model=LocationBatchAccepted,
             summary="Many positions at once (up to 10,000), queued for the matchers; offers go out as pushes")
def locations_batch(body: LocationBatchIn, service: ChannelServiceDep, channel: ChannelDep) -> LocationBatchAccepted:
    """A channel's backend only: each row names its user."""
    n = service.enqueue_locations([(channel.user(x.user_id) if x.user_id is not None else None, x.lat, x.lng, x.coord,
                                  x.accuracy_m, x.mocked) for x in body.locations])
    return LocationBatchAccepted(accepted=n)


KEEPALIVE_S = 15.0


@router.get("/users/{user_id}/stream", response_class=StreamingResponse,
            summary="The user's pushed offers as server-sent events; resume with Last-Event-ID (15 minutes kept)",
            responses={200: {"content": {"text/event-stream": {}}}})
async def user_stream(user_id: str, request: Request, service: ChannelServiceDep, caller: ChannelUserDep,
                      last_event_id: str = Header(
                          default=None, alias="Last-Event-ID",
                          # stated here, checked below: after whether the caller may read this stream
                          json_schema_extra={"pattern": f"^{STREAM_ID.pattern}$"})) -> StreamingResponse:
    user_id = caller.user(user_id)
    if last_event_id is not None and not STREAM_ID.fullmatch(last_event_id):
        raise InvalidInputError("must be an id this stream sent", field="Last-Event-ID")
    hub = request.app.state.hub
    queue = await asyncio.to_thread(hub.subscribe, user_id)

    async def events():
        last = last_event_id
        try:
            yield ": connected\n\n"
            if last is not None:  # resume: what was pushed since, then live
                for sid, payload in await asyncio.to_thread(service.events_after, user_id, last):
                    yield f"id: {sid}\nevent: offer\ndata: {payload}\n\n"
                    last = sid
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if item is None:  # fell too far behind: close; the client resumes from its last id
                    return
                sid, payload = item
                if last is not None and stream_id_key(sid) <= stream_id_key(last):
                    continue  # already sent by the resume
                yield f"id: {sid}\nevent: offer\ndata: {payload}\n\n"
                last = sid
        finally:
            hub.unsubscribe(user_id, queue)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
