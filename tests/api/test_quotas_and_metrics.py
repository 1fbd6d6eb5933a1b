"""Quotas per tenant, with clear errors, and /metrics behind its token when one is set."""

from fastapi.testclient import TestClient

from api.main import create_app
from conftest import ADMIN, SANLITUN, bearer, campaign_body, make_operator
from district_engine.settings import Settings
from helpers import square


def feature(district_id, geometry):
    return {"type": "Feature", "properties": {"id": district_id, "name": district_id, "city": "Beijing"},
            "geometry": geometry}


def _app(redis_client, **settings):
    return TestClient(create_app(Settings(admin_token=ADMIN, worker=False, **settings), client=redis_client))


def test_each_quota_refuses_the_one_too_many_with_a_clear_error_and_no_more(redis_client):
    with _app(redis_client, quota_districts_per_operator=2, quota_live_campaigns_per_district=2,
              quota_lots_per_district=1) as client:
        op = make_operator(client)
        lat, lng = SANLITUN.centre
        for i in range(2):
            assert client.post("/v1/districts", json=feature(f"d{i}", square(lat, lng + i * 0.01, 100)),
                               headers=bearer(op)).status_code == 201
        assert client.post("/v1/districts", json=feature("d0", square(lat, lng, 120)), headers=bearer(op)).status_code == 200
        third = client.post("/v1/districts", json=feature("d2", square(lat, lng + 0.02, 100)), headers=bearer(op))
        assert third.status_code == 409 and third.json()["error"]["code"] == "quota_exceeded"
        assert "DE_QUOTA_DISTRICTS_PER_OPERATOR" in third.json()["error"]["message"]
        other = make_operator(client, "Another")  # quotas are per tenant
        assert client.post("/v1/districts", json=feature("o1", square(lat, lng + 0.03, 100)),
                           headers=bearer(other)).status_code == 201

        for _ in range(2):
            assert client.post("/v1/campaigns", json=campaign_body(district_id="d0"), headers=bearer(op)).status_code == 201
        over = client.post("/v1/campaigns", json=campaign_body(district_id="d0"), headers=bearer(op))
        assert over.status_code == 409 and over.json()["error"] == {
            "code": "quota_exceeded", "field": "district_id", "message": over.json()["error"]["message"]}
        assert client.post("/v1/campaigns", json=campaign_body(district_id="d1"), headers=bearer(op)).status_code == 201
        ended = client.get("/v1/campaigns", params={"district_id": "d0"}, headers=bearer(op)).json()["campaigns"][0]["id"]
        assert client.post(f"/v1/campaigns/{ended}/end", headers=bearer(op)).status_code == 200  # an ended one frees its place
        assert client.post("/v1/campaigns", json=campaign_body(district_id="d0"), headers=bearer(op)).status_code == 201

        lot = {"district_id": "d0", "name": "P1", "capacity": 10, "location": {"lat": lat, "lng": lng},
               "tariff": {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000}}
        assert client.post("/v1/parking/lots", json=lot, headers=bearer(op)).status_code == 201
        again = client.post("/v1/parking/lots", json=lot | {"name": "P2"}, headers=bearer(op))
        assert again.status_code == 409 and again.json()["error"]["code"] == "quota_exceeded"


def test_metrics_are_public_by_default_and_behind_their_token_when_one_is_set(redis_client):
    with _app(redis_client) as client:
        assert client.get("/metrics").status_code == 200
    with _app(redis_client, metrics_token="scrape-me") as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer("wrong")).status_code == 401
        ok = client.get("/metrics", headers=bearer("scrape-me"))
        assert ok.status_code == 200 and "http_request_duration_seconds" in ok.text
