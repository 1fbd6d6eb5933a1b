"""Input is taken as sent, and odd input is a 422 naming its field, never a 500 or a silent
coercion: lone surrogates and control characters in text, coordinates that are not JSON numbers
(false, "39.9"), a device time of 1970 or of next week, a campaign that would never run."""

import json
from datetime import timedelta

import pytest

from conftest import NEAR_SANLITUN, SANLITUN, bearer, campaign_body, now

NEAR = {"lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}


def _raw(client, path, text: str, **headers):
    """POST a body as raw JSON text: a lone surrogate can be written in JSON ("\\ud800")."""
    return client.post(path, content=text.encode(), headers={"Content-Type": "application/json"} | headers)


def _field(response) -> str:
    assert response.status_code == 422, (response.status_code, response.text)
    return response.json()["error"]["field"]


@pytest.mark.parametrize("path, text, field", [
    ("/v1/locations", '{"user_id": "u\\ud800", "lat": 39.93, "lng": 116.447}', "body"),  # not even JSON for pydantic
    ("/v1/locations:batch", '{"locations": [{"user_id": "u\\ud800", "lat": 39.93, "lng": 116.447}]}',
     "locations.0.user_id"),
    ("/v1/locations:batch", '{"locations": [{"user_id": "a\\u0000b", "lat": 39.93, "lng": 116.447}]}',
     "locations.0.user_id"),
    ("/v1/locations", '{"user_id": "u\\u001b[31m", "lat": 39.93, "lng": 116.447}', "user_id"),
])
def test_text_with_a_lone_surrogate_or_a_control_character_is_refused(app_client, as_city, path, text, field):
    r = _raw(app_client, path, text)
    assert r.status_code == 422, r.text
    assert r.json()["error"].get("field") == field


def test_a_grab_by_a_user_id_with_a_lone_surrogate_is_a_422(app_client, sanlitun, as_city):
    rain = app_client.post("/v1/campaigns", headers=bearer(sanlitun), json=campaign_body(
        kind="red_envelope", total_cents=1000, packets=10)).json()
    r = _raw(app_client, f"/v1/red-envelopes/{rain['id']}/grab", '{"user_id": "u\\ud800", "lat": 39.93, "lng": 116.447}')
    assert _field(r) == "user_id"


def test_campaign_and_district_texts_are_checked_and_a_body_keeps_its_newlines(app_client, sanlitun):
    assert _field(app_client.post("/v1/campaigns", json=campaign_body(title="50%\x00 off"),
                                  headers=bearer(sanlitun))) == "title"
    ok = app_client.post("/v1/campaigns", json=campaign_body(body="Line one\nLine two\twith a tab"),
                         headers=bearer(sanlitun))
    assert ok.status_code == 201 and ok.json()["body"] == "Line one\nLine two\twith a tab"
    feature = SANLITUN.to_geojson()
    feature["properties"] = feature["properties"] | {"id": "odd", "name": "Bad\x07name"}
    assert _field(app_client.post("/v1/districts", json=feature, headers=bearer(sanlitun))) == "properties.name"


@pytest.mark.parametrize("lat, lng, field", [(39.93, False, "lng"), ("39.93", 116.447, "lat"), (True, 116.447, "lat")])
def test_coordinates_are_json_numbers_only(app_client, sanlitun, as_city, lat, lng, field):
    body = {"user_id": "u", "lat": lat, "lng": lng}
    assert _field(app_client.post("/v1/locations", json=body)) == field
    assert _field(app_client.post("/v1/locations:batch", json={"locations": [body]})) == f"locations.0.{field}"
    assert app_client.post("/v1/locations", json=body | {"lat": 39, "lng": 116}).status_code == 200  # integers are numbers


def test_geojson_positions_are_json_numbers_only(app_client, sanlitun):
    for bad in (False, "116.45"):
        feature = SANLITUN.to_geojson()
        feature["properties"] = feature["properties"] | {"id": "odd"}
        feature["geometry"] = json.loads(json.dumps(feature["geometry"]))
        coords = feature["geometry"]["coordinates"]
        ring = coords[0][0] if feature["geometry"]["type"] == "MultiPolygon" else coords[0]
        ring[1][0] = bad
        field = _field(app_client.post("/v1/districts", json=feature, headers=bearer(sanlitun)))
        assert field.startswith("geometry.coordinates"), field


def test_a_devices_time_must_be_a_fix_of_now(app_client, sanlitun, as_city):
    body = {"user_id": "u", **NEAR}
    for at in ("1970-01-01T00:00:00Z", (now() + timedelta(minutes=10)).isoformat(),
               (now() - timedelta(hours=1)).isoformat()):
        assert _field(app_client.post("/v1/locations", json=body | {"at": at})) == "at"
    assert app_client.post("/v1/locations", json=body | {"at": (now() - timedelta(minutes=1)).isoformat()}).status_code == 200
    assert _field(app_client.post("/v1/locations", json=body | {"at": 0})) == "at"  # not a time at all


def test_a_campaign_that_would_never_run_is_refused(app_client, sanlitun):
    past = campaign_body(starts_at=(now() - timedelta(days=2)).isoformat(), ends_at=(now() - timedelta(days=1)).isoformat())
    r = app_client.post("/v1/campaigns", json=past, headers=bearer(sanlitun))
    assert _field(r) == "ends_at" and "never run" in r.json()["error"]["message"]


@pytest.mark.parametrize("raw", ["null", "[]", "{", '"x"'])
def test_a_body_that_is_no_object_is_a_422_naming_the_body(app_client, sanlitun, raw):
    r = app_client.post("/v1/campaigns", content=raw, headers=bearer(sanlitun) | {"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "body", r.text
