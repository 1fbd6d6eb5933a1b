"""Red-envelope rains through the HTTP API on a real Redis."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from conftest import FAR as FAR_LATLNG, NEAR_SANLITUN, SANLITUN, bearer, make_operator, now as _now

NEAR = dict(zip(("lat", "lng"), NEAR_SANLITUN))
FAR = dict(zip(("lat", "lng"), FAR_LATLNG))


def _rain(**over):
    body = {"district_id": SANLITUN.id, "kind": "red_envelope", "title": "Double 11 rain", "body": "Grab!",
            "starts_at": (_now() - timedelta(minutes=1)).isoformat(), "ends_at": (_now() + timedelta(hours=1)).isoformat(),
            "total_cents": 100_000, "packets": 100, "min_cents": 10}
    return body | over


@pytest.fixture
def owner(sanlitun):
    return sanlitun


def test_grab_win_idempotent_and_figures_reconcile(app_client, owner, as_city):
    rain = app_client.post("/v1/campaigns", json=_rain(), headers=bearer(owner)).json()
    assert rain["rain"] == {"total_cents": 100_000, "packets": 100, "min_cents": 10, "split": "double_mean",
                            "per_user_limit": 1}
    won = app_client.post(f"/v1/red-envelopes/{rain['id']}/grab", json={"user_id": "u1"} | NEAR)
    assert won.status_code == 200 and won.json()["status"] == "won" and won.json()["amount_cents"] >= 10
    again = app_client.post(f"/v1/red-envelopes/{rain['id']}/grab", json={"user_id": "u1"} | NEAR).json()
    assert again["status"] == "already_grabbed" and again["amount_cents"] == won.json()["amount_cents"]
    f = app_client.get(f"/v1/red-envelopes/{rain['id']}", headers=bearer(owner)).json()
    assert f["won_packets"] == 1 and f["won_cents"] == won.json()["amount_cents"] and f["state"] == "live"
    assert f["won_cents"] + f["remaining_cents"] + f["refunded_cents"] == f["total_cents"] == 100_000


def test_a_grab_sent_again_with_its_idempotency_key_is_the_same_grab(app_client, owner, as_city):
    """A client whose grab got a 503 or no answer sends it again with the same Idempotency-Key: it
    is the same grab (the same answer, no second packet), though the user may win 3."""
    rain = app_client.post("/v1/campaigns", json=_rain(per_user_limit=3), headers=bearer(owner)).json()
    url = f"/v1/red-envelopes/{rain['id']}/grab"
    first = app_client.post(url, json={"user_id": "u1"} | NEAR, headers={"Idempotency-Key": "k-1"}).json()
    again = app_client.post(url, json={"user_id": "u1"} | NEAR, headers={"Idempotency-Key": "k-1"}).json()
    assert first["status"] == again["status"] == "won" and again == first
    other_user = app_client.post(url, json={"user_id": "u2"} | NEAR, headers={"Idempotency-Key": "k-1"}).json()
    assert other_user["status"] == "won" and other_user["grab_id"] != first["grab_id"]  # keys are per user
    f = app_client.get(f"/v1/red-envelopes/{rain['id']}", headers=bearer(owner)).json()
    assert f["won_packets"] == 2
    assert app_client.post(url, json={"user_id": "u1"} | NEAR, headers={"Idempotency-Key": "k-2"}).json()["status"] == "won"
    bad = app_client.post(url, json={"user_id": "u1"} | NEAR, headers={"Idempotency-Key": "x" * 256})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "Idempotency-Key"


def test_out_of_range_sold_out_and_not_active(app_client, owner, as_city):
    rain = app_client.post("/v1/campaigns", json=_rain(packets=2, total_cents=100), headers=bearer(owner)).json()
    url = f"/v1/red-envelopes/{rain['id']}/grab"
    far = app_client.post(url, json={"user_id": "x"} | FAR)
    assert far.status_code == 403 and far.json()["status"] == "out_of_range"
    assert [app_client.post(url, json={"user_id": f"u{i}"} | NEAR).status_code for i in range(2)] == [200, 200]
    sold = app_client.post(url, json={"user_id": "u9"} | NEAR)
    assert sold.status_code == 409 and sold.json()["status"] == "sold_out"
    later = app_client.post("/v1/campaigns", headers=bearer(owner),
                            json=_rain(starts_at=(_now() + timedelta(hours=1)).isoformat(),
                                       ends_at=(_now() + timedelta(hours=2)).isoformat())).json()
    early = app_client.post(f"/v1/red-envelopes/{later['id']}/grab", json={"user_id": "u1"} | NEAR)
    assert early.status_code == 409 and early.json()["status"] == "not_active"


def test_ending_a_rain_refunds_the_rest_once(app_client, owner, as_city):
    rain = app_client.post("/v1/campaigns", json=_rain(), headers=bearer(owner)).json()
    won = app_client.post(f"/v1/red-envelopes/{rain['id']}/grab", json={"user_id": "u1"} | NEAR).json()["amount_cents"]
    assert app_client.delete(f"/v1/campaigns/{rain['id']}", headers=bearer(owner)).status_code == 204
    engine = app_client.app.state.engine
    f = engine.stores.rains.figures(rain["id"])
    assert f.state == "ended" and f.refunded_cents == 100_000 - won and f.remaining_cents == 0
    assert engine.stores.rains.audit(rain["id"]) == []


def test_many_grabbers_at_once_never_overdraw(app_client, owner, as_city):
    rain = app_client.post("/v1/campaigns", json=_rain(packets=30, total_cents=3000, min_cents=1), headers=bearer(owner)).json()
    url = f"/v1/red-envelopes/{rain['id']}/grab"
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: app_client.post(url, json={"user_id": f"u{i % 40}"} | NEAR), range(120)))
    wins = {r.json()["grab_id"]: r.json()["amount_cents"] for r in codes if r.json()["status"] == "won"}
    assert len(wins) == 30 and sum(wins.values()) == 3000
    assert app_client.app.state.engine.stores.rains.audit(rain["id"]) == []


@pytest.mark.parametrize("override,field", [
    ({"total_cents": None}, "total_cents"), ({"packets": None}, "packets"), ({"total_cents": 100, "packets": 200}, "total_cents"),
    ({"packets": 1_000_001, "total_cents": 10_000_000}, "packets"), ({"total_cents": 100_000_001}, "total_cents"),
    ({"ends_at": (datetime.now(timezone.utc) + timedelta(hours=30)).isoformat()}, "ends_at"),
    ({"kind": "campaign"}, "total_cents"), ({"split": "lottery"}, "split"),
    ({"per_user_limit": 0}, "per_user_limit"), ({"per_user_limit": 101}, "per_user_limit"),
    ({"total_cents": -5}, "total_cents"), ({"total_cents": 1000.0}, "total_cents"), ({"total_cents": "100000"}, "total_cents"),
    ({"total_cents": 0.07}, "total_cents"), ({"packets": 0}, "packets"), ({"min_cents": 2000}, "total_cents"),
    ({"packets": 10.5}, "packets"), ({"min_cents": "1"}, "min_cents"),
    ({"packets": 2, "per_user_limit": 3}, "per_user_limit"),
])
def test_bad_rains_are_422_with_the_field_and_create_nothing(app_client, owner, override, field):
    r = app_client.post("/v1/campaigns", json=_rain(**override), headers=bearer(owner))
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert app_client.get("/v1/campaigns", headers=bearer(owner)).json() == {"campaigns": []}


def test_a_rains_window_cannot_move_and_only_the_owner_sees_figures(app_client, owner, as_city):
    rain = app_client.post("/v1/campaigns", json=_rain(), headers=bearer(owner)).json()
    r = app_client.patch(f"/v1/campaigns/{rain['id']}", json={"ends_at": _now().isoformat()}, headers=bearer(owner))
    assert r.status_code == 422 and r.json()["error"]["field"] == "ends_at"
    other = make_operator(app_client, "other")
    assert app_client.get(f"/v1/red-envelopes/{rain['id']}", headers=bearer(other)).status_code == 404
    assert app_client.post("/v1/red-envelopes/nope/grab", json={"user_id": "u"} | NEAR).status_code == 404


def test_grab_attempts_are_rate_limited_per_user_and_per_address_of_devices_only(redis_client):
    """A user is limited wherever it calls from; a channel's backend is one address for a crowd of
    users and is never limited as one client; devices (user tokens) are also limited per address."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from conftest import ADMIN, make_channel, user_token
    from district_engine.settings import Settings

    app = create_app(Settings(admin_token=ADMIN, grab_limit_per_user=3, grab_limit_per_ip=5, grab_window_s=30),
                     client=redis_client)
    with TestClient(app) as client:
        key = make_operator(client)
        channel = make_channel(client)
        client.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(key))
        rain = client.post("/v1/campaigns", json=_rain(), headers=bearer(key)).json()
        url = f"/v1/red-envelopes/{rain['id']}/grab"
        as_channel = bearer(channel["api_key"])
        codes = [client.post(url, json={"user_id": "greedy"} | NEAR, headers=as_channel).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]  # won, already_grabbed, already_grabbed, then the limit
        limited = client.post(url, json={"user_id": "greedy"} | NEAR, headers=as_channel)
        assert limited.json()["error"]["code"] == "rate_limited" and 1 <= int(limited.headers["Retry-After"]) <= 30
        # The channel's backend, one address, for 20 users: none is limited (5 per address would be).
        crowd = [client.post(url, json={"user_id": f"c{i}"} | NEAR, headers=as_channel).status_code for i in range(20)]
        assert crowd == [200] * 20
        # Devices at one address (the test client's), each with its own token: 5 attempts in all.
        devices = [client.post(url, json=NEAR, headers=bearer(user_token(channel, f"d{i}"))).status_code
                   for i in range(7)]
        assert devices[:5] == [200] * 5 and devices[5:] == [429, 429]


def test_ending_a_rain_now_refunds_the_rest_once_and_keeps_its_figures(app_client, owner, as_city):
    rain = app_client.post("/v1/campaigns", json=_rain(), headers=bearer(owner)).json()
    won = app_client.post(f"/v1/red-envelopes/{rain['id']}/grab", json={"user_id": "u1"} | NEAR).json()["amount_cents"]
    other = make_operator(app_client, "Other")
    assert app_client.post(f"/v1/campaigns/{rain['id']}/end", headers=bearer(other)).status_code == 404
    for _ in range(2):  # idempotent: the second call changes nothing
        r = app_client.post(f"/v1/campaigns/{rain['id']}/end", headers=bearer(owner))
        assert r.status_code == 200 and r.json()["state"] == "ended" and r.json()["ended_at"]
        figures = app_client.get(f"/v1/red-envelopes/{rain['id']}", headers=bearer(owner)).json()
        assert figures["refunded_cents"] == 100_000 - won and figures["remaining_cents"] == 0
        assert figures["state"] == "ended"
    late = app_client.post(f"/v1/red-envelopes/{rain['id']}/grab", json={"user_id": "u2"} | NEAR).json()
    assert late["status"] != "won"
    assert app_client.get(f"/v1/campaigns/{rain['id']}", headers=bearer(owner)).json()["state"] == "ended"


def test_a_scheduled_campaign_ended_never_goes_live(app_client, owner):
    later = _rain(starts_at=(_now() + timedelta(minutes=10)).isoformat(), kind="campaign",
                  total_cents=None, packets=None)
    c = app_client.post("/v1/campaigns", json=later, headers=bearer(owner)).json()
    assert c["state"] == "scheduled"
    assert app_client.post(f"/v1/campaigns/{c['id']}/end", headers=bearer(owner)).json()["state"] == "ended"
    listed = app_client.get("/v1/campaigns", params={"state": "ended"}, headers=bearer(owner)).json()["campaigns"]
    assert [x["id"] for x in listed] == [c["id"]]
