import h3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from district_engine import District, InvalidInputError, Match, NotFoundError, ReachIndex, from_wgs84
from district_engine.geo.reference import reference_distance_m
from helpers import SANLITUN, feature, offset, random_footprint

TOLERANCE_M = 1.0


def _districts(rng, n, spread_m=3000.0):
    lat, lng = SANLITUN
    out = []
    for i in range(n):
        c_lat, c_lng = offset(lat, lng, rng.uniform(0, 360), spread_m * np.sqrt(rng.uniform()))
        geom = random_footprint(rng, float(c_lat), float(c_lng), rng.uniform(20, 600))
        out.append(District.from_geojson(feature(f"d{i}", geom)))
    return out


def _truth(districts, lat, lng):
    """Reference distance (pyproj.Geod) of every point to every district: shape (points, districts)."""
    cols = [reference_distance_m(lat, lng, [d.geometry] * lat.size) for d in districts]
    return np.column_stack(cols)


def _points(rng, index, n):
    lat, lng = SANLITUN
    p_lat, p_lng = offset(lat, lng, rng.uniform(0, 360, n), 7000 * np.sqrt(rng.uniform(0, 1, n)))
    # And points within a few metres of some district's reach boundary, where mistakes would hide.
    for d in index.districts[:3]:
        c_lat, c_lng = d.centre
        az = rng.uniform(0, 360, 5)
        lo, hi = np.zeros(az.size), np.full(az.size, index.radius_m + 2000.0)
        for _ in range(30):  # bisect along each ray for reference distance == radius
            mid = (lo + hi) / 2
            m_lat, m_lng = offset(c_lat, c_lng, az, mid)
            inside = reference_distance_m(m_lat, m_lng, [d.geometry] * az.size) < index.radius_m
            lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
        for delta in (-3.0, -1.5, 1.5, 3.0):
            b_lat, b_lng = offset(c_lat, c_lng, az, lo + delta)
            p_lat, p_lng = np.append(p_lat, b_lat), np.append(p_lng, b_lng)
    return p_lat, p_lng


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([3000.0, 1500.0, 250.0]), st.sampled_from([7, 8, 9]))
def test_match_many_is_exactly_the_geodesic_truth(seed, radius_m, res):
    rng = np.random.default_rng(seed)
    districts = _districts(rng, int(rng.integers(1, 6)))
    index = ReachIndex(districts, radius_m=radius_m, res=res)
    lat, lng = _points(rng, index, 150)
    truth = _truth(index.districts, lat, lng)
    got = index.match_many(lat, lng, ids=False)
    matched = np.zeros(truth.shape, bool)
    matched[got.point_index, got.district_id] = True
    wrong = matched != (truth <= radius_m)
    # Only points within 1 m of the radius may disagree with the reference.
    assert np.all(np.abs(truth[wrong] - radius_m) <= TOLERANCE_M)
    assert np.all(np.abs(got.distance_m - truth[got.point_index, got.district_id]) < 0.5)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_match_equals_match_many_and_is_nearest_first(seed):
    rng = np.random.default_rng(seed)
    index = ReachIndex(_districts(rng, 8))
    lat, lng = _points(rng, index, 60)
    many = index.match_many(lat, lng)
    assert np.all(np.diff(many.point_index) >= 0)
    for i in range(lat.size):
        single = index.match(float(lat[i]), float(lng[i]))
        rows = many.point_index == i
        assert [m.district_id for m in single] == list(many.district_id[rows])
        assert np.allclose([m.distance_m for m in single], many.distance_m[rows])
        assert [m.distance_m for m in single] == sorted(m.distance_m for m in single)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_contains_many_is_the_same_set_as_match_many(seed):
    rng = np.random.default_rng(seed)
    index = ReachIndex(_districts(rng, 6))
    lat, lng = _points(rng, index, 200)
    m = index.match_many(lat, lng, ids=False)
    c_point, c_fp = index.contains_many(lat, lng)
    assert set(zip(m.point_index.tolist(), m.district_id.tolist())) == set(zip(c_point.tolist(), c_fp.tolist()))


def test_cover_interior_cells_are_wholly_in_reach_and_neighbours_outside_are_wholly_out():
    rng = np.random.default_rng(3)
    index = ReachIndex(_districts(rng, 1, spread_m=0.0), radius_m=2000.0, res=8)
    d = index.districts[0]
    cells, interior = index.cover(d.id)
    covered = set(cells.tolist())
    ring = {int(h3.str_to_int(n)) for c in cells.tolist() for n in h3.grid_disk(h3.int_to_str(c), 1)} - covered
    for cell_ids, expect in ((cells[interior], "in"), (np.array(sorted(ring), dtype=np.uint64), "out")):
        for c in cell_ids.tolist():
            boundary = np.array(h3.cell_to_boundary(h3.int_to_str(c)))
            centre = np.array(h3.cell_to_latlng(h3.int_to_str(c)))
            # The vertices and points between them and the centre sample the whole cell.
            pts = np.vstack([boundary, centre, (boundary + centre) / 2])
            dist = reference_distance_m(pts[:, 0], pts[:, 1], [d.geometry] * len(pts))
            if expect == "in":
                assert np.all(dist <= index.radius_m)
            else:
                assert np.all(dist > index.radius_m)
    assert interior.any() and (~interior).any()


def test_gcj02_input_is_converted_once_at_the_edge():
    lat, lng = SANLITUN
    index = ReachIndex([District.from_geojson(feature("s", random_footprint(np.random.default_rng(1), lat, lng, 200)))])
    p = offset(lat, lng, 40.0, 1200.0)
    wgs = index.match(float(p[0]), float(p[1]))
    g_lat, g_lng = from_wgs84(float(p[0]), float(p[1]), "gcj02")
    gcj = index.match(g_lat, g_lng, coord="gcj02")
    assert [m.district_id for m in gcj] == [m.district_id for m in wgs]
    assert gcj[0].distance_m == pytest.approx(wgs[0].distance_m, abs=0.01)
    # The raw GCJ-02 numbers read as WGS-84 are hundreds of metres off.
    assert abs(index.match(g_lat, g_lng)[0].distance_m - wgs[0].distance_m) > 100


def test_empty_index_and_far_points_match_nothing():
    assert ReachIndex([]).match(39.9, 116.4) == []
    index = ReachIndex(_districts(np.random.default_rng(2), 2))
    assert index.match(-33.9, 151.2) == []
    many = index.match_many([], [])
    assert many.point_index.size == 0 and many.distance_m.size == 0


def test_match_returns_match_tuples():
    index = ReachIndex(_districts(np.random.default_rng(5), 1, spread_m=0.0))
    (m,) = index.match(*SANLITUN)
    assert isinstance(m, Match) and m.district_id == "d0" and isinstance(m.distance_m, float)


@pytest.mark.parametrize("radius_m", [0, -5, 3000.5, float("nan"), "far"])
def test_bad_radius_is_rejected(radius_m):
    with pytest.raises(InvalidInputError) as exc:
        ReachIndex([], radius_m=radius_m)
    assert exc.value.field == "radius_m"


def test_bad_points_and_duplicates_and_unknown_ids():
    index = ReachIndex(_districts(np.random.default_rng(6), 2))
    with pytest.raises(InvalidInputError):
        index.match(95.0, 116.0)
    with pytest.raises(InvalidInputError):
        index.match_many([39.9, float("nan")], [116.4, 116.4])
    with pytest.raises(InvalidInputError):
        index.match(39.9, 116.4, coord="utm")
    with pytest.raises(InvalidInputError, match="duplicate"):
        ReachIndex(index.districts + index.districts[:1])
    with pytest.raises(NotFoundError):
        index.cover("nope")
    with pytest.raises(InvalidInputError, match="resolution"):
        ReachIndex([], res=16)


def test_antipodal_and_edge_latitudes_do_not_break_lookup():
    index = ReachIndex(_districts(np.random.default_rng(8), 2))
    m = index.match_many([90.0, -90.0, 0.0, 39.93], [180.0, -180.0, 0.0, 116.45])
    assert not set(m.point_index.tolist()) & {0, 1, 2}
    assert [x.district_id for x in index.match(39.93, 116.45)] == list(m.district_id[m.point_index == 3])


def test_batches_larger_than_one_chunk_are_stitched_in_point_order():
    from district_engine.matching import index as index_module

    rng = np.random.default_rng(13)
    index = ReachIndex(_districts(rng, 5))
    n = index_module._CHUNK + 5000
    lat, lng = offset(*SANLITUN, rng.uniform(0, 360, n), rng.uniform(0, 6000, n))
    whole = index.match_many(lat, lng, ids=False)
    halves = [index.match_many(lat[s], lng[s], ids=False) for s in (slice(0, 70_000), slice(70_000, n))]
    assert np.array_equal(whole.point_index, np.concatenate([halves[0].point_index, halves[1].point_index + 70_000]))
    assert np.array_equal(whole.district_id, np.concatenate([h.district_id for h in halves]))


def test_cover_grows_a_grid_disk_that_was_too_small(monkeypatch):
    """The disk size comes from the local cell size; if it ever falls short, the rim check grows it."""
    import district_engine.geo.cover as cover
    from district_engine.geo.geodesy import compile_footprints

    rng = np.random.default_rng(12)
    fp = compile_footprints([d.geometry for d in _districts(rng, 6)])
    normal = cover.reach_cover(fp, 3000.0)
    monkeypatch.setattr(cover, "_K_SAFETY", 4.0)  # disks four times too small
    grown = cover.reach_cover(fp, 3000.0)

    def as_set(c):
        return set(zip(c.cells.tolist(), c.footprint.tolist(), c.interior.tolist()))

    assert as_set(grown) == as_set(normal)


def test_batches_from_many_threads_at_once_agree_with_one_thread():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(21)
    index = ReachIndex(_districts(rng, 10))
    lat, lng = _points(rng, index, 3000)
    want = index.match_many(lat, lng, ids=False)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: index.match_many(lat, lng, ids=False), range(8)))
    for got in results:
        assert all(np.array_equal(a, b) for a, b in zip(got, want))
