"""district-engine: a geospatial smart-district broadcast engine.

Coordinates are (lat, lng) in degrees everywhere in Python; GeoJSON keeps its own [lng, lat].
"""

from district_engine.districts.geodata import load_demo_districts, load_demo_lots, load_districts
from district_engine.districts.model import District
from district_engine.errors import (
    ConflictError,
    DistrictEngineError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
)
from district_engine.geo import distance_to_footprint, from_wgs84, to_wgs84
from district_engine.matching import BatchMatches, FenceTransition, Match, ReachIndex, fence_transition

__version__ = "0.1.0"

__all__ = [
    "District", "load_districts", "load_demo_districts", "load_demo_lots", "ReachIndex", "Match", "BatchMatches", "FenceTransition", "fence_transition",
    "to_wgs84", "from_wgs84", "distance_to_footprint",
    "DistrictEngineError", "InvalidInputError", "NotFoundError", "ConflictError", "ForbiddenError",
    "StoreUnavailableError", "StoreError",
]
