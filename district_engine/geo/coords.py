"""WGS-84 <-> GCJ-02 <-> BD-09 conversion, vectorized over numpy arrays.

GCJ-02 is the obfuscated datum of most Chinese map SDKs (offsets of a few hundred metres from GPS);
BD-09 is Baidu's further transform of GCJ-02. The forward transforms are the published ones (the
same as the open eviltransform family, whose test vectors the tests check). Their inverses have no
closed form, so both are solved by fixed-point iteration to well under a millimetre. Outside the
GCJ-02 area (a rectangle around China) GCJ-02 equals WGS-84, as in every reference implementation.

All functions take and return ``(lat, lng)`` in degrees: scalars give floats, arrays give arrays.
"""

from __future__ import annotations

import numpy as np

from district_engine.geo.points import check_coord, check_latlng

__all__ = ["to_wgs84", "from_wgs84", "convert", "wgs84_to_gcj02", "gcj02_to_wgs84", "gcj02_to_bd09", "bd09_to_gcj02"]

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 algorithm defines it
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_INVERSE_TOL_DEG = 1e-10  # about 0.01 mm
_INVERSE_MAX_ITER = 30


def _out_of_china(lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    return (lng < 72.004) | (lng > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _delta_lng(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _wgs_to_gcj(lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlat = _delta_lat(lng - 105.0, lat - 35.0)
    dlng = _delta_lng(lng - 105.0, lat - 35.0)
    rad = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = _out_of_china(lat, lng)
    return np.where(outside, lat, lat + dlat), np.where(outside, lng, lng + dlng)


def _gcj_to_bd(lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.hypot(lng, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lng) + 0.000003 * np.cos(lng * _X_PI)
    return z * np.sin(theta) + 0.006, z * np.cos(theta) + 0.0065


def _invert(forward, lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(x) = (lat, lng) by fixed-point iteration; the transforms are near-translations."""
    x_lat, x_lng = lat.copy(), lng.copy()
    for _ in range(_INVERSE_MAX_ITER):
        f_lat, f_lng = forward(x_lat, x_lng)
        e_lat, e_lng = f_lat - lat, f_lng - lng
        x_lat -= e_lat
        x_lng -= e_lng
        if max(np.max(np.abs(e_lat), initial=0.0), np.max(np.abs(e_lng), initial=0.0)) < _INVERSE_TOL_DEG:
            break
    return x_lat, x_lng


def _gcj_to_wgs(lat, lng):
    return _invert(_wgs_to_gcj, lat, lng)


def _bd_to_gcj(lat, lng):
    return _invert(_gcj_to_bd, lat, lng)


def _apply(fn, lat, lng):
    """Validate, run ``fn`` on 1-d arrays, and give back floats for scalars or arrays for arrays."""
    lat_a, lng_a = check_latlng(lat, lng)
    if fn is _identity:
        return (float(lat_a), float(lng_a)) if lat_a.ndim == 0 else (lat_a, lng_a)
    out_lat, out_lng = fn(np.atleast_1d(lat_a), np.atleast_1d(lng_a))
    if lat_a.ndim == 0:
        return float(out_lat[0]), float(out_lng[0])
    return out_lat.reshape(lat_a.shape), out_lng.reshape(lat_a.shape)


def wgs84_to_gcj02(lat, lng):
    """WGS-84 -> GCJ-02 (identity outside China); (lat, lng) degrees, scalars or arrays."""
    return _apply(_wgs_to_gcj, lat, lng)


def gcj02_to_wgs84(lat, lng):
    """GCJ-02 -> WGS-84 by iteration (error well under 1 mm); (lat, lng) degrees, scalars or arrays."""
    return _apply(_gcj_to_wgs, lat, lng)


def gcj02_to_bd09(lat, lng):
    """GCJ-02 -> BD-09; (lat, lng) degrees, scalars or arrays."""
    return _apply(_gcj_to_bd, lat, lng)


def bd09_to_gcj02(lat, lng):
    """BD-09 -> GCJ-02 by iteration (error well under 1 mm); (lat, lng) degrees, scalars or arrays."""
    return _apply(_bd_to_gcj, lat, lng)


def _identity(lat, lng):
    return lat, lng


_TO_WGS = {
    "wgs84": _identity,
    "gcj02": _gcj_to_wgs,
    "bd09": lambda lat, lng: _gcj_to_wgs(*_bd_to_gcj(lat, lng)),
}
_FROM_WGS = {
    "wgs84": _identity,
    "gcj02": _wgs_to_gcj,
    "bd09": lambda lat, lng: _gcj_to_bd(*_wgs_to_gcj(lat, lng)),
}


def to_wgs84(lat, lng, coord: str = "wgs84"):
    """Convert (lat, lng) given in ``coord`` (wgs84, gcj02 or bd09) to WGS-84 (lat, lng)."""
    return _apply(_TO_WGS[check_coord(coord)], lat, lng)


def from_wgs84(lat, lng, coord: str = "wgs84"):
    """Convert WGS-84 (lat, lng) to ``coord`` (wgs84, gcj02 or bd09)."""
    return _apply(_FROM_WGS[check_coord(coord)], lat, lng)


def convert(lat, lng, src: str, dst: str):
    """Convert (lat, lng) from coordinate system ``src`` to ``dst``."""
    check_coord(dst)
    return from_wgs84(*to_wgs84(lat, lng, src), dst)
