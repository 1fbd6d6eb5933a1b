import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from district_engine import District, ReachIndex, fence_transition
from district_engine.matching import Fence, transition, transitions_many
from helpers import SANLITUN, feature, offset, random_footprint

ids = st.frozensets(st.sampled_from([f"d{i}" for i in range(8)]))


@given(ids, ids)
def test_fence_transition_partitions_before_and_after(before, after):
    t = fence_transition(before, after)
    assert t.entered | t.inside == after
    assert t.exited | t.inside == before
    assert not (t.entered & t.exited) and not (t.entered & t.inside) and not (t.exited & t.inside)


def test_no_previous_position_means_everything_is_entered():
    t = fence_transition([], ["a", "b"])
    assert t.entered == {"a", "b"} and not t.exited and not t.inside


def _index():
    rng = np.random.default_rng(11)
    lat, lng = SANLITUN
    ds = []
    for i, (az, dist) in enumerate([(0, 0), (90, 2500), (200, 4000)]):
        c_lat, c_lng = offset(lat, lng, az, dist)
        ds.append(District.from_geojson(feature(f"d{i}", random_footprint(rng, float(c_lat), float(c_lng), 200))))
    return ReachIndex(ds, radius_m=1500.0)


def test_walking_away_exits_and_walking_back_enters():
    index = _index()
    lat, lng = SANLITUN
    far = tuple(float(x) for x in offset(lat, lng, 270, 6000))
    assert transition(index, None, (lat, lng)).entered == {"d0"}
    assert transition(index, (lat, lng), far).exited == {"d0"}
    assert transition(index, far, (lat, lng)).entered == {"d0"}
    assert transition(index, (lat, lng), (lat + 1e-4, lng)).inside == {"d0"}


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_transitions_many_agrees_with_one_user_at_a_time(seed):
    index = _index()
    rng = np.random.default_rng(seed)
    lat, lng = SANLITUN
    n = 80
    p_lat, p_lng = offset(lat, lng, rng.uniform(0, 360, n), rng.uniform(0, 6000, n))
    c_lat, c_lng = offset(p_lat, p_lng, rng.uniform(0, 360, n), rng.uniform(0, 2500, n))
    p_lat[:5] = np.nan  # users seen for the first time
    point, pos, kind = transitions_many(index, p_lat, p_lng, c_lat, c_lng)
    got = {(int(i), index.district_ids[p], Fence(k)) for i, p, k in zip(point, pos, kind)}
    want = set()
    for i in range(n):
        prev = None if np.isnan(p_lat[i]) else (float(p_lat[i]), float(p_lng[i]))
        t = transition(index, prev, (float(c_lat[i]), float(c_lng[i])))
        for fence, members in ((Fence.ENTER, t.entered), (Fence.EXIT, t.exited), (Fence.INSIDE, t.inside)):
            want |= {(i, d, fence) for d in members}
    assert got == want
