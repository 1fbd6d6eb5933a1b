"""The map endpoints the console draws from: who am I, my districts, a reach's cells, density."""

import h3
import numpy as np
import shapely

from conftest import FAR, NEAR_SANLITUN, SANLITUN, bearer, make_operator
from district_engine.geo.reference import reference_distance_m
from helpers import offset


def test_me_names_the_operator_of_the_key_and_refuses_a_wrong_one(app_client):
    key = make_operator(app_client, "Swire Beijing")
    r = app_client.get("/v1/operators/me", headers=bearer(key))
    assert r.status_code == 200 and r.json()["name"] == "Swire Beijing" and r.json()["id"]
    r = app_client.get("/v1/operators/me", headers=bearer("not-a-key"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert app_client.get("/v1/operators/me").status_code == 401


def test_mine_lists_only_the_callers_districts(app_client, sanlitun):
    other = make_operator(app_client, "Other")
    mine = app_client.get("/v1/districts", params={"mine": "true"}, headers=bearer(sanlitun)).json()["districts"]
    assert [d["id"] for d in mine] == [SANLITUN.id]
    assert app_client.get("/v1/districts", params={"mine": "true"}, headers=bearer(other)).json() == {"districts": []}
    assert app_client.get("/v1/districts", params={"mine": "true"}).status_code == 401
    assert SANLITUN.id in [d["id"] for d in app_client.get("/v1/districts").json()["districts"]]  # still public


def test_cells_are_the_matchers_cover_and_the_outline_is_3_km_out(app_client, sanlitun):
    r = app_client.get(f"/v1/districts/{SANLITUN.id}/cells")
    assert r.status_code == 200
    fc = r.json()
    kinds = {}
    for f in fc["features"]:
        kinds.setdefault(f["properties"]["kind"], []).append(f)
    (outline,) = kinds["outline"]
    assert fc["radius_m"] == 3000 and kinds["interior"] and kinds["boundary"]
    # Interior cells: every vertex in reach. Boundary cells: each straddles the 3 km line.
    for f in kinds["interior"]:
        ring = np.asarray(f["geometry"]["coordinates"][0])
        assert reference_distance_m(ring[:, 1], ring[:, 0], [SANLITUN.geometry] * len(ring)).max() <= 3000
    boundary = {f["properties"]["cell"] for f in kinds["boundary"]}
    assert {h3.get_resolution(f["properties"]["cell"]) for f in fc["features"][:-1]} == {fc["res"]} == {8}
    # The outline (GeoJSON: [lng, lat]) runs 3 km from the footprint, through boundary cells only.
    ring = np.asarray(outline["geometry"]["coordinates"][0])
    d = reference_distance_m(ring[::8, 1], ring[::8, 0], [SANLITUN.geometry] * len(ring[::8]))
    assert np.abs(d - 3000).max() < 1.0
    assert {h3.latlng_to_cell(lat, lng, 8) for lng, lat in ring[::4]} <= boundary
    # The cells drawn tile the reach: the outline's inside is covered by them.
    cells = shapely.union_all([shapely.Polygon(f["geometry"]["coordinates"][0])
                               for f in kinds["interior"] + kinds["boundary"]])
    uncovered = shapely.Polygon(ring).difference(cells)
    assert uncovered.area < 1e-6 * cells.area  # slivers: cell edges are arcs, drawn as lines
    assert app_client.get("/v1/districts/nowhere/cells").status_code == 404


def test_density_counts_users_in_reach_per_cell_and_hides_fewer_than_five(app_client, sanlitun, as_city):
    spot = h3.cell_to_latlng(h3.latlng_to_cell(*NEAR_SANLITUN, 8))  # a cell's centre, ~300 m from Sanlitun
    busy = [offset(*spot, azimuth, 15) for azimuth in range(0, 360, 45)]  # 8 users in that cell
    quiet = [offset(*NEAR_SANLITUN, 90 + azimuth, 2000) for azimuth in (0, 1, 2)]  # 3 users elsewhere
    for i, (lat, lng) in enumerate(busy + quiet + [FAR] * 6):
        r = app_client.post("/v1/locations", json={"user_id": f"u{i}", "lat": lat, "lng": lng})
        assert r.status_code == 200, r.text
    r = app_client.get(f"/v1/districts/{SANLITUN.id}/density", headers=bearer(sanlitun))
    assert r.status_code == 200, r.text
    fc = r.json()
    assert fc["min_users"] == 5 and fc["res"] == 8
    cells = {f["properties"]["cell"]: f["properties"]["users"] for f in fc["features"]}
    assert cells == {h3.latlng_to_cell(*spot, 8): 8}  # the 3 together elsewhere and the 6 far away never show
    other = make_operator(app_client, "Other")
    assert app_client.get(f"/v1/districts/{SANLITUN.id}/density", headers=bearer(other)).status_code == 404
    assert app_client.get(f"/v1/districts/{SANLITUN.id}/density", headers={"Authorization": ""}).status_code == 401
    assert app_client.get(f"/v1/districts/{SANLITUN.id}/density").status_code == 403  # the channel's key


def test_cells_at_a_campaigns_radius_and_a_bad_radius(app_client, sanlitun):
    fc = app_client.get(f"/v1/districts/{SANLITUN.id}/cells", params={"radius_m": 800}).json()
    outline = next(f for f in fc["features"] if f["properties"]["kind"] == "outline")
    ring = np.asarray(outline["geometry"]["coordinates"][0])[::6]
    d = reference_distance_m(ring[:, 1], ring[:, 0], [SANLITUN.geometry] * len(ring))
    assert fc["radius_m"] == 800 and np.abs(d - 800).max() < 0.3
    assert len(fc["features"]) < len(app_client.get(f"/v1/districts/{SANLITUN.id}/cells").json()["features"])
    r = app_client.get(f"/v1/districts/{SANLITUN.id}/cells", params={"radius_m": 5000})
    assert r.status_code == 422 and r.json()["error"]["field"] == "radius_m"
