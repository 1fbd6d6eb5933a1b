"""What a map draws, as GeoJSON ([lng, lat] positions, WGS-84): H3 cells as polygons, the outline of
a reach area, and user counts binned by cell with small counts withheld.

Pure functions: no I/O. The console (``/console``) draws exactly these.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import h3.api.basic_int as h3i
import h3ronpy.vector as h3v
import numpy as np
from numpy.typing import ArrayLike
import pyproj
import shapely

__all__ = ["cell_features", "reach_outline", "outline_sag_m", "binned_counts", "MIN_USERS_SHOWN"]

MIN_USERS_SHOWN = 5  # a density cell with fewer users is withheld: counts, never single people
_OUTLINE_SEGMENTS = 48  # per quarter circle: chords sag at most r(1 - cos(pi/192)) = 0.4 m at 3 km


def cell_features(cells: ArrayLike, properties: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One GeoJSON Polygon Feature per H3 cell (uint64 ids), with ``cell`` (hex) and its properties."""
    features = []
    for cell, props in zip(np.asarray(cells, dtype=np.uint64).tolist(), properties):
        ring = [[lng, lat] for lat, lng in h3i.cell_to_boundary(cell)]
        features.append({"type": "Feature", "properties": {"cell": h3i.int_to_str(cell)} | props,
                         "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]}})
    return features


@lru_cache(maxsize=64)
def _azimuthal(lat: float, lng: float) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    """To and from the azimuthal equidistant plane (metres) centred at (lat, lng) on WGS-84."""
    local = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lng} +datum=WGS84 +units=m")
    wgs84 = pyproj.CRS.from_epsg(4326)
    return (pyproj.Transformer.from_crs(wgs84, local, always_xy=True),
            pyproj.Transformer.from_crs(local, wgs84, always_xy=True))


def reach_outline(geometry: Any, radius_m: float, centre: tuple[float, float]) -> shapely.Geometry:
    """The points ``radius_m`` from the footprint (shapely, x=lng, y=lat): the edge of its reach.

    The footprint is buffered in the azimuthal equidistant plane centred at ``centre`` (lat, lng).
    Within a few km of that centre the plane's distances are geodesic ones to well under a
    millimetre, so the outline lies ``radius_m`` from the footprint on WGS-84 but for its arcs
    being drawn as chords: nowhere outside, at most about twice ``outline_sag_m`` inside where two
    arcs meet (0.8 m at 3 km). tests/unit/test_mapping.py measures it against pyproj.Geod.
    """
    forward, back = _azimuthal(*centre)
    plane = shapely.transform(geometry, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1])))
    outline = shapely.buffer(plane, radius_m, quad_segs=_OUTLINE_SEGMENTS)
    return shapely.transform(outline, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))


def outline_sag_m(radius_m: float) -> float:
    """How far inside its true line ``reach_outline`` may run (chords of its arcs)."""
    return radius_m * (1 - float(np.cos(np.pi / (4 * _OUTLINE_SEGMENTS))))


def binned_counts(lats: np.ndarray, lngs: np.ndarray, res: int,
                  min_count: int = MIN_USERS_SHOWN) -> tuple[np.ndarray, np.ndarray]:
    """Points (WGS-84) counted per H3 cell at ``res``: (cells uint64, counts), sorted by cell;
    cells holding fewer than ``min_count`` points are left out."""
    if len(lats) == 0:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    cells = np.asarray(h3v.coordinates_to_cells(np.asarray(lats, np.float64), np.asarray(lngs, np.float64), res))
    unique, counts = np.unique(cells, return_counts=True)
    keep = counts >= min_count
    return unique[keep].astype(np.uint64), counts[keep].astype(np.int64)
