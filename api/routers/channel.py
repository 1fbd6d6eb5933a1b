"""The city channel's routes: the feed of offers near a point, and user locations."""

from fastapi import APIRouter, Query, Request

from api.deps import EngineDep
from api.schemas.core import Coord, Feed, LocationIn, LocationOut, OfferPublic, error_responses
from district_engine.campaigns.offers import Offer

router = APIRouter(prefix="/v1", tags=["city channel"], responses=error_responses(413, 422, 503))


def offer_public(o: Offer, engine) -> OfferPublic:
    c = o.campaign
    return OfferPublic(campaign_id=c.id, district_id=c.district_id, district_name=engine.district_name(c.district_id),
                       kind=c.kind.value, title=c.title, body=c.body, distance_m=round(o.distance_m, 1),
                       starts_at=c.starts_at, ends_at=c.ends_at)


# async: the feed is answered from memory in microseconds, a thread hop would cost more than that.
@router.get("/feed", response_model=Feed, summary="Live offers within reach of a point, nearest first (records nothing)")
async def feed(request: Request, engine: EngineDep, lat: float = Query(examples=[39.9310]), lng: float = Query(examples=[116.4600]),
         coord: Coord = "wgs84",
               user_id: str | None = Query(default=None, description="accepted per the v1 contract; the feed is not personalised and records nothing"),
               limit: int = Query(default=20, ge=1, le=200)) -> Feed:
    offers = engine.feed(lat, lng, coord, limit)
    request.app.state.offers_counter.labels("feed").inc(len(offers))
    return Feed(offers=[offer_public(o, engine) for o in offers])


# async on purpose: its one Redis round trip (~0.1 ms on a local server) costs less inline than a
# thread hop, and the tail is 4x better (docs/api.md); the client's timeouts bound a stall.
@router.post("/locations", response_model=LocationOut,
             summary="A user's position: returns offers in reach this user had not been given")
async def locations(request: Request, body: LocationIn, engine: EngineDep) -> LocationOut:
    offers = engine.locate(body.user_id, body.lat, body.lng, body.coord, body.at)
    request.app.state.offers_counter.labels("locations").inc(len(offers))
    return LocationOut(new_offers=[offer_public(o, engine) for o in offers])
