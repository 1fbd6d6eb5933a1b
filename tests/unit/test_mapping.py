"""What the console's map draws, measured against pyproj.Geod (WGS-84)."""

import h3
import numpy as np
import pytest
import shapely

from district_engine.geo.geodesy import footprint_centre
from district_engine.geo.mapping import binned_counts, cell_features, outline_sag_m, reach_outline
from district_engine.geo.reference import reference_distance_m
from helpers import SANLITUN, offset, random_footprint


def _outline_points(outline) -> np.ndarray:
    """(lng, lat) of every vertex of every ring of the outline and the midpoints of its chords."""
    points = []
    for ring in shapely.get_rings(shapely.get_parts(outline)):
        xy = np.asarray(ring.coords)
        points += [xy, (xy[1:] + xy[:-1]) / 2]
    return np.concatenate(points)


@pytest.mark.parametrize("seed, lat, lng, radius_m", [
    (0, 39.93, 116.45, 3000.0), (1, 0.0, 0.0, 3000.0), (2, -59.5, 178.9, 1000.0), (3, 59.5, -70.0, 50.0),
])
def test_the_outline_lies_radius_from_the_footprint_within_its_chords_sag(seed, lat, lng, radius_m):
    rng = np.random.default_rng(seed)
    footprint = random_footprint(rng, lat, lng, 400)
    outline = reach_outline(footprint, radius_m, footprint_centre(footprint))
    points = _outline_points(outline)
    points = points[rng.choice(len(points), min(len(points), 120), replace=False)]  # the reference is slow
    d = reference_distance_m(points[:, 1], points[:, 0], [footprint] * len(points))
    sag = outline_sag_m(radius_m)
    assert d.max() <= radius_m + 0.01, d.max() - radius_m  # never outside the reach
    # A chord runs at most `sag` inside its arc; where two arcs meet, their chords cross at most
    # about twice that inside.
    assert d.min() >= radius_m - 2 * sag - 0.01, (radius_m - d.min(), sag)
    assert sag < 0.41  # 0.4 m at 3 km: finer than any zoom the console offers


def test_cell_features_are_closed_lng_lat_rings_of_their_cells():
    cell = h3.latlng_to_cell(*SANLITUN, 8)
    (f,) = cell_features(np.array([h3.str_to_int(cell)], np.uint64), [{"kind": "boundary"}])
    ring = f["geometry"]["coordinates"][0]
    assert f["properties"] == {"cell": cell, "kind": "boundary"}
    assert ring[0] == ring[-1] and len(ring) == 7
    polygon = shapely.Polygon(ring)  # x = lng, y = lat
    lat, lng = h3.cell_to_latlng(cell)
    assert polygon.contains(shapely.Point(lng, lat))


def test_binned_counts_withhold_cells_with_fewer_than_five():
    rng = np.random.default_rng(7)
    busy = [offset(*SANLITUN, rng.uniform(0, 360), rng.uniform(0, 30)) for _ in range(9)]
    quiet = [offset(*SANLITUN, 90, 2500 + rng.uniform(0, 30)) for _ in range(4)]
    lats, lngs = np.array(busy + quiet).T
    cells, counts = binned_counts(lats, lngs, 8)
    assert counts.tolist() == [9]
    assert h3.int_to_str(int(cells[0])) == h3.latlng_to_cell(*SANLITUN, 8)
    assert binned_counts(lats, lngs, 8, min_count=1)[1].sum() == 13
    assert binned_counts(np.empty(0), np.empty(0), 8)[0].size == 0


@pytest.mark.parametrize("res", [7, 8, 9])
def test_binned_counts_agree_with_h3(res):
    rng = np.random.default_rng(res)
    lats, lngs = SANLITUN[0] + rng.normal(0, 0.01, 500), SANLITUN[1] + rng.normal(0, 0.01, 500)
    cells, counts = binned_counts(lats, lngs, res, min_count=1)
    expected = {}
    for la, ln in zip(lats, lngs):
        c = h3.str_to_int(h3.latlng_to_cell(la, ln, res))
        expected[c] = expected.get(c, 0) + 1
    assert dict(zip(cells.tolist(), counts.tolist())) == expected
