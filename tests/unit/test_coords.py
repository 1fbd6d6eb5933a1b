import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from district_engine import InvalidInputError, to_wgs84
from district_engine.geo import COORD_SYSTEMS, convert, from_wgs84, gcj02_to_wgs84, wgs84_to_gcj02
from helpers import GEOD

# Published vectors of the open eviltransform implementations: (wgs lat, lng) -> (gcj lat, lng).
VECTORS = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),  # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing
]
china = st.tuples(st.floats(18.0, 53.0), st.floats(74.0, 134.0))


@pytest.mark.parametrize("wgs,gcj", VECTORS)
def test_wgs84_to_gcj02_matches_published_vectors(wgs, gcj):
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)


@pytest.mark.parametrize("wgs,gcj", VECTORS)
def test_gcj02_to_wgs84_inverts_published_vectors_under_half_a_metre(wgs, gcj):
    lat, lng = gcj02_to_wgs84(*gcj)
    assert GEOD.inv(lng, lat, wgs[1], wgs[0])[2] < 0.5


@settings(max_examples=300)
@given(china, st.sampled_from(COORD_SYSTEMS))
def test_round_trip_through_every_system_is_under_half_a_metre(point, coord):
    lat, lng = point
    back = to_wgs84(*from_wgs84(lat, lng, coord), coord)
    assert GEOD.inv(lng, lat, back[1], back[0])[2] < 0.5


@settings(max_examples=100)
@given(china)
def test_gcj02_offset_is_hundreds_of_metres_inside_china(point):
    lat, lng = point
    g = wgs84_to_gcj02(lat, lng)
    assert 1.0 < GEOD.inv(lng, lat, g[1], g[0])[2] < 1500.0


def test_outside_china_gcj02_is_wgs84():
    assert wgs84_to_gcj02(48.8566, 2.3522) == (48.8566, 2.3522)
    assert to_wgs84(40.7128, -74.006, "gcj02") == (40.7128, -74.006)


def test_bd09_is_gcj02_shifted_by_baidus_offset():
    lat, lng = 39.9, 116.4
    bd = convert(lat, lng, "gcj02", "bd09")
    assert 0.005 < bd[0] - lat < 0.008 and 0.005 < bd[1] - lng < 0.008
    assert convert(*bd, "bd09", "gcj02") == pytest.approx((lat, lng), abs=1e-9)


def test_arrays_in_arrays_out_scalars_in_floats_out():
    lat = np.array([[39.9, 31.2], [23.1, 30.6]])
    lng = np.array([[116.4, 121.4], [113.3, 104.0]])
    out_lat, out_lng = to_wgs84(lat, lng, "gcj02")
    assert out_lat.shape == lat.shape and out_lng.shape == lng.shape
    for i in np.ndindex(lat.shape):
        assert to_wgs84(float(lat[i]), float(lng[i]), "gcj02") == pytest.approx((out_lat[i], out_lng[i]), abs=1e-12)
    assert isinstance(to_wgs84(39.9, 116.4, "bd09")[0], float)


@pytest.mark.parametrize(
    "lat,lng,field",
    [(91.0, 0.0, "lat"), (-90.5, 0.0, "lat"), (0.0, 180.1, "lng"), (math.nan, 0.0, "lat"), (0.0, math.inf, "lng"),
     ("north", 0.0, "lat"), ([1.0, 2.0], [1.0], "lng"), (np.array([1.0, np.nan]), np.array([1.0, 2.0]), "lat")],
)
def test_bad_points_raise_typed_error_naming_the_field(lat, lng, field):
    with pytest.raises(InvalidInputError) as exc:
        to_wgs84(lat, lng, "gcj02")
    assert exc.value.field == field and isinstance(exc.value, ValueError)


def test_unknown_coordinate_system_lists_the_choices():
    with pytest.raises(InvalidInputError, match="wgs84, gcj02, bd09") as exc:
        to_wgs84(39.9, 116.4, "epsg:3857")
    assert exc.value.field == "coord"
