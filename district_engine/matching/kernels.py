"""The matcher's compiled inner loops: candidates from one cell lookup, exact checks, per-point order.

Every point owns a fixed slice of the output buffers, as long as its candidate list, so points
are independent and the loops run in parallel threads (numba prange) with no coordination.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from district_engine.geo.kernels import ecef_xyz, local_xy, polygon_distance

__all__ = ["match_point", "match_one", "match_points", "gather_rows"]

Array = NDArray[Any]  # the index's arrays: float64 geometry, int32/int64 offsets and positions, bool flags


@njit(cache=True)
def match_point(x: float, y: float, z: float, s: int | np.integer[Any], start: int | np.integer[Any], cell_offsets: Array, entry_fp: Array,
                entry_interior: Array, frames: Array, extents: Array, edges: Array, edge_offsets: Array,
                radius_m: float, measure: bool, out_fp: Array, out_dist: Array) -> int:
    """Match one ECEF point whose cell is index row ``s``; returns its number of matches.

    The matches go to ``out_*[start:start + count]``. With ``measure`` every candidate's distance
    is computed and matches come nearest first (ties by footprint); without it, interior
    candidates are accepted unchecked (distance NaN) and only boundary candidates are measured,
    which is all that membership questions need.
    """
    m = 0
    for j in range(cell_offsets[s], cell_offsets[s + 1]):
        f = entry_fp[j]
        interior = entry_interior[j]
        if not measure and interior:
            d = np.nan
        else:
            px, py = local_xy(x, y, z, frames, f)
            if not interior and math.sqrt(px * px + py * py) - extents[f] > radius_m:
                continue  # beyond the footprint's far side: no need to read its edges
            d = polygon_distance(px, py, edges, edge_offsets[f], edge_offsets[f + 1])
            if d > radius_m and not interior:
                continue
        k = start + m
        if measure:  # insertion sort: a point has tens of matches at most
            while k > start and (out_dist[k - 1] > d or (out_dist[k - 1] == d and out_fp[k - 1] > f)):
                out_fp[k] = out_fp[k - 1]
                out_dist[k] = out_dist[k - 1]
                k -= 1
        out_fp[k] = f
        out_dist[k] = d
        m += 1
    return m


@njit(cache=True)
def match_one(lat: float, lng: float, cell: np.uint64, cells: Array, cell_offsets: Array, entry_fp: Array,
              entry_interior: Array, frames: Array, extents: Array, edges: Array, edge_offsets: Array,
              radius_m: float) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
    """One WGS-84 point whose H3 cell is ``cell``: (footprint, distance) arrays, nearest first.

    The whole per-request path in one compiled call: cell lookup, ECEF, candidates, order.
    """
    s = np.searchsorted(cells, cell)
    if s == cells.size or cells[s] != cell:
        return np.empty(0, np.int32), np.empty(0)
    cap = cell_offsets[s + 1] - cell_offsets[s]
    out_fp = np.empty(cap, np.int32)
    out_dist = np.empty(cap)
    x, y, z = ecef_xyz(lat, lng)
    n = match_point(x, y, z, s, 0, cell_offsets, entry_fp, entry_interior, frames, extents, edges, edge_offsets,
                    radius_m, True, out_fp, out_dist)
    return out_fp[:n], out_dist[:n]


@njit(cache=True, parallel=True)
def match_points(xyz: Array, slot: Array, row_start: Array, cell_offsets: Array, entry_fp: Array,
                 entry_interior: Array, frames: Array, extents: Array, edges: Array, edge_offsets: Array,
                 radius_m: float, measure: bool, out_fp: Array, out_dist: Array) -> NDArray[np.int64]:
    """``match_point`` over many points (``slot[i]`` -1: no candidates); returns the match counts."""
    n = slot.size
    counts = np.zeros(n, np.int64)
    for i in prange(n):
        if slot[i] >= 0:
            counts[i] = match_point(xyz[i, 0], xyz[i, 1], xyz[i, 2], slot[i], row_start[i], cell_offsets,
                                    entry_fp, entry_interior, frames, extents, edges, edge_offsets, radius_m,
                                    measure, out_fp, out_dist)
    return counts


@njit(cache=True, parallel=True)
def gather_rows(order: Array, row_start: Array, counts: Array, fp: Array,
                dist: Array) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """Collect each point's rows, in original point order: (point_index, fp, dist) arrays.

    ``order[p]`` is the original index of the point matched at position p.
    """
    n = order.size
    inverse = np.empty(n, np.int64)
    for p in range(n):
        inverse[order[p]] = p
    out_start = np.zeros(n + 1, np.int64)
    for i in range(n):
        out_start[i + 1] = out_start[i] + counts[inverse[i]]
    total = out_start[n]
    out_point = np.empty(total, np.int64)
    out_fp = np.empty(total, np.int32)
    out_dist = np.empty(total, np.float64)
    for i in prange(n):
        src = row_start[inverse[i]]
        dst = out_start[i]
        for r in range(out_start[i + 1] - dst):
            out_point[dst + r] = i
            out_fp[dst + r] = fp[src + r]
            out_dist[dst + r] = dist[src + r]
    return out_point, out_fp, out_dist
