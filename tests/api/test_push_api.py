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
from district_engine.delivery import resolver
from district_engine.delivery.addresses import host_ip
from district_engine.settings import Settings
from district_engine.store import keys
from district_engine.store.outbox import Retry
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


# Inside addresses in every spelling a URL's host can carry (the C resolver reads 2130706433,
# 0x7f000001 and 127.1 as 127.0.0.1, and 0 as 0.0.0.0, which reaches loopback on Linux).
INSIDE_URLS = [
    "http://0x7f000001:8799/", "http://2130706433/", "http://127.1/", "http://127.0.1:8080/", "http://0/",
    "http://0x7f.1/", "http://0177.0.0.1/", "http://017700000001/", "http://127.0.0.1./", "http://0.0.0.0/",
    "http://167772161/", "http://012.1/", "http://0xc0.0xa8.0.1/", "http://172.16.0.1/", "http://2852039166/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::127.0.0.1]/", "http://[::ffff:10.0.0.1]/",
    "http://[::]/", "http://[fe80::1]/", "http://[fe80::1%25eth0]/", "http://[fd00::1]/", "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/", "http://100.64.0.1/", "http://100.127.255.254/", "http://224.0.0.1/",
    "http://[ff02::1]/", "http://240.0.0.1/", "http://255.255.255.255/", "https://foo.localhost/",
    "https://LOCALHOST./",
]


@pytest.mark.parametrize("url", INSIDE_URLS)
def test_no_spelling_of_an_inside_address_can_be_registered(app_client, url):
    key = make_operator(app_client)
    r = app_client.post("/v1/push-endpoints", json={"url": url}, headers=bearer(key))
    assert r.status_code == 422 and r.json()["error"]["field"] == "url", r.text
    assert r.json()["error"]["code"] == "blocked_address"


@pytest.fixture
def dns(monkeypatch):
    """A resolver the test sets: name -> addresses (every other name does not resolve)."""
    names: dict[str, list[str]] = {}

    def lookup(host, port):
        if host not in names:
            raise resolver.UnresolvedError(f"{host} does not resolve")
        return [host_ip(a) for a in names[host]]
    monkeypatch.setattr(resolver, "lookup", lookup)
    return names


def test_a_name_is_resolved_and_every_address_it_has_is_checked(app_client, dns):
    dns |= {"hooks.inside.test": ["127.0.0.1"], "hooks.mixed.test": ["93.184.215.14", "10.1.2.3"],
            "hooks.metadata.test": ["169.254.169.254"], "hooks.v6.test": ["::ffff:127.0.0.1"],
            "hooks.public.test": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]}
    key = make_operator(app_client)
    for name in ("hooks.inside.test", "hooks.mixed.test", "hooks.metadata.test", "hooks.v6.test"):
        r = app_client.post("/v1/push-endpoints", json={"url": f"https://{name}/x"}, headers=bearer(key))
        assert r.status_code == 422 and r.json()["error"]["field"] == "url", (name, r.text)
        assert "resolves to a" in r.json()["error"]["message"] and "10.1.2.3" not in r.text  # no inside DNS shown
    ok = app_client.post("/v1/push-endpoints", json={"url": "https://hooks.public.test/x"}, headers=bearer(key))
    assert ok.status_code == 201, ok.text
    # A name that does not resolve yet has nothing to call; every connection checks it again.
    later = app_client.post("/v1/push-endpoints", json={"url": "https://hooks.tomorrow.test/x"}, headers=bearer(key))
    assert later.status_code == 201, later.text


@pytest.mark.parametrize("env", ["DE_ALLOW_PRIVATE_WEBHOOKS", "DE_PUSH_ALLOW_PRIVATE_URLS"])
def test_allowing_private_webhooks_lifts_the_address_check(redis_client, monkeypatch, env):
    assert not Settings().private_webhooks_allowed
    monkeypatch.setenv(env, "true")
    settings = Settings(admin_token=ADMIN, worker=False)
    assert settings.private_webhooks_allowed
    with TestClient(create_app(settings, client=redis_client)) as client:
        key = make_operator(client)
        for url in ("http://127.0.0.1:8080/hook", "http://0x7f000001:8799/", "http://[::1]/", "http://10.0.0.1/"):
            r = client.post("/v1/push-endpoints", json={"url": url}, headers=bearer(key))
            assert r.status_code == 201, r.text
        assert client.post("/v1/push-endpoints", json={"url": "ftp://x/"}, headers=bearer(key)).status_code == 422


def test_an_owner_has_at_most_the_cap_of_endpoints(app_client):
    a, b = make_operator(app_client, "A"), make_operator(app_client, "B")
    made = [app_client.post("/v1/push-endpoints", json={"url": f"https://push.example.com/{i}"}, headers=bearer(a))
            for i in range(10)]
    assert [r.status_code for r in made] == [201] * 10
    over = app_client.post("/v1/push-endpoints", json={"url": "https://push.example.com/x"}, headers=bearer(a))
    assert over.status_code == 409 and over.json()["error"]["code"] == "too_many_endpoints", over.text
    assert "at most 10" in over.json()["error"]["message"]
    assert app_client.post("/v1/push-endpoints", json={"url": "https://push.example.com/b"},
                           headers=bearer(b)).status_code == 201  # another owner's count is its own
    assert app_client.delete(f"/v1/push-endpoints/{made[0].json()['id']}", headers=bearer(a)).status_code == 204
    again = app_client.post("/v1/push-endpoints", json={"url": "https://push.example.com/x"}, headers=bearer(a))
    assert again.status_code == 201
    assert len(app_client.get("/v1/push-endpoints", headers=bearer(a)).json()) == 10


def _bury(engine, endpoint_id, n, start_ms=1_700_000_000_000):
    """n dead letters of the endpoint, the i-th failed at start_ms + i; their event ids."""
    ids = []
    for i in range(n):
        r = Retry(f"evt_{i:03d}", endpoint_id, 7, start_ms, "op", f"ch_x:u{i}", '{"id": "evt_%03d"}' % i)
        engine.stores.outbox.bury(r, "http_5xx", 503, start_ms + i)
        ids.append(r.event_id)
    return ids


def test_dead_letters_are_per_endpoint_paged_newest_first_and_replayed_once(app_client, redis_client):
    a, b = make_operator(app_client, "A"), make_operator(app_client, "B")
    engine = app_client.app.state.engine
    mine = app_client.post("/v1/push-endpoints", json={"url": "https://push.example.com/1"}, headers=bearer(a)).json()
    other = app_client.post("/v1/push-endpoints", json={"url": "https://push.example.com/2"}, headers=bearer(a)).json()
    ids = _bury(engine, mine["id"], 5)
    _bury(engine, other["id"], 3)
    url = f"/v1/push-endpoints/{mine['id']}/dead-letters"
    seen, cursor = [], None
    for expected in (2, 2, 1):
        page = app_client.get(url, params={"limit": 2} | ({"cursor": cursor} if cursor else {}), headers=bearer(a))
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) == expected
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
    assert cursor is None or app_client.get(url, params={"cursor": cursor}, headers=bearer(a)).json()["items"] == []
    assert [d["event_id"] for d in seen] == ids[::-1]  # newest first, each once, only this endpoint's
    assert {(d["error"], d["status"], d["attempts"]) for d in seen} == {("http_5xx", 503, 7)}
    assert app_client.get(url, params={"cursor": "garbage"}, headers=bearer(a)).json()["error"]["field"] == "cursor"
    replay = f"{url}:replay"
    assert app_client.post(replay, headers=bearer(b)).status_code == 404  # the owner only
    first = app_client.post(replay, headers=bearer(a))
    assert first.status_code == 200 and first.json() == {"queued": 5, "left": 0}, first.text
    assert app_client.post(replay, headers=bearer(a)).json() == {"queued": 0, "left": 0}  # sent twice: nothing more
    queued = [Retry.parse(m.decode()) for p in range(engine.stores.outbox.partitions)
              for m in redis_client.zrange(keys.retries(p), 0, -1)]
    assert sorted(r.event_id for r in queued) == ids and {(r.endpoint_id, r.attempt) for r in queued} == {(mine["id"], 0)}
    assert app_client.get(url, headers=bearer(a)).json() == {"items": [], "next_cursor": None}
    assert len(app_client.get(f"/v1/push-endpoints/{other['id']}/dead-letters", headers=bearer(a)).json()["items"]) == 3
    assert app_client.delete(f"/v1/push-endpoints/{other['id']}", headers=bearer(a)).status_code == 204
    assert not redis_client.exists(keys.dead_letters(other["id"]))  # they go with their endpoint


def test_a_disabled_endpoint_says_why_and_its_owner_enables_it(app_client):
    a, b = make_operator(app_client, "A"), make_operator(app_client, "B")
    engine = app_client.app.state.engine
    ep = app_client.post("/v1/push-endpoints", json={"url": "https://push.example.com/1"}, headers=bearer(a)).json()
    engine.stores.endpoints.disable(ep["id"], "no delivery succeeded for 24 h; last error: timeout")
    got = app_client.get(f"/v1/push-endpoints/{ep['id']}", headers=bearer(a)).json()
    assert (got["state"], got["disabled_reason"]) == ("disabled", "no delivery succeeded for 24 h; last error: timeout")
    _bury(engine, ep["id"], 1)
    refused = app_client.post(f"/v1/push-endpoints/{ep['id']}/dead-letters:replay", headers=bearer(a))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "endpoint_disabled"
    assert app_client.post(f"/v1/push-endpoints/{ep['id']}:enable", headers=bearer(b)).status_code == 404
    enabled = app_client.post(f"/v1/push-endpoints/{ep['id']}:enable", headers=bearer(a))
    assert enabled.status_code == 200 and enabled.json()["state"] == "active" and enabled.json()["disabled_reason"] is None
    assert app_client.post(f"/v1/push-endpoints/{ep['id']}/dead-letters:replay",
                           headers=bearer(a)).json() == {"queued": 1, "left": 0}


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
    with TestClient(create_app(Settings(admin_token=ADMIN, allow_private_webhooks=True), client=redis_client)) as client:
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


def test_a_dead_letter_cursor_past_what_redis_takes_is_refused_not_a_500(app_client):
    a = make_operator(app_client, "A")
    mine = app_client.post("/v1/push-endpoints", json={"url": "https://push.example.com/1"}, headers=bearer(a)).json()
    r = app_client.get(f"/v1/push-endpoints/{mine['id']}/dead-letters", headers=bearer(a),
                       params={"cursor": "99999999999999999999-0"})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "cursor"), r.text
