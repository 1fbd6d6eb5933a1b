"""A slow, independent reference for point-to-footprint distance, built on pyproj.Geod alone.

Tests and benchmarks judge the engine against it. For each (point, footprint) pair it takes the
minimum over the footprint's edges of the geodesic distance to the geodesic edge, found by a
golden-section search along the edge (the distance along a short geodesic is unimodal), and 0 when
the point lies inside (shapely's point-in-polygon on lng/lat; edges that short are the same line in
degrees and on the ellipsoid to well under a millimetre of the metre-scale tolerance).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
import shapely

from district_engine.geo.geodesy import WGS84

__all__ = ["reference_distance_m"]

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def _edge_arrays(geometries: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per geometry, its edges as (lng0, lat0, lng1, lat1) rows, and a CSR offset array."""
    rows, offsets = [], [0]
    for g in geometries:
        for ring in shapely.get_rings(shapely.get_parts(g)):
            c = shapely.get_coordinates(ring)
            rows.append(np.column_stack([c[:-1], c[1:]]))
        offsets.append(sum(len(r) for r in rows))
    return np.concatenate(rows), np.asarray(offsets)


def reference_distance_m(lats: ArrayLike, lngs: ArrayLike, geometries: Iterable[Any], iterations: int = 40) -> np.ndarray:
    """Geodesic distance (m) from point i, (lats[i], lngs[i]), to geometries[i]; 0 inside.

    ``geometries`` are shapely (Multi)Polygons in lng/lat, one per point (repeat them for pairs).
    """
    lats = np.asarray(lats, dtype=np.float64).ravel()
    lngs = np.asarray(lngs, dtype=np.float64).ravel()
    geometries = list(geometries)
    unique = {id(g): g for g in geometries}
    order = list(unique)
    edges, offsets = _edge_arrays([unique[k] for k in order])
    slot = {k: i for i, k in enumerate(order)}
    gi = np.array([slot[id(g)] for g in geometries], dtype=np.int64)
    counts = offsets[gi + 1] - offsets[gi]
    pair = np.repeat(np.arange(lats.size), counts)
    edge = np.concatenate([np.arange(offsets[g], offsets[g + 1]) for g in gi]) if lats.size else np.empty(0, int)
    plat, plng = lats[pair], lngs[pair]
    lng0, lat0, lng1, lat1 = edges[edge].T
    az, _, length = WGS84.inv(lng0, lat0, lng1, lat1)

    def dist_at(t: NDArray[np.float64]) -> NDArray[np.float64]:
        x_lng, x_lat, _ = WGS84.fwd(lng0, lat0, az, t * length)
        d: NDArray[np.float64] = WGS84.inv(plng, plat, x_lng, x_lat)[2]
        return d

    lo, hi = np.zeros(pair.size), np.ones(pair.size)
    a = hi - _GOLDEN * (hi - lo)
    b = lo + _GOLDEN * (hi - lo)
    fa, fb = dist_at(a), dist_at(b)
    for _ in range(iterations):
        left = fa < fb
        hi = np.where(left, b, hi)
        lo = np.where(left, lo, a)
        b_new = np.where(left, a, lo + _GOLDEN * (hi - lo))
        a_new = np.where(left, hi - _GOLDEN * (hi - lo), b)
        fb_new = np.where(left, fa, np.nan)
        fa_new = np.where(left, np.nan, fb)
        need_a = left
        a, b = a_new, b_new
        fa = np.where(need_a, dist_at(a), fa_new)
        fb = np.where(need_a, fb_new, dist_at(b))
    best = np.minimum(np.minimum(fa, fb), np.minimum(dist_at(np.zeros(pair.size)), dist_at(np.ones(pair.size))))
    out = np.full(lats.size, np.inf)
    np.minimum.at(out, pair, best)
    inside = np.array([shapely.contains_xy(g, x, y) for g, x, y in zip(geometries, lngs, lats)], dtype=bool)
    out[inside] = 0.0
    return out
