"""Identity end to end: channel-scoped users, key rotation and revocation, user tokens at the
edge, and trusted positions (no packet moves on an untrusted one, and the audit stays clean)."""

import time
from datetime import datetime, timezone

from fastapi.testclient import TestClient
from starlette.requests import Request

from api.auth import client_address, trusted_networks
from api.main import create_app
from conftest import (ADMIN, FAR, NEAR_SANLITUN, bearer, campaign_body, make_channel, make_operator,
                      user_token)
from district_engine.settings import Settings
from district_engine.store.rains import RainStore

NEAR = {"lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}


def _rain(client, key, **over):
    r = client.post("/v1/campaigns", headers=bearer(key), json=campaign_body(
        kind="red_envelope", total_cents=10_000, packets=50, min_cents=1) | over)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_the_same_user_id_in_two_channels_is_two_users(app_client, sanlitun):
    a, b = make_channel(app_client, "A"), make_channel(app_client, "B")
    campaign = app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun)).json()["id"]
    rain = _rain(app_client, sanlitun)
    for ch in (a, b):
        got = app_client.post("/v1/locations", json={"user_id": "u-1"} | NEAR, headers=bearer(ch["api_key"])).json()
        assert {o["campaign_id"] for o in got["new_offers"]} == {campaign, rain}  # each one's first entry
        won = app_client.post(f"/v1/red-envelopes/{rain}/grab", json={"user_id": "u-1"} | NEAR,
                              headers=bearer(ch["api_key"])).json()
        assert won["status"] == "won"
    stats = app_client.get(f"/v1/campaigns/{campaign}/stats", headers=bearer(sanlitun)).json()
    assert stats["offers_delivered"] == 2 and stats["unique_users"] == 2
    figures = app_client.get(f"/v1/red-envelopes/{rain}", headers=bearer(sanlitun)).json()
    assert figures["won_packets"] == 2
    # A's u-1 again: already delivered, already grabbed; B is not affected by A's history.
    again = app_client.post("/v1/locations", json={"user_id": "u-1"} | NEAR, headers=bearer(a["api_key"])).json()
    assert again["new_offers"] == []
    assert RainStore(app_client.app.state.engine.client).audit(rain) == []


def test_rotating_one_channels_key_leaves_the_other_untouched(app_client):
    a, b = make_channel(app_client, "A"), make_channel(app_client, "B")
    me = "/v1/channels/me"
    kept = app_client.post(f"/v1/channels/{a['id']}/keys", json={"grace_s": 60}, headers=bearer(ADMIN)).json()
    assert app_client.get(me, headers=bearer(a["api_key"])).status_code == 200  # within its grace
    assert app_client.get(me, headers=bearer(kept["api_key"])).json()["id"] == a["id"]
    revoked = app_client.post(f"/v1/channels/{a['id']}/keys", json={"grace_s": 0, "token_secret": True},
                              headers=bearer(ADMIN)).json()
    for old in (a["api_key"], kept["api_key"]):
        r = app_client.get(me, headers=bearer(old))
        assert r.status_code == 401 and "not valid" in r.json()["error"]["message"]
    assert app_client.get(me, headers=bearer(revoked["api_key"])).status_code == 200
    old_token = user_token(a, "u-1")  # signed with the revoked token secret
    assert app_client.post("/v1/locations", json=NEAR, headers=bearer(old_token)).status_code == 401
    fresh = user_token(a | {"token_secret": revoked["token_secret"]}, "u-1")
    assert app_client.post("/v1/locations", json=NEAR, headers=bearer(fresh)).status_code == 200
    assert app_client.get(me, headers=bearer(b["api_key"])).json()["id"] == b["id"]  # B untouched
    assert app_client.post("/v1/locations", json=NEAR, headers=bearer(user_token(b, "u-1"))).status_code == 200
    assert app_client.post("/v1/channels/ch_nope/keys", json={}, headers=bearer(ADMIN)).status_code == 404
    assert app_client.post(f"/v1/channels/{a['id']}/keys", json={"grace_s": -1},
                           headers=bearer(ADMIN)).json()["error"]["field"] == "grace_s"


def test_an_operator_key_rotates_and_a_revoked_key_stops_in_every_process_within_the_cache_time(redis_client):
    settings = Settings(admin_token=ADMIN, worker=False, auth_cache_s=0.3)
    with TestClient(create_app(settings, client=redis_client)) as one, \
            TestClient(create_app(settings, client=redis_client)) as two:
        key = make_operator(one)
        operator_id = two.get("/v1/operators/me", headers=bearer(key)).json()["id"]  # cached in two
        new = one.post(f"/v1/operators/{operator_id}/keys", json={"grace_s": 0}, headers=bearer(ADMIN)).json()
        assert one.get("/v1/operators/me", headers=bearer(key)).status_code == 401  # at once where it was revoked
        deadline = time.monotonic() + 30
        while two.get("/v1/operators/me", headers=bearer(key)).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert two.get("/v1/operators/me", headers=bearer(key)).status_code == 401
        assert two.get("/v1/operators/me", headers=bearer(new["api_key"])).json()["id"] == operator_id


def test_user_tokens_act_for_their_own_user_only_and_bad_ones_say_why(app_client, sanlitun, city):
    rain = _rain(app_client, sanlitun)
    mine = bearer(user_token(city, "u-7"))
    assert app_client.post(f"/v1/red-envelopes/{rain}/grab", json=NEAR, headers=mine).json()["status"] == "won"
    other = app_client.post(f"/v1/red-envelopes/{rain}/grab", json={"user_id": "u-8"} | NEAR, headers=mine)
    assert other.status_code == 403 and other.json()["error"]["code"] == "wrong_user"
    cases = {"token_expired": user_token(city, "u-7", iat=1_700_000_000, exp=1_700_003_600),
             "invalid_token": user_token(city, "u-7", aud="someone-else")}
    for code, t in cases.items():
        r = app_client.post("/v1/locations", json=NEAR, headers=bearer(t))
        assert r.status_code == 401 and r.json()["error"]["code"] == code and r.headers["WWW-Authenticate"] == "Bearer"
    two = app_client.post("/v1/locations", json=NEAR, headers=[("Authorization", f"Bearer {city['api_key']}"),
                                                                 ("Authorization", mine["Authorization"])])
    assert two.status_code == 401 and "one Authorization header" in two.json()["error"]["message"]
    missing = app_client.post("/v1/locations", json=NEAR, headers=bearer(city["api_key"]))
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "user_id"


def test_no_packet_moves_on_an_untrusted_position_and_the_audit_is_clean(app_client, sanlitun, city):
    rain = _rain(app_client, sanlitun)
    key = bearer(city["api_key"])
    url = f"/v1/red-envelopes/{rain}/grab"
    # Shanghai, then Sanlitun a second later: 1,070 km in a second.
    assert app_client.post("/v1/locations", json={"user_id": "jumper", "lat": FAR[0], "lng": FAR[1]},
                           headers=key).status_code == 200
    cases = [({"user_id": "jumper"} | NEAR, "jumped"), ({"user_id": "spoofer", "mocked": True} | NEAR, "mocked"),
             ({"user_id": "blurry", "accuracy_m": 800} | NEAR, "accuracy")]
    for body, reason in cases:
        r = app_client.post(url, json=body, headers=key)
        assert r.status_code == 403, r.text
        assert r.json()["status"] == "untrusted_location" and reason in r.json()["error"]["message"]
    # The jumper's position was not believed: a location there gives nothing and says why.
    placed = app_client.post("/v1/locations", json={"user_id": "jumper"} | NEAR, headers=key).json()
    assert placed["new_offers"] == [] and "jumped" in placed["untrusted"]
    figures = app_client.get(f"/v1/red-envelopes/{rain}", headers=bearer(sanlitun)).json()
    assert figures["won_packets"] == 0 and figures["remaining_cents"] == 10_000
    honest = app_client.post(url, json={"user_id": "local", "accuracy_m": 15} | NEAR, headers=key).json()
    assert honest["status"] == "won"
    assert RainStore(app_client.app.state.engine.client).audit(rain) == []


def _request(peer: str, forwarded: str | None, proxies: str) -> Request:
    class App:
        class state:
            trusted_proxies = trusted_networks(proxies)

    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers, "app": App})


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy():
    assert client_address(_request("203.0.113.9", "198.51.100.1", "")) == "203.0.113.9"
    assert client_address(_request("203.0.113.9", "198.51.100.1", "10.0.0.0/8")) == "203.0.113.9"
    assert client_address(_request("10.0.0.2", "198.51.100.1", "10.0.0.0/8")) == "198.51.100.1"
    # The client's own say-so (leftmost) is skipped: the nearest untrusted hop counts.
    assert client_address(_request("10.0.0.2", "1.2.3.4, 198.51.100.1, 10.0.0.3", "10.0.0.0/8")) == "198.51.100.1"
    assert client_address(_request("10.0.0.2", None, "10.0.0.0/8")) == "10.0.0.2"


def test_an_operators_calls_are_limited_per_operator_in_every_process(redis_client):
    settings = Settings(admin_token=ADMIN, worker=False, operator_calls_per_minute=3)
    with TestClient(create_app(settings, client=redis_client)) as one, \
            TestClient(create_app(settings, client=redis_client)) as two:
        busy, calm = make_operator(one, "Busy"), make_operator(one, "Calm")
        codes = [c.get("/v1/operators/me", headers=bearer(busy)).status_code for c in (one, two, one, two)]
        assert codes == [200, 200, 200, 429]
        limited = one.get("/v1/campaigns", headers=bearer(busy))
        assert limited.json()["error"]["code"] == "rate_limited" and 1 <= int(limited.headers["Retry-After"]) <= 60
        assert two.get("/v1/operators/me", headers=bearer(calm)).status_code == 200  # another operator's own limit


def test_an_operators_orders_are_limited_apart_from_its_other_calls(redis_client):
    """Orders come from the brand's tills and shops at their own pace (DE_OPERATOR_ORDERS_PER_MINUTE):
    a busy console does not stop sales being reported, nor do sales use up the console's calls."""
    settings = Settings(admin_token=ADMIN, worker=False, operator_calls_per_minute=3, operator_orders_per_minute=2)
    with TestClient(create_app(settings, client=redis_client)) as client:
        key = make_operator(client, "Brand")
        channel = make_channel(client)
        assert [client.get("/v1/operators/me", headers=bearer(key)).status_code for _ in range(4)] == [200] * 3 + [429]
        at = datetime.now(timezone.utc).isoformat()
        codes = [client.post("/v1/orders", headers=bearer(key), json={
            "order_id": f"o-{i}", "channel_id": channel["id"], "user_id": "u", "amount_cents": 100,
            "sales_channel": "store", "at": at}).status_code for i in range(3)]
        assert codes == [201, 201, 429]
