"""Request dependencies: the services a router depends on, one each (who calls is api/auth.py).

The composition root (district_engine/engine.py) builds them at start-up; ``app.state.engine``
holds it.
"""

from __future__ import annotations

from typing import Annotated, Any

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


def _service(name: str) -> Any:
    """The dependency on the engine's service ``name``. Async: resolving it costs no thread hop."""

    async def service(request: Request) -> Any:
        return getattr(request.app.state.engine, name)

    return Depends(service)


async def get_identity(request: Request) -> Identity:
    return request.app.state.identity


CatalogDep = Annotated[Catalog, _service("catalog")]
DistrictsDep = Annotated[Districts, _service("districts")]
MapsDep = Annotated[Maps, _service("maps")]
CampaignsDep = Annotated[Campaigns, _service("campaigns")]
ChannelServiceDep = Annotated[Channel, _service("channel")]
RainsDep = Annotated[Rains, _service("rains")]
ParkingDep = Annotated[Parking, _service("parking")]
EndpointsDep = Annotated[Endpoints, _service("endpoints")]
GuidesDep = Annotated[Guides, _service("guides")]
IdentityDep = Annotated[Identity, Depends(get_identity)]
