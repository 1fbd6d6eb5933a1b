import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from district_engine import District
from district_engine.matching.index import ReachIndex
from district_engine.matching.layered import LayeredIndex
from helpers import SANLITUN, feature, offset, random_footprint


def _district(rng, i, version=0):
    lat, lng = offset(*SANLITUN, rng.uniform(0, 360), 4000 * np.sqrt(rng.uniform()))
    geom = random_footprint(rng, float(lat), float(lng), rng.uniform(30, 300))
    return District.from_geojson(feature(f"d{i}", geom, name=f"D{i} v{version}"))


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_changes_in_layers_match_a_full_rebuild(seed):
    rng = np.random.default_rng(seed)
    current = {f"d{i}": _district(rng, i) for i in range(12)}
    layered = LayeredIndex(list(current.values()))
    base = layered.base
    for step in range(6):
        put = [_district(rng, int(i), step + 1) for i in rng.integers(0, 16, 3)]  # new ids and replacements
        deleted = [f"d{i}" for i in rng.integers(0, 16, 2) if f"d{i}" not in {d.id for d in put}]
        layered = layered.with_changes(put, deleted)
        for i in deleted:
            current.pop(i, None)
        current.update({d.id: d for d in put})
    assert layered.base is base  # the base was never rebuilt
    full = ReachIndex(list(current.values()))
    lat, lng = offset(*SANLITUN, rng.uniform(0, 360, 80), rng.uniform(0, 7000, 80))
    for a, b in zip(lat.tolist(), lng.tolist()):
        want = sorted((m.district_id, round(m.distance_m, 6)) for m in full.match(a, b))
        got = layered.match(a, b)
        assert sorted((m.district_id, round(m.distance_m, 6)) for m in got) == want
        assert [m.distance_m for m in got] == sorted(m.distance_m for m in got)
    assert len(layered) == len(current)
    compact = layered.compacted()
    assert compact.overlay_size == 0 and len(compact) == len(current)
    assert sorted(d.id for d in compact.districts()) == sorted(current)

