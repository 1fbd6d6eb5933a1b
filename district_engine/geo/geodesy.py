"""Geodesic distance on the WGS-84 ellipsoid from points to footprint polygons, vectorized.

Method: each footprint gets a local tangent plane at its own centre (ECEF origin plus east and
north unit vectors). Points and footprint vertices are placed in that plane by an exact ECEF
rotation, and the distance is the planar distance to the polygon (0 inside). For a footprint up
to 20 km across and points within 5 km of it this agrees with pyproj.Geod (the reference) to a few
millimetres: the plane drops only the vertical offset (< 2 m at 5 km), whose effect on a
horizontal distance of kilometres is sub-millimetre; chord and geodesic differ by s^3 / (24 R^2)
(0.1 mm at 5 km); and a geodesic edge stays within a centimetre of its straight image in the
plane for edges up to 20 km.

Edges are geodesics (as in S2 or BigQuery). RFC 7946 draws them straight in degrees instead; the
two differ by about L^2 tan(lat) / (8 R): 1.6 cm for a 1 km edge at 40 N, far inside the budget
for footprints, whose edges are tens to hundreds of metres.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
import shapely
from pyproj import Geod

from district_engine.geo.kernels import distances_to_footprint, ecef_rows, edge_rows
from district_engine.geo.points import check_latlng

__all__ = [
    "WGS84", "ecef", "footprint_centre",
    "CompiledFootprints", "compile_footprints", "distance_to_footprint",
]

WGS84 = Geod(ellps="WGS84")


def ecef(lat: ArrayLike, lng: ArrayLike) -> NDArray[np.float64]:
    """ECEF coordinates (m), shape (n, 3), of points on the WGS-84 ellipsoid (height 0)."""
    lat = np.ascontiguousarray(lat, dtype=np.float64).ravel()
    return ecef_rows(lat, np.ascontiguousarray(lng, dtype=np.float64).ravel())


def footprint_centre(geometry: Any) -> tuple[float, float]:
    """(lat, lng) of the centre of the footprint's bounding box: the origin of its local frame."""
    min_lng, min_lat, max_lng, max_lat = shapely.bounds(geometry)
    return float(min_lat + max_lat) / 2.0, float(min_lng + max_lng) / 2.0


class CompiledFootprints(NamedTuple):
    """Footprints in their local planes, as flat arrays the kernels read.

    centres: (n, 2) (lat, lng) of each frame origin; frames: (n, 9) ECEF origin, east unit,
    north unit; edges: (E, 6) rows in ``kernels.EDGE_COLUMNS`` layout (metres); edge_offsets: (n + 1,) so footprint i owns
    edges[edge_offsets[i]:edge_offsets[i + 1]].
    """

    centres: np.ndarray
    frames: np.ndarray
    edges: np.ndarray
    edge_offsets: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.centres.nbytes + self.frames.nbytes + self.edges.nbytes + self.edge_offsets.nbytes

    def extents_m(self) -> np.ndarray:
        """Per footprint, the largest distance (m) from its frame origin to its boundary."""
        r = np.hypot(self.edges[:, 0], self.edges[:, 1])  # every vertex starts an edge
        return np.maximum.reduceat(r, self.edge_offsets[:-1]) if r.size else r


def compile_footprints(geometries: Iterable[Any]) -> CompiledFootprints:
    """Place each (Multi)Polygon (lng/lat) in its own tangent plane; vectorized over all of them."""
    geoms = np.asarray(geometries, dtype=object).ravel()
    rings, ring_owner = _rings(geoms)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    same_ring = coord_ring[1:] == coord_ring[:-1]
    min_lng, min_lat, max_lng, max_lat = shapely.bounds(geoms).T
    c_lat, c_lng = (min_lat + max_lat) / 2.0, (min_lng + max_lng) / 2.0
    phi, lam = np.radians(c_lat), np.radians(c_lng)
    frames = np.column_stack([
        ecef(c_lat, c_lng),
        -np.sin(lam), np.cos(lam), np.zeros_like(lam),
        -np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi),
    ])
    owner = ring_owner[coord_ring]
    p = ecef(coords[:, 1], coords[:, 0]) - frames[owner, :3]
    x = np.einsum("ij,ij->i", p, frames[owner, 3:6])
    y = np.einsum("ij,ij->i", p, frames[owner, 6:9])
    edges = edge_rows(x[:-1][same_ring], y[:-1][same_ring], x[1:][same_ring], y[1:][same_ring])
    counts = np.bincount(owner[:-1][same_ring], minlength=geoms.size)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return CompiledFootprints(np.column_stack([c_lat, c_lng]), np.ascontiguousarray(frames), edges, offsets)


def _rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ring of every footprint, and the index of the footprint it belongs to."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    return rings, part_owner[ring_part]


def distance_to_footprint(lat: ArrayLike, lng: ArrayLike, geometry: Any) -> float | NDArray[np.float64]:
    """Geodesic distance (m, WGS-84) from (lat, lng) to a Polygon/MultiPolygon footprint; 0 inside.

    ``geometry`` is a shapely geometry in GeoJSON order (x=lng, y=lat). Scalars give a float,
    arrays an array of the same shape. Meant for points within a few km of the footprint.
    """
    lat_a, lng_a = check_latlng(lat, lng)
    fp = compile_footprints([geometry])
    out = distances_to_footprint(ecef(lat_a, lng_a), fp.frames, fp.edges)
    return float(out[0]) if lat_a.ndim == 0 else out.reshape(lat_a.shape)
