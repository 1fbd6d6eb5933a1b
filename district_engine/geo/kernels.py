"""Compiled (numba) kernels shared by the geodesy, the H3 cover and the matcher.

A footprint lives in its own local tangent plane (see ``geodesy``): ``frame`` is 9 floats
(ECEF origin, east unit vector, north unit vector) and its boundary is a run of planar edges,
one row each in the ``EDGE_COLUMNS`` layout, in metres. Distances in that plane agree with WGS-84 geodesics to about a
millimetre within 5 km of the footprint, which is what makes a 1 m exactness budget cheap.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["EDGE_COLUMNS", "edge_rows", "ecef_xyz", "ecef_rows", "local_xy", "polygon_distance",
           "distances_to_footprint"]

Floats = NDArray[np.float64]
Ints = NDArray[np.integer[Any]]

WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)

EDGE_COLUMNS = ("x0", "y0", "dx", "dy", "inv_len2", "dx_per_dy")


def edge_rows(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """Edge rows in the kernels' layout (EDGE_COLUMNS) from planar segment end points (m)."""
    dx, dy = x1 - x0, y1 - y0
    len2 = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_len2 = np.where(len2 > 0.0, 1.0 / len2, 0.0)
        dx_per_dy = np.where(dy != 0.0, dx / dy, 0.0)  # used only for edges that cross a point's row
    return np.ascontiguousarray(np.column_stack([x0, y0, dx, dy, inv_len2, dx_per_dy]))


@njit(cache=True)
def ecef_xyz(lat: float, lng: float) -> tuple[float, float, float]:
    """ECEF (x, y, z) in metres of a point on the WGS-84 ellipsoid (height 0); degrees in."""
    phi = math.radians(lat)
    lam = math.radians(lng)
    sin_phi = math.sin(phi)
    cos_phi = math.cos(phi)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sin_phi * sin_phi)
    return n * cos_phi * math.cos(lam), n * cos_phi * math.sin(lam), n * (1.0 - WGS84_E2) * sin_phi


@njit(cache=True)
def ecef_rows(lat: Floats, lng: Floats) -> Floats:
    """``ecef_xyz`` of every point: shape (n, 3)."""
    out = np.empty((lat.size, 3))
    for i in range(lat.size):
        out[i, 0], out[i, 1], out[i, 2] = ecef_xyz(lat[i], lng[i])
    return out


@njit(cache=True, inline="always")
def local_xy(x: float, y: float, z: float, frame: Floats, f: int) -> tuple[float, float]:
    """Project ECEF (x, y, z) into the tangent plane of frame row ``f``: (east_m, north_m)."""
    dx = x - frame[f, 0]
    dy = y - frame[f, 1]
    dz = z - frame[f, 2]
    e = dx * frame[f, 3] + dy * frame[f, 4] + dz * frame[f, 5]
    n = dx * frame[f, 6] + dy * frame[f, 7] + dz * frame[f, 8]
    return e, n


# Reassociation lets LLVM vectorize the min-reduction; infinities and NaNs keep their meaning.
_FASTMATH = {"nsz", "arcp", "contract", "reassoc"}


@njit(cache=True, fastmath=_FASTMATH)
def polygon_distance(px: float, py: float, edges: Floats, e0: int, e1: int) -> float:
    """Planar distance (m) from (px, py) to the polygon whose boundary is edges[e0:e1]; 0 inside.

    An edge row is ``EDGE_COLUMNS`` (start, direction, 1/length^2, dx/dy), precomputed so that
    this loop has neither a division nor a branch. Inside is decided by even-odd crossings over
    every ring, so holes and MultiPolygon parts need no special case; outside, the nearest edge
    decides.
    """
    crossings = 0
    best2 = np.inf
    for k in range(e0, e1):
        ax = edges[k, 0]
        ay = edges[k, 1]
        dx = edges[k, 2]
        dy = edges[k, 3]
        wx = px - ax
        wy = py - ay
        crossings += ((ay > py) != (ay + dy > py)) & (wx < wy * edges[k, 5])
        t = min(max((wx * dx + wy * dy) * edges[k, 4], 0.0), 1.0)
        qx = wx - t * dx
        qy = wy - t * dy
        best2 = min(best2, qx * qx + qy * qy)
    if crossings & 1:
        return 0.0
    return math.sqrt(best2)


@njit(cache=True)
def distances_to_footprint(xyz: Floats, frame: Floats, edges: Floats) -> Floats:
    """Distance (m) from each ECEF point (rows of xyz) to the single footprint (frame row 0, all edges)."""
    n = xyz.shape[0]
    out = np.empty(n)
    for i in range(n):
        e, nn = local_xy(xyz[i, 0], xyz[i, 1], xyz[i, 2], frame, 0)
        out[i] = polygon_distance(e, nn, edges, 0, edges.shape[0])
    return out


OUTSIDE, BOUNDARY, INTERIOR = 0, 1, 2


@njit(cache=True)
def classify_cells(cell_xyz: Floats, cell_radius_m: Floats, pair_cell: Ints, pair_fp: Ints, frames: Floats,
                   edges: Floats, edge_offsets: Ints, radius_m: float) -> NDArray[np.int8]:
    """For each (cell, footprint) pair: INTERIOR if the whole cell is within ``radius_m`` of the
    footprint, OUTSIDE if none of it is, BOUNDARY otherwise.

    The distance to a footprint is 1-Lipschitz, and a cell lies within ``cell_radius_m`` of its
    centre, so centre distance +- cell radius bounds the distance of every point of the cell.
    """
    n = pair_cell.size
    out = np.empty(n, dtype=np.int8)
    for i in range(n):
        c = pair_cell[i]
        f = pair_fp[i]
        x, y = local_xy(cell_xyz[c, 0], cell_xyz[c, 1], cell_xyz[c, 2], frames, f)
        d = polygon_distance(x, y, edges, edge_offsets[f], edge_offsets[f + 1])
        rc = cell_radius_m[c]
        if d + rc <= radius_m:
            out[i] = INTERIOR
        elif d - rc <= radius_m:
            out[i] = BOUNDARY
        else:
            out[i] = OUTSIDE
    return out
