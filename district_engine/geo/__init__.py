"""Geo core: coordinates (WGS-84, GCJ-02, BD-09), geodesy, footprints and H3 reach covers."""

from district_engine.geo.coords import bd09_to_gcj02, convert, from_wgs84, gcj02_to_bd09, gcj02_to_wgs84, to_wgs84, wgs84_to_gcj02
from district_engine.geo.geodesy import WGS84, distance_to_footprint
from district_engine.geo.points import COORD_SYSTEMS, MAX_RADIUS_M

__all__ = [
    "COORD_SYSTEMS", "MAX_RADIUS_M", "WGS84", "to_wgs84", "from_wgs84", "convert", "wgs84_to_gcj02",
    "gcj02_to_wgs84", "gcj02_to_bd09", "bd09_to_gcj02", "distance_to_footprint",
]
