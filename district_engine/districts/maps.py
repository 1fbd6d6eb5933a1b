"""What the console draws: a district's reach as H3 cells with its outline, and the density of
users in reach (counts only, small cells left out). GeoJSON, [lng, lat]."""

from __future__ import annotations

import shapely

from district_engine.broadcasts import users_in_reach
from district_engine.catalog import Catalog
from district_engine.clock import Clock
from district_engine.errors import NotFoundError
from district_engine.geo.cover import REACH_RES, reach_cover
from district_engine.geo.geodesy import compile_footprints
from district_engine.geo.mapping import MIN_USERS_SHOWN, binned_counts, cell_features, reach_outline
from district_engine.geo.points import MAX_RADIUS_M, check_radius_m
from district_engine.store.deliveries import DeliveryStore

__all__ = ["Maps", "DENSITY_RES"]

DENSITY_RES = 8  # ~0.7 km² cells for the console's density layer


class Maps:
    def __init__(self, catalog: Catalog, deliveries: DeliveryStore, clock: Clock):
        self.catalog = catalog
        self.deliveries = deliveries
        self.clock = clock

    def reach_map(self, district_id: str, radius_m: float = MAX_RADIUS_M) -> dict:
        """The district's reach at ``radius_m`` (a campaign's radius; 3 km by default), a GeoJSON
        FeatureCollection: the H3 cells covering it as the matcher covers it (``interior``: every
        point in reach; ``boundary``: an exact distance check decides there) and its ``outline``.
        Cells are not compacted: a parent cell's outline is not its children's."""
        radius_m = check_radius_m(radius_m)
        stored = self.catalog.view.stored.get(district_id)
        if stored is None:
            raise NotFoundError(f"no district {district_id!r}", field="district_id")
        district = stored.district
        cover = reach_cover(compile_footprints([district.geometry]), radius_m, res=REACH_RES)
        outline = reach_outline(district.geometry, radius_m, district.centre)
        return {"type": "FeatureCollection", "radius_m": radius_m, "res": REACH_RES, "features": [
            *cell_features(cover.cells, [{"kind": "interior" if i else "boundary"} for i in cover.interior.tolist()]),
            {"type": "Feature", "properties": {"kind": "outline", "radius_m": radius_m},
             "geometry": shapely.geometry.mapping(outline)},
        ]}

    def density(self, district_id: str, owner: str) -> dict:
        """Users in the owner's district's reach now, counted per H3 cell (DENSITY_RES), as a GeoJSON
        FeatureCollection. Counts only: a cell with fewer than MIN_USERS_SHOWN users is left out."""
        self.catalog.owned(district_id, owner)
        stored = self.catalog.view.stored.get(district_id)
        if stored is None:
            raise NotFoundError(f"no district {district_id!r}", field="district_id")
        found, _, reach = users_in_reach(self.deliveries, stored.district, MAX_RADIUS_M, self.clock())
        cells, counts = binned_counts(found.lats[reach], found.lngs[reach], DENSITY_RES)
        return {"type": "FeatureCollection", "res": DENSITY_RES, "min_users": MIN_USERS_SHOWN,
                "features": cell_features(cells, [{"users": int(n)} for n in counts.tolist()])}
