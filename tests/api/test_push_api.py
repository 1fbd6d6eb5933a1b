"""Push through the HTTP API on a real Redis: endpoints and who sees them, bulk locations queued and
matched by the in-process worker into signed webhooks, and server-sent events with resume, read
from a real uvicorn server."""

import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from conftest import ADMIN, FAR, NEAR_SANLITUN, SANLITUN, bearer, campaign_body, make_channel, make_operator, user_token
from district_engine.settings import Settings
from receiver import Receiver


def test_endpoints_are_scoped_to_who_registered_them(app_client):
    admin = app_client.post("/v1/push-endpoints", json={"url": "https://push.example.com/all"}, headers=bearer(ADMIN))
    assert admin.status_code == 403  # no endpoint receives every event any more
    channel = make_channel(app_client)["api_key"]
    theirs = app_client.post("/v1/push-endpoints", json={"url": "https://push.example.com/c"}, headers=bearer(channel))
    assert theirs.status_code == 201 and theirs.json()["scope"] == "channel"
    assert theirs.json()["secret"].startswith("whsec_")
    a, b = make_operator(app_client, "A"), make_operator(app_client, "B")
    mine = app_client.post("/v1/push-endpoints", json={"url": "https://push.example.com/a"}, headers=bearer(a)).json()
    assert mine["scope"] == "operator" and "secret" in mine
    assert [e["id"] for e in app_client.get("/v1/push-endpoints", headers=bearer(a)).json()] == [mine["id"]]
    assert "secret" not in app_client.get(f"/v1/push-endpoints/{mine['id']}", headers=bearer(a)).json()
    assert app_client.get(f"/v1/push-endpoints/{mine['id']}", headers=bearer(b)).status_code == 404
    assert app_client.delete(f"/v1/push-endpoints/{mine['id']}", headers=bearer(b)).status_code == 404
    assert [e["id"] for e in app_client.get("/v1/push-endpoints", headers=bearer(channel)).json()] == [theirs.json()["id"]]
    assert app_client.get(f"/v1/push-endpoints/{mine['id']}", headers=bearer(channel)).status_code == 404
    assert app_client.get("/v1/push-endpoints").status_code == 401
    assert app_client.delete(f"/v1/push-endpoints/{mine['id']}", headers=bearer(a)).status_code == 204
    assert app_client.get(f"/v1/push-endpoints/{mine['id']}/dead-letters", headers=bearer(a)).status_code == 404


@pytest.mark.parametrize("url", ["ftp://example.com/x", "/relative", "http://user:pw@example.com/",
                                 "http://127.0.0.1:8080/hook", "http://10.1.2.3/", "http://localhost/hook",
                                 "http://[::1]/", "http://169.254.169.254/latest/meta-data", "x" * 3000])
def test_an_operator_cannot_push_to_a_bad_or_private_url(app_client, url):
    key = make_operator(app_client)
    r = app_client.post("/v1/push-endpoints", json={"url": url}, headers=bearer(key))
    assert r.status_code == 422 and r.json()["error"]["field"] == "url", r.text


def test_a_bad_row_in_a_batch_is_named_and_nothing_is_queued(app_client, redis_client, as_city):
    rows = [{"user_id": f"u{i}", "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]} for i in range(5)]
    rows[3]["lat"] = 91
    r = app_client.post("/v1/locations:batch", json={"locations": rows})
    assert r.status_code == 422 and r.json()["error"]["field"] == "locations.3.lat"
    rows[3] = {"user_id": "", "lat": 1, "lng": 1}
    assert app_client.post("/v1/locations:batch", json={"locations": rows}).json()["error"]["field"] == "locations.3.user_id"
    too_many = [{"user_id": "u", "lat": 1.0, "lng": 1.0}] * 10_001
    assert app_client.post("/v1/locations:batch", json={"locations": too_many}).status_code == 422
    assert not any(redis_client.scan_iter(match="*:locations"))


@pytest.fixture
def worker_client(redis_client):
    """The app with its in-process worker, as ``district-engine serve`` runs it (the test receivers
    are on loopback)."""
    with TestClient(create_app(Settings(admin_token=ADMIN, push_allow_private_urls=True), client=redis_client)) as client:
        yield client


def test_bulk_locations_become_signed_webhooks_on_entry_only(worker_client):
    with Receiver() as r:
        channel = make_channel(worker_client)
        worker_client.headers["Authorization"] = f"Bearer {channel['api_key']}"
        other = make_channel(worker_client, "Another channel")
        with Receiver() as elsewhere:  # another channel's endpoint: none of these users' events
            worker_client.post("/v1/push-endpoints", json={"url": elsewhere.url}, headers=bearer(other["api_key"]))
        ep = worker_client.post("/v1/push-endpoints", json={"url": r.url}).json()
        r.secrets = [ep["secret"]]
        key = make_operator(worker_client)
        assert worker_client.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(key)).status_code == 201
        c = worker_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(key)).json()
        near = [{"user_id": f"near-{i}", "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1], "coord": "wgs84"}
                for i in range(200)]
        far = [{"user_id": f"far-{i}", "lat": FAR[0], "lng": FAR[1]} for i in range(100)]
        r1 = worker_client.post("/v1/locations:batch", json={"locations": near + far})
        assert r1.status_code == 202 and r1.json() == {"accepted": 300}
        got = r.wait_for(200)
        assert sorted(x["payload"]["data"]["user_id"] for x in got) == sorted(u["user_id"] for u in near)
        assert {x["payload"]["data"]["channel_id"] for x in got} == {channel["id"]}
        assert {x["payload"]["data"]["campaign_id"] for x in got} == {c["id"]}
        assert all(x["payload"]["data"]["reason"] == "entered" for x in got)
        worker_client.post("/v1/locations:batch", json={"locations": near})  # still inside: not an entry
        worker = worker_client.app.state.worker
        deadline = time.monotonic() + 10
        while worker.matched < 500 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert worker.matched == 500
        time.sleep(0.3)  # would anything more be sent?
        assert len(r.delivered()) == 200
        assert worker_client.get(f"/v1/campaigns/{c['id']}/stats", headers=bearer(key)).json()["pushed"] == 200


def _read_events(response, n):
    """The first n (id, data) events of an SSE response."""
    events, current = [], {}
    for line in response.iter_lines():
        if line.startswith("id: "):
            current["id"] = line[4:]
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "data" in current:
            events.append((current["id"], current["data"]))
            current = {}
            if len(events) == n:
                return events
    raise AssertionError(f"stream ended after {len(events)} events")


def test_server_sent_events_live_and_resumed_with_last_event_id(live_server):
    with httpx.Client(base_url=live_server, timeout=10) as http:
        key = http.post("/v1/operators", json={"name": "Swire"}, headers=bearer(ADMIN)).json()["api_key"]
        channel = http.post("/v1/channels", json={"name": "City"}, headers=bearer(ADMIN)).json()
        http.headers["Authorization"] = f"Bearer {channel['api_key']}"
        assert http.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(key)).status_code == 201
        first = http.post("/v1/campaigns", json=campaign_body(title="first"), headers=bearer(key)).json()
        here = {"user_id": "fan", "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}
        with http.stream("GET", "/v1/users/fan/stream") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert http.post("/v1/locations", json=here).json()["new_offers"][0]["campaign_id"] == first["id"]
            ((first_id, event),) = _read_events(stream, 1)
        assert event["type"] == "offer.delivered" and event["data"]["campaign_id"] == first["id"]
        # Disconnected: a second offer is pushed meanwhile; resuming from the last id gets it, and only it.
        second = http.post("/v1/campaigns", json=campaign_body(title="second"), headers=bearer(key)).json()
        http.post("/v1/locations", json=here)
        device = bearer(user_token(channel, "fan"))  # the user's own device resumes, with its token
        with http.stream("GET", "/v1/users/fan/stream", headers={"Last-Event-ID": first_id} | device) as stream:
            ((second_id, event),) = _read_events(stream, 1)
        assert event["data"]["campaign_id"] == second["id"] and second_id > first_id
        assert event["data"]["user_id"] == "fan" and event["data"]["channel_id"] == channel["id"]
        spy = bearer(user_token(channel, "someone-else"))
        assert http.get("/v1/users/fan/stream", headers={"Last-Event-ID": "0-0"} | spy).status_code == 403
        assert http.get("/v1/users/fan/stream", headers={"Last-Event-ID": "0-0", "Authorization": ""}).status_code == 401
        assert http.get("/v1/users/fan/stream", headers={"Last-Event-ID": "yesterday"}).status_code == 422
