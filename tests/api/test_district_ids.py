"""A district uploaded without an id (a Feature exported from QGIS or geojson.io names none) gets
one made by the server; with an Idempotency-Key, a retry makes the same one."""

import re

from conftest import SANLITUN, bearer, make_operator
from district_engine.store import keys

FEATURE = SANLITUN.to_geojson()
NO_ID = {"type": "Feature", "properties": {k: v for k, v in FEATURE["properties"].items() if k != "id"},
         "geometry": FEATURE["geometry"]}  # as geojson.io exports it: no "id" anywhere


def test_a_feature_without_an_id_gets_one_made_by_the_server(app_client):
    key = make_operator(app_client)
    r = app_client.post("/v1/districts", json=NO_ID, headers=bearer(key))
    assert r.status_code == 201, r.text
    district_id = r.json()["id"]
    assert re.fullmatch(r"dst_[0-9a-f]{16}", district_id)
    stored = app_client.get(f"/v1/districts/{district_id}").json()
    assert stored["properties"]["id"] == district_id and stored["properties"]["name"] == SANLITUN.name
    again = app_client.post("/v1/districts", json=NO_ID, headers=bearer(key))  # no key: another district
    assert again.status_code == 201 and again.json()["id"] != district_id


def test_a_null_id_is_no_id(app_client):
    key = make_operator(app_client)
    body = NO_ID | {"id": None, "properties": NO_ID["properties"] | {"id": None}}
    r = app_client.post("/v1/districts", json=body, headers=bearer(key))
    assert r.status_code == 201 and r.json()["id"].startswith("dst_")


def test_the_retry_of_an_upload_without_an_id_makes_the_same_district(app_client, redis_client):
    key = make_operator(app_client)
    headers = bearer(key) | {"Idempotency-Key": "upload-1"}
    first = app_client.post("/v1/districts", json=NO_ID, headers=headers)
    replay = app_client.post("/v1/districts", json=NO_ID, headers=headers)
    assert (first.status_code, replay.status_code, replay.headers["idempotent-replayed"]) == (201, 201, "true")
    assert replay.json() == first.json()
    for k in redis_client.scan_iter(match="idem:*"):  # the answer was lost: the retry runs again
        redis_client.delete(k)
    retry = app_client.post("/v1/districts", json=NO_ID, headers=headers)
    assert (retry.status_code, retry.json()["id"]) == (201, first.json()["id"])
    assert redis_client.scard(keys.districts()) == 1


def test_a_feature_with_an_id_keeps_it_and_replacing_ones_own_is_200(app_client):
    key = make_operator(app_client)
    assert app_client.post("/v1/districts", json=FEATURE, headers=bearer(key)).status_code == 201
    r = app_client.post("/v1/districts", json=FEATURE, headers=bearer(key))
    assert (r.status_code, r.json()["id"]) == (200, SANLITUN.id)


def test_name_and_city_are_still_required(app_client):
    key = make_operator(app_client)
    body = NO_ID | {"properties": {"city": "Beijing"}}
    r = app_client.post("/v1/districts", json=body, headers=bearer(key))
    assert (r.status_code, r.json()["error"]["field"]) == (422, "properties.name")
