"""Validation of points at the library edge: (lat, lng) in degrees, scalars or arrays, WGS-84 unless named."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from district_engine.errors import InvalidInputError

__all__ = ["COORD_SYSTEMS", "check_coord", "check_latlng", "check_radius_m", "MAX_RADIUS_M"]

COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")
MAX_RADIUS_M = 3000.0


def check_coord(coord: str) -> str:
    """Return ``coord`` if it names a supported coordinate system, else raise listing the choices."""
    if coord not in COORD_SYSTEMS:
        raise InvalidInputError(
            f"unknown coordinate system {coord!r}; expected one of {', '.join(COORD_SYSTEMS)}",
            field="coord",
        )
    return coord


def _check_range(values: np.ndarray, field: str, bound: float) -> None:
    bad = ~np.isfinite(values) | (np.abs(values) > bound)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        where = f" (at index {i})" if values.ndim else ""
        raise InvalidInputError(
            f"must be a finite number within [-{bound:g}, {bound:g}], got {float(values.ravel()[i])!r}{where}",
            field=field,
        )


def check_latlng(lat: ArrayLike, lng: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return (lat, lng) as float64 arrays of one shape; raise InvalidInputError naming the bad field.

    Accepts scalars or array-likes; scalars come back as 0-d arrays.
    """
    if type(lat) is float and type(lng) is float and -90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0:
        return np.float64(lat), np.float64(lng)  # the per-request fast path; NaN fails the comparisons
    try:
        lat_a = np.asarray(lat, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"must be a number or an array of numbers, got {lat!r}", field="lat") from None
    try:
        lng_a = np.asarray(lng, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"must be a number or an array of numbers, got {lng!r}", field="lng") from None
    if lat_a.shape != lng_a.shape:
        raise InvalidInputError(f"shape {lng_a.shape} differs from lat's shape {lat_a.shape}", field="lng")
    _check_range(lat_a, "lat", 90.0)
    _check_range(lng_a, "lng", 180.0)
    return lat_a, lng_a


def check_radius_m(radius_m: Any) -> float:
    """Return the radius as a float if 0 < radius_m <= 3000 (metres), else raise."""
    try:
        r = float(radius_m)
    except (TypeError, ValueError):
        raise InvalidInputError(f"must be a number of metres, got {radius_m!r}", field="radius_m") from None
    if not (np.isfinite(r) and 0.0 < r <= MAX_RADIUS_M):
        raise InvalidInputError(f"must be > 0 and <= {MAX_RADIUS_M:g} metres, got {radius_m!r}", field="radius_m")
    return r
