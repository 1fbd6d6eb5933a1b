"""WGS-84 <-> GCJ-02 <-> BD-09 conversion, vectorized over numpy arrays.

GCJ-02 is the obfuscated datum of most Chinese map SDKs (offsets of a few hundred metres from GPS);
BD-09 is Baidu's further transform of GCJ-02. The forward transforms are the published ones (the
same as the open eviltransform family, whose test vectors the tests check). Their inverses have no
closed form, so both are solved by fixed-point iteration to well under a millimetre. Outside the
GCJ-02 area (a rectangle around China) GCJ-02 equals WGS-84, as in every reference implementation.

All functions take and return ``(lat, lng)`` in degrees: scalars give floats, arrays give arrays.
"""

from __future__ import annotations

import math
from typing import Any, overload

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from district_engine.geo.points import check_coord, check_latlng

__all__ = ["to_wgs84", "from_wgs84", "convert", "wgs84_to_gcj02", "gcj02_to_wgs84", "gcj02_to_bd09", "bd09_to_gcj02"]

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 algorithm defines it
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
_INVERSE_TOL_DEG = 1e-10  # about 0.01 mm
_INVERSE_MAX_ITER = 30

# Steps, composed into conversions; each is one compiled function of one point, used by both the
# per-request path (a scalar) and the batch path (a compiled loop), so there is one formula each.
WGS_TO_GCJ, GCJ_TO_WGS, GCJ_TO_BD, BD_TO_GCJ = 0, 1, 2, 3

LatLng = tuple[float, float]
# floats for scalars, float64 arrays (of the input's shape) for arrays
Points = tuple[float, float] | tuple[NDArray[np.float64], NDArray[np.float64]]


@njit(cache=True)
def _wgs_to_gcj(lat: float, lng: float) -> LatLng:
    if lng < 72.004 or lng > 137.8347 or lat < 0.8293 or lat > 55.8271:
        return lat, lng  # outside the GCJ-02 area
    x, y = lng - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlng += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlng += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlng += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = math.radians(lat)
    magic = 1.0 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return lat + dlat, lng + dlng


@njit(cache=True)
def _gcj_to_bd(lat: float, lng: float) -> LatLng:
    z = math.hypot(lng, lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


@njit(cache=True)
def _forward(step: int, lat: float, lng: float) -> LatLng:
    return _wgs_to_gcj(lat, lng) if step == WGS_TO_GCJ else _gcj_to_bd(lat, lng)


@njit(cache=True)
def _step(step: int, lat: float, lng: float) -> LatLng:
    """One step; the inverses solve forward(x) = (lat, lng) by fixed-point iteration (the
    transforms are near-translations), to 1e-10 degrees."""
    if step == WGS_TO_GCJ or step == GCJ_TO_BD:
        return _forward(step, lat, lng)
    forward = WGS_TO_GCJ if step == GCJ_TO_WGS else GCJ_TO_BD
    x_lat, x_lng = lat, lng
    for _ in range(_INVERSE_MAX_ITER):
        f_lat, f_lng = _forward(forward, x_lat, x_lng)
        e_lat, e_lng = f_lat - lat, f_lng - lng
        x_lat -= e_lat
        x_lng -= e_lng
        if max(abs(e_lat), abs(e_lng)) < _INVERSE_TOL_DEG:
            break
    return x_lat, x_lng


@njit(cache=True)
def _point(steps: tuple[int, ...], lat: float, lng: float) -> LatLng:
    for s in steps:
        lat, lng = _step(s, lat, lng)
    return lat, lng


@njit(cache=True)
def _rows(steps: tuple[int, ...], lat: NDArray[np.float64],
          lng: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    out_lat = np.empty(lat.size)
    out_lng = np.empty(lat.size)
    for i in range(lat.size):
        out_lat[i], out_lng[i] = _point(steps, lat[i], lng[i])
    return out_lat, out_lng


def _apply(steps: tuple[int, ...], lat: ArrayLike, lng: ArrayLike) -> Points:
    """Validate, convert, and give back floats for scalars or arrays (same shape) for arrays."""
    lat_a, lng_a = check_latlng(lat, lng)
    if not steps:
        return (float(lat_a), float(lng_a)) if lat_a.ndim == 0 else (lat_a, lng_a)
    if lat_a.ndim == 0:
        return _point(steps, float(lat_a), float(lng_a))
    out_lat, out_lng = _rows(steps, np.ascontiguousarray(lat_a).ravel(), np.ascontiguousarray(lng_a).ravel())
    return out_lat.reshape(lat_a.shape), out_lng.reshape(lat_a.shape)


def wgs84_to_gcj02(lat: ArrayLike, lng: ArrayLike) -> Points:
    """WGS-84 -> GCJ-02 (identity outside China); (lat, lng) degrees, scalars or arrays."""
    return _apply((WGS_TO_GCJ,), lat, lng)


def gcj02_to_wgs84(lat: ArrayLike, lng: ArrayLike) -> Points:
    """GCJ-02 -> WGS-84 by iteration (error well under 1 mm); (lat, lng) degrees, scalars or arrays."""
    return _apply((GCJ_TO_WGS,), lat, lng)


def gcj02_to_bd09(lat: ArrayLike, lng: ArrayLike) -> Points:
    """GCJ-02 -> BD-09; (lat, lng) degrees, scalars or arrays."""
    return _apply((GCJ_TO_BD,), lat, lng)


def bd09_to_gcj02(lat: ArrayLike, lng: ArrayLike) -> Points:
    """BD-09 -> GCJ-02 by iteration (error well under 1 mm); (lat, lng) degrees, scalars or arrays."""
    return _apply((BD_TO_GCJ,), lat, lng)


_TO_WGS: dict[str, tuple[int, ...]] = {"wgs84": (), "gcj02": (GCJ_TO_WGS,), "bd09": (BD_TO_GCJ, GCJ_TO_WGS)}
_FROM_WGS: dict[str, tuple[int, ...]] = {"wgs84": (), "gcj02": (WGS_TO_GCJ,), "bd09": (WGS_TO_GCJ, GCJ_TO_BD)}


@overload
def to_wgs84(lat: float, lng: float, coord: str = ...) -> LatLng: ...
@overload
def to_wgs84(lat: NDArray[Any], lng: NDArray[Any], coord: str = ...) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
@overload
def to_wgs84(lat: ArrayLike, lng: ArrayLike, coord: str = ...) -> Points: ...
def to_wgs84(lat: ArrayLike, lng: ArrayLike, coord: str = "wgs84") -> Points:
    """Convert (lat, lng) given in ``coord`` (wgs84, gcj02 or bd09) to WGS-84 (lat, lng)."""
    return _apply(_TO_WGS[check_coord(coord)], lat, lng)


@overload
def from_wgs84(lat: float, lng: float, coord: str = ...) -> LatLng: ...
@overload
def from_wgs84(lat: NDArray[Any], lng: NDArray[Any], coord: str = ...) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
@overload
def from_wgs84(lat: ArrayLike, lng: ArrayLike, coord: str = ...) -> Points: ...
def from_wgs84(lat: ArrayLike, lng: ArrayLike, coord: str = "wgs84") -> Points:
    """Convert WGS-84 (lat, lng) to ``coord`` (wgs84, gcj02 or bd09)."""
    return _apply(_FROM_WGS[check_coord(coord)], lat, lng)


def convert(lat: ArrayLike, lng: ArrayLike, src: str, dst: str) -> Points:
    """Convert (lat, lng) from coordinate system ``src`` to ``dst``."""
    check_coord(dst)
    wgs_lat, wgs_lng = to_wgs84(lat, lng, src)
    return from_wgs84(wgs_lat, wgs_lng, dst)
