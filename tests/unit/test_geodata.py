import numpy as np
import pytest
from pyproj import Geod

from district_engine import ReachIndex
from district_engine.districts.geodata import load_demo_districts, load_demo_lots, load_districts
from district_engine.districts.synthetic import synthetic_pings, synthetic_stores

DEMO_IDS = {"sanlitun-taikoo-li", "indigo-beijing", "hkri-taikoo-hui", "taikoo-hui-guangzhou", "sino-ocean-taikoo-li"}
# Published WGS-84 anchors of each site (geodata/README.md); footprints must sit on them.
ANCHORS = {
    "sanlitun-taikoo-li": (39.933536, 116.448053),
    "indigo-beijing": (39.9713, 116.4899),  # Jiangtai station, whose exit leads into INDIGO
    "hkri-taikoo-hui": (31.230622, 121.460644),
    "taikoo-hui-guangzhou": (23.1364, 113.3269),
    "sino-ocean-taikoo-li": (30.6559194, 104.0806361),  # Daci Temple, which the lanes wrap around
}
GEOD = Geod(ellps="WGS84")


def test_five_demo_districts_with_stable_ids_and_names():
    ds = load_demo_districts()
    assert {d.id for d in ds} == DEMO_IDS
    assert all(d.name and d.name_zh and d.city for d in ds)


@pytest.mark.parametrize("district", load_demo_districts(), ids=lambda d: d.id)
def test_demo_footprints_are_realistic_and_at_the_real_site(district):
    area_m2 = abs(GEOD.geometry_area_perimeter(district.geometry)[0])
    assert 30_000 < area_m2 < 150_000  # a few hundred metres across
    lat, lng = ANCHORS[district.id]
    c_lat, c_lng = district.centre
    assert GEOD.inv(lng, lat, c_lng, c_lat)[2] < 600


def test_every_demo_district_has_one_or_two_lots_near_it():
    ds = {d.id: d for d in load_demo_districts()}
    lots = load_demo_lots()
    per = {i: sum(lot.district_id == i for lot in lots) for i in ds}
    assert all(1 <= n <= 2 for n in per.values())
    index = ReachIndex(list(ds.values()), radius_m=300.0)
    for lot in lots:
        assert lot.district_id in {m.district_id for m in index.match(lot.lat, lot.lng)}
        assert lot.capacity > 0 and lot.tariff["cents_per_unit"] > 0


def test_load_districts_reads_a_single_feature_file(tmp_path):
    ds = load_demo_districts()
    path = tmp_path / "one.geojson"
    import json

    path.write_text(json.dumps(ds[0].to_geojson()), encoding="utf-8")
    (one,) = load_districts(path)
    assert one.id == ds[0].id and one.geometry.equals(ds[0].geometry)


def test_synthetic_stores_are_deterministic_valid_and_dense_like_a_city():
    a = synthetic_stores(2000, n_cities=4, seed=3)
    b = synthetic_stores(2000, n_cities=4, seed=3)
    assert [d.id for d in a] == [d.id for d in b] and all(x.geometry.equals(y.geometry) for x, y in zip(a, b))
    assert len({d.city for d in a}) == 4 and all(d.geometry.is_valid for d in a)
    index = ReachIndex(a)
    lat, lng = synthetic_pings(a, 500, seed=4)
    per_ping = np.bincount(index.match_many(lat, lng).point_index, minlength=500)
    assert per_ping.mean() > 5  # 500 stores per city: tens of stores within 3 km of a ping
