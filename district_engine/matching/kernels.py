"""The matcher's compiled inner loop: candidates from one cell lookup, exact checks, per-point order."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from district_engine.geo.kernels import local_xy, polygon_distance

__all__ = ["match_points", "regroup"]


@njit(cache=True)
def match_points(xyz, slot, cell_offsets, entry_fp, entry_interior, frames, extents, edges, edge_offsets,
                 radius_m, measure, out_point, out_fp, out_dist):
    """Match ECEF points against the reach index; returns how many rows of the outputs it wrote.

    ``slot[i]`` is the row of point i's H3 cell in the index, or -1. With ``measure`` every
    candidate's distance is computed and each point's matches come nearest first (ties by
    footprint); without it, interior candidates are accepted unchecked (distance NaN) and only
    boundary candidates are measured, which is what membership questions need.
    """
    n_out = 0
    for i in range(slot.size):
        s = slot[i]
        if s < 0:
            continue
        start = n_out
        for j in range(cell_offsets[s], cell_offsets[s + 1]):
            f = entry_fp[j]
            if not measure and entry_interior[j]:
                d = np.nan
            else:
                x, y = local_xy(xyz[i, 0], xyz[i, 1], xyz[i, 2], frames, f)
                if not entry_interior[j] and math.sqrt(x * x + y * y) - extents[f] > radius_m:
                    continue  # farther than the footprint's far side: no need to read its edges
                d = polygon_distance(x, y, edges, edge_offsets[f], edge_offsets[f + 1])
                if d > radius_m and not entry_interior[j]:
                    continue
            k = n_out
            if measure:  # insertion sort: a point has tens of matches at most
                while k > start and (out_dist[k - 1] > d or (out_dist[k - 1] == d and out_fp[k - 1] > f)):
                    out_fp[k] = out_fp[k - 1]
                    out_dist[k] = out_dist[k - 1]
                    k -= 1
            out_point[n_out] = i
            out_fp[k] = f
            out_dist[k] = d
            n_out += 1
    return n_out


@njit(cache=True)
def regroup(order, point, fp, dist):
    """Rows grouped by sorted position -> rows grouped by original point index, ascending.

    ``order[p]`` is the original index of sorted point p; ``point`` holds sorted positions,
    grouped and ascending. Each group keeps its internal (nearest-first) order.
    """
    n = order.size
    start = np.zeros(n + 1, np.int64)
    for r in range(point.size):
        start[point[r] + 1] += 1
    for p in range(n):
        start[p + 1] += start[p]
    inverse = np.empty(n, np.int64)
    for p in range(n):
        inverse[order[p]] = p
    out_point = np.empty(point.size, np.int64)
    out_fp = np.empty(point.size, np.int32)
    out_dist = np.empty(point.size, np.float64)
    k = 0
    for i in range(n):
        p = inverse[i]
        for r in range(start[p], start[p + 1]):
            out_point[k] = i
            out_fp[k] = fp[r]
            out_dist[k] = dist[r]
            k += 1
    return out_point, out_fp, out_dist
