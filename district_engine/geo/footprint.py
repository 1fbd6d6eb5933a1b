"""Parse and validate a GeoJSON footprint (RFC 7946 Polygon or MultiPolygon, [lng, lat] positions).

The result is a shapely geometry in GeoJSON axis order (x = lng, y = lat) with RFC 7946 winding
(exterior rings counter-clockwise, holes clockwise): wrong winding is accepted and normalised,
everything else that is wrong raises InvalidInputError naming the field.
"""

from __future__ import annotations

import json
import math
from typing import Any

import shapely
from shapely.validation import explain_validity

from district_engine.errors import InvalidInputError
from district_engine.geo.geodesy import WGS84

__all__ = ["parse_footprint", "footprint_to_geojson", "MAX_FOOTPRINT_EXTENT_M", "MAX_FOOTPRINT_VERTICES"]

MAX_FOOTPRINT_EXTENT_M = 20_000.0  # a shopping district is at most a few km; keeps local planes exact
MAX_FOOTPRINT_VERTICES = 10_000
_MAX_ABS_LAT = 85.0


def _position(p: object, field: str) -> tuple[float, float]:
    if not isinstance(p, (list, tuple)) or len(p) < 2:
        raise InvalidInputError(f"a position must be [lng, lat], got {p!r}", field=field)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p[:2]):
        raise InvalidInputError(f"a position must hold JSON numbers, got {p!r}", field=field)  # not "39.9", not false
    try:
        lng, lat = float(p[0]), float(p[1])
    except (TypeError, ValueError):
        raise InvalidInputError(f"a position must hold numbers, got {p!r}", field=field) from None
    if not (math.isfinite(lng) and -180.0 <= lng <= 180.0):
        raise InvalidInputError(f"longitude must be within [-180, 180], got {p[0]!r}", field=field)
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise InvalidInputError(f"latitude must be within [-90, 90], got {p[1]!r}", field=field)
    return lng, lat


def _ring(ring: object, field: str) -> list[tuple[float, float]]:
    if not isinstance(ring, (list, tuple)):
        raise InvalidInputError(f"a linear ring must be an array of positions, got {type(ring).__name__}", field=field)
    if len(ring) < 4:
        raise InvalidInputError(f"a linear ring needs at least 4 positions, got {len(ring)}", field=field)
    pts = [_position(p, f"{field}[{i}]") for i, p in enumerate(ring)]
    if pts[0] != pts[-1]:
        raise InvalidInputError("a linear ring must be closed (its last position equal to its first)", field=field)
    lngs = [p[0] for p in pts]
    if any(abs(a - b) > 180.0 for a, b in zip(lngs, lngs[1:])):
        raise InvalidInputError("footprints crossing the antimeridian are not supported", field=field)
    if any(abs(p[1]) > _MAX_ABS_LAT for p in pts):
        raise InvalidInputError(f"footprints beyond latitude +-{_MAX_ABS_LAT:g} (polar) are not supported", field=field)
    return pts


def _polygon(rings: object, field: str) -> shapely.Polygon:
    if not isinstance(rings, (list, tuple)) or not rings:
        raise InvalidInputError("a polygon must be a non-empty array of linear rings", field=field)
    parsed = [_ring(r, f"{field}[{i}]") for i, r in enumerate(rings)]
    return shapely.Polygon(parsed[0], parsed[1:])


def parse_footprint(geometry: object, field: str = "geometry") -> shapely.Geometry:
    """Return a valid, normalised shapely (Multi)Polygon from a GeoJSON geometry object (a dict)."""
    if not isinstance(geometry, dict):
        raise InvalidInputError("must be a GeoJSON geometry object", field=field)
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        geom = _polygon(coords, f"{field}.coordinates")
    elif kind == "MultiPolygon":
        if not isinstance(coords, (list, tuple)) or not coords:
            raise InvalidInputError("a MultiPolygon must be a non-empty array of polygons", field=f"{field}.coordinates")
        geom = shapely.MultiPolygon([_polygon(p, f"{field}.coordinates[{i}]") for i, p in enumerate(coords)])
    else:
        raise InvalidInputError(f"type must be Polygon or MultiPolygon, got {kind!r}", field=f"{field}.type")
    if shapely.get_num_coordinates(geom) > MAX_FOOTPRINT_VERTICES:
        raise InvalidInputError(f"at most {MAX_FOOTPRINT_VERTICES} positions per footprint", field=field)
    if not shapely.is_valid(geom):
        raise InvalidInputError(f"invalid polygon: {explain_validity(geom)}", field=field)
    if shapely.area(geom) <= 0.0:
        raise InvalidInputError("footprint has no area", field=field)
    min_lng, min_lat, max_lng, max_lat = shapely.bounds(geom)
    _, _, diagonal_m = WGS84.inv(min_lng, min_lat, max_lng, max_lat)
    if diagonal_m > MAX_FOOTPRINT_EXTENT_M:
        raise InvalidInputError(
            f"footprint spans {diagonal_m / 1000:.1f} km; at most {MAX_FOOTPRINT_EXTENT_M / 1000:g} km is supported",
            field=field,
        )
    return shapely.orient_polygons(geom, exterior_cw=False)


def footprint_to_geojson(geom: shapely.Geometry) -> dict[str, Any]:
    """The GeoJSON geometry object of a shapely footprint: a dict with [lng, lat] positions in lists."""
    geojson: dict[str, Any] = json.loads(shapely.to_geojson(geom))
    return geojson
