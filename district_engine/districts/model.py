"""The District: an operator's shopping district, a named footprint polygon in WGS-84."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import h3
import shapely

from district_engine.errors import InvalidInputError
from district_engine.validation import check_text
from district_engine.geo.footprint import footprint_to_geojson, parse_footprint
from district_engine.geo.geodesy import footprint_centre

__all__ = ["District", "FOOTPRINT_CELL_RES"]

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FOOTPRINT_CELL_RES = 11  # ~25 m cells: a few hundred per footprint, enough to draw and to join on


def _text(props: dict, key: str, *, required: bool, max_len: int = 200) -> str | None:
    value = props.get(key)
    if value is None and not required:
        return None
    check_text(value, f"properties.{key}", max_len)
    if not value.strip():
        raise InvalidInputError(f"must be a non-empty string of at most {max_len} characters", field=f"properties.{key}")
    return value.strip()


@dataclass(frozen=True, eq=False)
class District:
    """A district: stable ``id``, display names, and its footprint (shapely, x=lng, y=lat, WGS-84)."""

    id: str
    name: str
    city: str
    geometry: shapely.Geometry = field(repr=False)
    name_zh: str | None = None
    properties: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if not isinstance(self.id, str) or not _ID_RE.match(self.id):
            raise InvalidInputError(
                "must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit",
                field="id",
            )

    @classmethod
    def from_geojson(cls, feature: dict, default_id: str | None = None) -> District:
        """Build from a GeoJSON Feature; ``properties`` need ``name`` and ``city``, and ``id`` (or the
        Feature's ``id``) unless ``default_id`` is given: the id of a Feature that names none (one
        exported from QGIS or geojson.io)."""
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise InvalidInputError("must be a GeoJSON Feature object", field="type")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise InvalidInputError("must be an object", field="properties")
        district_id = props.get("id", feature.get("id"))
        if district_id is None:
            district_id = default_id
        if district_id is None:
            raise InvalidInputError("a district needs an id (properties.id or the Feature's id)", field="properties.id")
        return cls(
            id=district_id,
            name=_text(props, "name", required=True),
            city=_text(props, "city", required=True),
            name_zh=_text(props, "name_zh", required=False),
            geometry=parse_footprint(feature.get("geometry")),
            properties={k: v for k, v in props.items() if k not in ("id", "name", "city", "name_zh")},
        )

    def to_geojson(self) -> dict:
        """This district as a GeoJSON Feature ([lng, lat] positions)."""
        props = {"id": self.id, "name": self.name, "city": self.city}
        if self.name_zh:
            props["name_zh"] = self.name_zh
        return {"type": "Feature", "id": self.id, "properties": props | self.properties,
                "geometry": footprint_to_geojson(self.geometry)}

    @cached_property
    def centre(self) -> tuple[float, float]:
        """(lat, lng) of the footprint's bounding-box centre, the origin of its local frame."""
        return footprint_centre(self.geometry)

    def footprint_cells(self, res: int = FOOTPRINT_CELL_RES) -> list[str]:
        """H3 cells (strings) at ``res`` that overlap the footprint, sorted."""
        shape = h3.geo_to_h3shape(shapely.geometry.mapping(self.geometry))
        return sorted(h3.h3shape_to_cells_experimental(shape, res, contain="overlap"))
