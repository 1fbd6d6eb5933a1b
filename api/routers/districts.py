from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from api.auth import OperatorDep, declare, principal_of
from api.deps import DistrictsDep, MapsDep
from api.idempotency import idempotent
from district_engine.identity import Kind
from api.schemas.core import DistrictSummary, error_responses
from district_engine.districts.model import District
from district_engine.ids import new_id

router = APIRouter(prefix="/v1/districts", tags=["districts"], responses=error_responses(401, 403, 404, 409, 413, 422, 503))

FEATURE_EXAMPLE = {
    "type": "Feature",
    "properties": {"id": "my-mall", "name": "My Mall", "name_zh": "我的商场", "city": "Hangzhou"},
    "geometry": {"type": "Polygon", "coordinates": [[[120.160, 30.250], [120.163, 30.250], [120.163, 30.252],
                                                      [120.160, 30.252], [120.160, 30.250]]]},
}


def _summary(d: District) -> DistrictSummary:
    lat, lng = d.centre
    return DistrictSummary(id=d.id, name=d.name, name_zh=d.name_zh, city=d.city, centroid={"lat": lat, "lng": lng})


@router.post("", status_code=201, response_model=DistrictSummary,
             responses={200: {"model": DistrictSummary, "description": "one of your districts, replaced"}},
             summary="Upload a district: a GeoJSON Feature (Polygon or MultiPolygon, [lng, lat])",
             description="`properties.name` and `properties.city` are required. `properties.id` (or the "
                         "Feature's `id`) is optional: without one (a Feature exported from QGIS or geojson.io) "
                         "the server makes an id (`dst_...`), answered in the 201. With an id of one of your "
                         "districts, that district is replaced (200).")
@idempotent
def create_district(districts: DistrictsDep, operator: OperatorDep, response: Response,
                    feature: Annotated[dict, Body(examples=[FEATURE_EXAMPLE])]) -> DistrictSummary:
    made_id = new_id("dst")  # used only if the Feature names no id; derived from an Idempotency-Key
    district = District.from_geojson(feature, default_id=made_id)
    # A server-made id already stored can only be this request's own first run (its answer lost):
    # still the create, 201.
    if not districts.put(district, operator) and district.id != made_id:
        response.status_code = 200  # replaced the operator's own district of that id
    return _summary(district)


@router.get("", summary="All districts (public, for the city channel); mine=true: only yours (API key)")
@declare(optional=(Kind.OPERATOR,))
async def list_districts(request: Request, districts: DistrictsDep, mine: bool = False) -> dict:  # from memory
    owner = (await principal_of(request, (Kind.OPERATOR,))).id if mine else None
    return {"districts": [_summary(s.district).model_dump() for s in districts.all(owner)]}


@router.get("/{district_id}", summary="One district as a GeoJSON Feature")
@declare()
def get_district(district_id: str, districts: DistrictsDep) -> dict:
    return districts.get(district_id).to_geojson()


@router.get("/{district_id}/cells", summary="The district's reach for a map (3 km or radius_m): H3 cells and outline (GeoJSON)",
            description="A FeatureCollection ([lng, lat]): `interior` cells (every point in reach; compacted "
                        "to coarser cells where possible), `boundary` cells (an exact geodesic check decides "
                        "there) and the `outline`, the points `radius_m` from the footprint on WGS-84.")
@declare()
def district_cells(district_id: str, maps: MapsDep,
                   radius_m: float = Query(3000, gt=0, le=3000, description="metres (at most 3 km)")) -> dict:
    return maps.reach_map(district_id, radius_m)


@router.get("/{district_id}/density", summary="Users in your district's reach now, per H3 cell (GeoJSON)",
            description="Counts of users whose last position (within its TTL) is in reach, per H3 cell at "
                        "resolution 8. Counts only: cells with fewer than `min_users` (5) users are left out.")
def district_density(district_id: str, maps: MapsDep, operator: OperatorDep) -> dict:
    return maps.density(district_id, operator)


@router.delete("/{district_id}", status_code=204, summary="Delete one of your districts; its campaigns end")
def delete_district(district_id: str, districts: DistrictsDep, operator: OperatorDep) -> Response:
    districts.delete(district_id, operator)
    return Response(status_code=204)
