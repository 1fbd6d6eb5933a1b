import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from district_engine import distance_to_footprint
from district_engine.geo.reference import reference_distance_m
from helpers import SANLITUN, offset, random_footprint


def _points_around(rng, lat, lng, n, max_m=5000.0):
    return offset(lat, lng, rng.uniform(0, 360, n), max_m * np.sqrt(rng.uniform(0, 1, n)))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(-60.0, 60.0), st.floats(-170.0, 170.0))
def test_distance_agrees_with_pyproj_geod_within_half_a_metre_up_to_5km(seed, lat, lng):
    rng = np.random.default_rng(seed)
    geom = random_footprint(rng, lat, lng, rng.uniform(20, 800))
    p_lat, p_lng = _points_around(rng, lat, lng, 60)
    ref = reference_distance_m(p_lat, p_lng, [geom] * p_lat.size)
    got = distance_to_footprint(p_lat, p_lng, geom)
    near = ref <= 5000.0
    assert np.all(np.abs(got - ref)[near] < 0.5)
    assert np.array_equal(got == 0.0, ref == 0.0)


def test_inside_is_zero_and_a_hole_is_outside():
    lat, lng = SANLITUN
    outer = [offset(lat, lng, az, 300.0) for az in (45, 135, 225, 315)]
    hole = [offset(lat, lng, az, 100.0) for az in (315, 225, 135, 45)]
    ring = [(float(b), float(a)) for a, b in outer]
    geom = shapely.Polygon(ring, [[(float(b), float(a)) for a, b in hole]])
    in_ring = offset(lat, lng, 0.0, 150.0)
    assert distance_to_footprint(float(in_ring[0]), float(in_ring[1]), geom) == 0.0
    centre_d = distance_to_footprint(lat, lng, geom)
    ref = reference_distance_m([lat], [lng], [geom])[0]
    assert centre_d == pytest.approx(ref, abs=0.01) and 65.0 < centre_d < 75.0  # 100 m corner -> ~70.7 m edge


def test_multipolygon_distance_is_to_the_nearest_part():
    lat, lng = SANLITUN
    rng = np.random.default_rng(7)
    geom = random_footprint(rng, lat, lng, 400.0)
    while not isinstance(geom, shapely.MultiPolygon):
        geom = random_footprint(rng, lat, lng, 400.0)
    p_lat, p_lng = _points_around(rng, lat, lng, 200, 3000.0)
    parts = [distance_to_footprint(p_lat, p_lng, part) for part in geom.geoms]
    assert np.allclose(distance_to_footprint(p_lat, p_lng, geom), np.minimum.reduce(parts), atol=1e-6)


def test_shapes_follow_the_input():
    geom = shapely.Polygon([(116.45, 39.93), (116.46, 39.93), (116.46, 39.94)])
    assert isinstance(distance_to_footprint(39.9, 116.4, geom), float)
    assert distance_to_footprint(np.full((2, 3), 39.9), np.full((2, 3), 116.4), geom).shape == (2, 3)
