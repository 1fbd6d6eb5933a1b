"""The jump rule runs in the delivery script (one round trip for a location update) and in
identity/trust.py (the reference, measured against pyproj.Geod): random pairs of fixes through
both must agree, but for a 10 m band around the threshold (the script measures the chord, within
3.5 m of the geodesic at any distance the 30-minute window allows)."""

import itertools

import h3.api.basic_int as h3i
from hypothesis import HealthCheck, given, settings, strategies as st
from pyproj import Geod

from district_engine.identity.trust import JUMP_WINDOW_MS, MAX_SPEED_KMH, MIN_SLACK_M, Fix, distrust
from district_engine.delivery.events import user_json
from district_engine.store.deliveries import POSITION_RES, DeliveryStore, Position

GEOD = Geod(ellps="WGS84")
T0 = 1_800_000_000_000
_users = itertools.count()


def _position(user, lat, lng):
    return Position(user, lat, lng, h3i.latlng_to_cell(lat, lng, POSITION_RES))


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lat=st.floats(-70, 70), lng=st.floats(-179, 179), azimuth=st.floats(0, 360),
       distance=st.floats(0, 200_000), dt_ms=st.integers(0, JUMP_WINDOW_MS + 600_000))
def test_the_script_and_the_reference_agree_on_jumps(redis_client, lat, lng, azimuth, distance, dt_ms):
    store = DeliveryStore(redis_client, user_json=user_json, reentry_gap_ms=0, pushes_per_window=5,
                          jump=(JUMP_WINDOW_MS, MIN_SLACK_M, MAX_SPEED_KMH / 3600), position_ttl_ms=86_400_000)
    lng2, lat2, _ = GEOD.fwd(lng, lat, azimuth, distance)
    threshold = MIN_SLACK_M + MAX_SPEED_KMH / 3.6 * dt_ms / 1000
    if dt_ms <= JUMP_WINDOW_MS and abs(distance - threshold) < 10:
        return  # within the band where chord and geodesic may differ
    user = f"ch_t:u{next(_users)}"
    _, first = store.deliver_placed([], T0, [_position(user, lat, lng)])
    assert first == set()  # nothing to compare with: trusted
    _, refused = store.deliver_placed([], T0 + dt_ms, [_position(user, lat2, lng2)])
    expected = distrust(Fix(lat, lng, T0), Fix(lat2, lng2, T0 + dt_ms)) is not None
    assert (user in refused) == expected
    recorded = store.last_fixes([user])[user]
    assert recorded[2] == (T0 if expected else T0 + dt_ms)  # a refused position is not recorded
