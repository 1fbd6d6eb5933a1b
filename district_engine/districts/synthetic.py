"""Synthetic stores and pings for scale tests, seeded from real Chinese county centres.

The seed is the county/district table shipped in the ``cpca`` package (resources/adcodes.csv,
about 3,500 places with WGS-84-ish centres); ``n_cities`` of them are drawn and each gets
``n_stores / n_cities`` small convex store footprints scattered around it (Gaussian, sigma 7 km,
so that a ping among them has a few dozen stores within 3 km, as in a real city centre).
Nothing is written to disk: the same seed gives the same data.
"""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np
import shapely

from district_engine.districts.model import District
from district_engine.geo.geodesy import WGS84

__all__ = ["county_centres", "synthetic_stores", "synthetic_pings"]

_SIGMA_M = 7000.0
_MAX_OFFSET_M = 25000.0


def county_centres() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(lat, lng, name) of the county/district centres shipped with cpca."""
    with resources.files("cpca").joinpath("resources/adcodes.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["latitude"] and r["longitude"]]
    lat = np.array([float(r["latitude"]) for r in rows])
    lng = np.array([float(r["longitude"]) for r in rows])
    ok = (lat > 15) & (lat < 55) & (lng > 73) & (lng < 136)
    return lat[ok], lng[ok], [r["name"] for r, good in zip(rows, ok) if good]


def _offsets(rng, lat, lng, distance_m):
    az = rng.uniform(0.0, 360.0, lat.size)
    out_lng, out_lat, _ = WGS84.fwd(lng, lat, az, distance_m)
    return out_lat, out_lng


def synthetic_stores(n_stores: int = 200_000, n_cities: int = 400, seed: int = 0) -> list[District]:
    """``n_stores`` store districts (irregular octagons 30-120 m across) spread over ``n_cities`` cities."""
    rng = np.random.default_rng(seed)
    c_lat, c_lng, c_name = county_centres()
    pick = rng.choice(c_lat.size, size=n_cities, replace=False)
    city = np.repeat(pick, -(-n_stores // n_cities))[:n_stores]
    dist = np.minimum(np.abs(rng.normal(0.0, _SIGMA_M, n_stores)) * np.sqrt(2.0), _MAX_OFFSET_M)
    lat, lng = _offsets(rng, c_lat[city], c_lng[city], dist)
    # Octagons with jittered, evenly spread vertex angles (always simple), counter-clockwise.
    angles = (np.arange(8) + rng.uniform(0.0, 0.8, (n_stores, 8))) * (2 * np.pi / 8) + rng.uniform(0, 2 * np.pi, (n_stores, 1))
    radius = rng.uniform(15.0, 60.0, (n_stores, 1)) * rng.uniform(0.8, 1.0, (n_stores, 8))
    m_per_deg_lat = 111_000.0
    dlat = radius * np.sin(angles) / m_per_deg_lat
    dlng = radius * np.cos(angles) / (m_per_deg_lat * np.cos(np.radians(lat))[:, None])
    ring = np.stack([lng[:, None] + dlng, lat[:, None] + dlat], axis=2)
    ring = np.concatenate([ring, ring[:, :1]], axis=1)
    polygons = shapely.polygons(ring)
    return [
        District(id=f"store-{i:06d}", name=f"Store {i}", city=c_name[city[i]], geometry=polygons[i])
        for i in range(n_stores)
    ]


def synthetic_pings(stores: list[District], n: int = 1_000_000, seed: int = 1,
                    max_offset_m: float = 3500.0) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lng) of ``n`` pings, each up to ``max_offset_m`` from a random store's centre."""
    rng = np.random.default_rng(seed)
    centres = np.array([s.centre for s in stores])
    pick = rng.integers(0, len(stores), n)
    return _offsets(rng, centres[pick, 0], centres[pick, 1], max_offset_m * np.sqrt(rng.uniform(0.0, 1.0, n)))
