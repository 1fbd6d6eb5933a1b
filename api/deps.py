"""Request dependencies: the services a router depends on, one each (who calls is api/auth.py).

The composition root (district_engine/engine.py) builds them at start-up; ``app.state.engine``
holds it. Async: resolving one costs no thread hop (the feed answers on the event loop).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from district_engine.campaigns.service import Campaigns
from district_engine.catalog import Catalog
from district_engine.channel import Channel
from district_engine.delivery.endpoints import Endpoints
from district_engine.districts.maps import Maps
from district_engine.districts.service import Districts
from district_engine.guides import Guides
from district_engine.identity.service import Identity
from district_engine.parking.service import Parking
from district_engine.redenvelope.service import Rains


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.engine.catalog


async def get_districts(request: Request) -> Districts:
    return request.app.state.engine.districts


async def get_maps(request: Request) -> Maps:
    return request.app.state.engine.maps


async def get_campaigns(request: Request) -> Campaigns:
    return request.app.state.engine.campaigns


async def get_channel(request: Request) -> Channel:
    return request.app.state.engine.channel


async def get_rains(request: Request) -> Rains:
    return request.app.state.engine.rains


async def get_parking(request: Request) -> Parking:
    return request.app.state.engine.parking


async def get_endpoints(request: Request) -> Endpoints:
    return request.app.state.engine.endpoints


async def get_guides(request: Request) -> Guides:
    return request.app.state.engine.guides


async def get_identity(request: Request) -> Identity:
    return request.app.state.identity


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
DistrictsDep = Annotated[Districts, Depends(get_districts)]
MapsDep = Annotated[Maps, Depends(get_maps)]
CampaignsDep = Annotated[Campaigns, Depends(get_campaigns)]
ChannelServiceDep = Annotated[Channel, Depends(get_channel)]
RainsDep = Annotated[Rains, Depends(get_rains)]
ParkingDep = Annotated[Parking, Depends(get_parking)]
EndpointsDep = Annotated[Endpoints, Depends(get_endpoints)]
GuidesDep = Annotated[Guides, Depends(get_guides)]
IdentityDep = Annotated[Identity, Depends(get_identity)]
