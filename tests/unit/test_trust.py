"""The trusted-position rule: mocked, inaccurate or impossibly fast fixes are not trusted; GPS
jitter never is a jump. Distances are pyproj.Geod's."""

from hypothesis import assume, given, strategies as st
from pyproj import Geod

from district_engine.identity.trust import (JUMP_WINDOW_MS, MAX_ACCURACY_M, MAX_SPEED_KMH, MIN_SLACK_M, Fix,
                                            distrust)

GEOD = Geod(ellps="WGS84")
SANLITUN = (39.9300, 116.4470)
SHANGHAI = (31.2400, 121.4900)
lats = st.floats(-80, 80)
lngs = st.floats(-179, 179)
accuracy = st.none() | st.floats(0, MAX_ACCURACY_M)


def moved(lat, lng, azimuth, distance_m):
    lng2, lat2, _ = GEOD.fwd(lng, lat, azimuth, distance_m)
    return lat2, lng2


def test_shanghai_to_beijing_in_a_second_is_a_jump_and_flags_are_believed():
    before = Fix(*SHANGHAI, 0)
    assert "jumped" in distrust(before, Fix(*SANLITUN, 1000))
    assert distrust(before, Fix(*SANLITUN, 6 * 3600 * 1000)) is None  # a day trip later: nothing to compare
    assert "mocked" in distrust(None, Fix(*SANLITUN, 0, mocked=True))
    assert "accuracy" in distrust(None, Fix(*SANLITUN, 0, accuracy_m=MAX_ACCURACY_M + 1))
    assert distrust(None, Fix(*SANLITUN, 0, accuracy_m=MAX_ACCURACY_M)) is None


@given(lat=lats, lng=lngs, azimuth=st.floats(0, 360), distance=st.floats(0, MIN_SLACK_M),
       dt_ms=st.integers(0, JUMP_WINDOW_MS), a=accuracy, b=accuracy)
def test_jitter_within_the_slack_is_never_a_jump(lat, lng, azimuth, distance, dt_ms, a, b):
    """Two honest fixes, however close in time, are never a jump while within 500 m."""
    assert distrust(Fix(lat, lng, 0, a), Fix(*moved(lat, lng, azimuth, distance * 0.999), dt_ms, b)) is None


@given(lat=lats, lng=lngs, azimuth=st.floats(0, 360), speed_kmh=st.floats(0, MAX_SPEED_KMH * 0.99),
       dt_ms=st.integers(1000, JUMP_WINDOW_MS), a=accuracy, b=accuracy)
def test_travel_below_the_speed_limit_is_trusted(lat, lng, azimuth, speed_kmh, dt_ms, a, b):
    distance = speed_kmh / 3.6 * dt_ms / 1000 + MIN_SLACK_M * 0.99
    assert distrust(Fix(lat, lng, 0, a), Fix(*moved(lat, lng, azimuth, distance), dt_ms, b)) is None


@given(lat=lats, lng=lngs, azimuth=st.floats(0, 360), factor=st.floats(1.01, 1000),
       dt_ms=st.integers(0, JUMP_WINDOW_MS), a=accuracy, b=accuracy)
def test_anything_faster_than_the_limit_beyond_the_slack_is_a_jump(lat, lng, azimuth, factor, dt_ms, a, b):
    slack = max(MIN_SLACK_M, (a or 0) + (b or 0))
    distance = slack + MAX_SPEED_KMH / 3.6 * dt_ms / 1000 * factor + 1
    assume(distance < 1.9e7)  # farther, the way back round the Earth is shorter: no longer this distance
    assert "jumped" in distrust(Fix(lat, lng, 0, a), Fix(*moved(lat, lng, azimuth, distance), dt_ms, b))


@given(lat=lats, lng=lngs, azimuth=st.floats(0, 360), distance=st.floats(0, 2e7), extra_ms=st.integers(1, 10**9))
def test_after_the_window_any_move_is_trusted(lat, lng, azimuth, distance, extra_ms):
    assert distrust(Fix(lat, lng, 0), Fix(*moved(lat, lng, azimuth, distance), JUMP_WINDOW_MS + extra_ms)) is None
