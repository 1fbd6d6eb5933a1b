"""The HTTP contract (v1) through the real app on a real Redis."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from district_engine.geo import from_wgs84
from district_engine.settings import Settings
from conftest import ADMIN, FAR, NEAR_SANLITUN, SANLITUN, bearer, campaign_body, make_channel, make_operator, now as _now

def test_health_ready_metrics_and_docs(app_client):
    assert app_client.get("/healthz").json() == {"status": "ok"}
    assert app_client.get("/readyz").json()["status"] == "ready"
    app_client.get("/healthz")
    assert "http_request_duration_seconds_bucket" in app_client.get("/metrics").text
    spec = app_client.get("/openapi.json").json()
    assert "/v1/feed" in spec["paths"] and "/v1/campaigns/{campaign_id}/stats" in spec["paths"]
    post = spec["paths"]["/v1/campaigns"]["post"]
    assert {"401", "422", "503"} <= set(post["responses"]) and post["requestBody"]["content"]["application/json"]


def test_operators_need_the_admin_token(app_client):
    assert app_client.post("/v1/operators", json={"name": "x"}).status_code == 401
    assert app_client.post("/v1/operators", json={"name": "x"}, headers=bearer("wrong")).status_code == 401
    r = app_client.post("/v1/operators", json={"name": "Swire"}, headers=bearer(ADMIN))
    assert r.status_code == 201 and r.json()["api_key"].startswith("de_live_")


def test_district_upload_list_get_delete(app_client, sanlitun):
    listed = app_client.get("/v1/districts").json()["districts"]
    assert [d["id"] for d in listed] == [SANLITUN.id]
    assert listed[0]["centroid"]["lat"] == pytest.approx(SANLITUN.centre[0])
    feature = app_client.get(f"/v1/districts/{SANLITUN.id}").json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "MultiPolygon"
    assert app_client.delete(f"/v1/districts/{SANLITUN.id}", headers=bearer(sanlitun)).status_code == 204
    assert app_client.get(f"/v1/districts/{SANLITUN.id}").status_code == 404


def test_feed_is_live_campaigns_in_reach_nearest_first(app_client, sanlitun):
    live = app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun)).json()
    app_client.post("/v1/campaigns", json=campaign_body(title="Later", starts_at=(_now() + timedelta(hours=2)).isoformat()),
                    headers=bearer(sanlitun))
    app_client.post("/v1/campaigns", json=campaign_body(title="Small", radius_m=100), headers=bearer(sanlitun))
    offers = app_client.get("/v1/feed", params={"lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}).json()["offers"]
    assert [o["campaign_id"] for o in offers] == [live["id"]]  # not the scheduled one, not the 100 m one
    assert offers[0]["district_name"] == "Sanlitun Taikoo Li" and 200 < offers[0]["distance_m"] < 350
    g_lat, g_lng = from_wgs84(*NEAR_SANLITUN, "gcj02")
    gcj = app_client.get("/v1/feed", params={"lat": g_lat, "lng": g_lng, "coord": "gcj02"}).json()["offers"]
    assert gcj[0]["distance_m"] == pytest.approx(offers[0]["distance_m"], abs=0.2)
    assert app_client.get("/v1/feed", params={"lat": FAR[0], "lng": FAR[1]}).json() == {"offers": []}


def test_locations_give_each_offer_once_and_count_it(app_client, sanlitun, as_city):
    c = app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun)).json()
    body = {"user_id": "u1", "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}
    first = app_client.post("/v1/locations", json=body).json()["new_offers"]
    again = app_client.post("/v1/locations", json=body).json()["new_offers"]
    assert [o["campaign_id"] for o in first] == [c["id"]] and again == []
    app_client.post("/v1/locations", json=body | {"user_id": "u2"})
    stats = app_client.get(f"/v1/campaigns/{c['id']}/stats", headers=bearer(sanlitun)).json()
    assert stats == {"campaign_id": c["id"], "offers_delivered": 2, "unique_users": 2, "pushed": 2, "capped": 0,
                     "conversions": 0, "revenue_cents": 0}


def test_a_location_sent_again_with_its_idempotency_key_answers_the_same_offers_once_counted(app_client, sanlitun,
                                                                                              as_city):
    c = app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun)).json()
    body = {"user_id": "u1", "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}
    named = {"Idempotency-Key": "7d4c-loc"}
    first = app_client.post("/v1/locations", json=body, headers=named).json()["new_offers"]
    again = app_client.post("/v1/locations", json=body, headers=named).json()["new_offers"]
    assert [o["campaign_id"] for o in first] == [c["id"]] and again == first
    assert app_client.post("/v1/locations", json=body, headers={"Idempotency-Key": "other"}).json()["new_offers"] == []
    stats = app_client.get(f"/v1/campaigns/{c['id']}/stats", headers=bearer(sanlitun)).json()
    assert (stats["offers_delivered"], stats["pushed"]) == (1, 1)
    bad = app_client.post("/v1/locations", json=body, headers={"Idempotency-Key": "x" * 256})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "Idempotency-Key"


def test_no_second_push_while_the_user_stays_in_reach(app_client, sanlitun, as_city):
    app_client.post("/v1/campaigns", json=campaign_body(max_pushes_per_user=2), headers=bearer(sanlitun))
    near = {"user_id": "u1", "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}
    away = {"user_id": "u1", "lat": FAR[0], "lng": FAR[1]}
    got = [len(app_client.post("/v1/locations", json=b).json()["new_offers"]) for b in (near, near, away, near)]
    assert got == [1, 0, 0, 0]  # back within the 15-minute re-entry gap: not a new entry


def test_at_most_once_under_50_concurrent_locations_for_one_user(app_client, sanlitun, as_city):
    app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun))
    body = {"user_id": "racer", "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: app_client.post("/v1/locations", json=body).json()["new_offers"], range(50)))
    assert sum(len(r) for r in results) == 1


def test_operators_are_isolated(app_client, sanlitun):
    other = make_operator(app_client, "Someone else")
    c = app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun)).json()
    for method, url in (("get", f"/v1/campaigns/{c['id']}"), ("delete", f"/v1/campaigns/{c['id']}"),
                        ("get", f"/v1/campaigns/{c['id']}/stats"), ("delete", f"/v1/districts/{SANLITUN.id}")):
        assert getattr(app_client, method)(url, headers=bearer(other)).status_code == 404
    assert app_client.get("/v1/campaigns", headers=bearer(other)).json() == {"campaigns": []}
    r = app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(other))
    assert r.status_code == 404 and r.json()["error"]["field"] == "district_id"
    r = app_client.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(other))
    assert r.status_code == 409
    assert app_client.get("/v1/campaigns").status_code == 401


def test_campaign_list_patch_end_early_and_delete(app_client, sanlitun):
    c = app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun)).json()
    assert c["state"] == "live"
    listed = app_client.get("/v1/campaigns", params={"state": "live", "district_id": SANLITUN.id}, headers=bearer(sanlitun))
    assert [x["id"] for x in listed.json()["campaigns"]] == [c["id"]]
    ended = app_client.patch(f"/v1/campaigns/{c['id']}", json={"ends_at": _now().isoformat()}, headers=bearer(sanlitun))
    assert ended.status_code == 200 and ended.json()["state"] == "ended"
    assert app_client.get("/v1/feed", params={"lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}).json()["offers"] == []
    assert app_client.delete(f"/v1/campaigns/{c['id']}", headers=bearer(sanlitun)).status_code == 204
    assert app_client.get(f"/v1/campaigns/{c['id']}", headers=bearer(sanlitun)).status_code == 404


@pytest.mark.parametrize("patch,field", [({"radius_m": None}, "radius_m"), ({"title": None}, "title"),
                                         ({"max_pushes_per_user": None}, "max_pushes_per_user"), ({"radius_m": 0}, "radius_m")])
def test_bad_patches_are_422_and_change_nothing(app_client, sanlitun, patch, field):
    c = app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun)).json()
    r = app_client.patch(f"/v1/campaigns/{c['id']}", json=patch, headers=bearer(sanlitun))
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert app_client.get(f"/v1/campaigns/{c['id']}", headers=bearer(sanlitun)).json() == c


def test_deleting_a_district_ends_its_campaigns(app_client, sanlitun):
    c = app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun)).json()
    app_client.delete(f"/v1/districts/{SANLITUN.id}", headers=bearer(sanlitun))
    assert app_client.get(f"/v1/campaigns/{c['id']}", headers=bearer(sanlitun)).json()["state"] == "ended"


@pytest.mark.parametrize("override,field", [
    ({"radius_m": 0}, "radius_m"), ({"radius_m": 5000}, "radius_m"),
    ({"ends_at": (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()}, "ends_at"),
    ({"starts_at": "2026-11-11T00:00:00"}, "starts_at"), ({"kind": "lottery"}, "kind"), ({"color": "red"}, "color"),
    ({"title": ""}, "title"), ({"district_id": "nope"}, "district_id"),
])
def test_bad_campaigns_are_4xx_with_the_field_and_write_nothing(app_client, sanlitun, override, field):
    r = app_client.post("/v1/campaigns", json=campaign_body(**override), headers=bearer(sanlitun))
    assert r.status_code in (404, 422) and r.json()["error"]["field"] == field, r.text
    assert app_client.get("/v1/campaigns", headers=bearer(sanlitun)).json() == {"campaigns": []}


@pytest.mark.parametrize("params,field", [
    ({"lat": 91, "lng": 116}, "lat"), ({"lat": 39, "lng": 181}, "lng"), ({"lat": "north", "lng": 116}, "lat"),
    ({"lat": 39.9, "lng": 116.4, "coord": "utm"}, "coord"), ({"lng": 116.4}, "lat"),
])
def test_bad_feed_queries_are_422_with_the_field(app_client, params, field):
    r = app_client.get("/v1/feed", params=params)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


def test_bad_locations_and_districts_and_bodies(app_client, sanlitun, as_city):
    r = app_client.post("/v1/locations", json={"user_id": "", "lat": 39.9, "lng": 116.4})
    assert r.status_code == 422 and r.json()["error"]["field"] == "user_id"
    r = app_client.post("/v1/locations", json={"user_id": "x" * 129, "lat": 39.9, "lng": 116.4})
    assert r.status_code == 422 and r.json()["error"]["field"] == "user_id"
    bad = SANLITUN.to_geojson() | {"geometry": {"type": "Polygon", "coordinates": [[[116.4, 39.9], [116.5, 39.9], [116.4, 39.9]]]}}
    r = app_client.post("/v1/districts", json=bad, headers=bearer(sanlitun))
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("geometry")
    r = app_client.post("/v1/districts", content=b"{" + b" " * (1 << 20) + b"}", headers=bearer(sanlitun) | {"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_a_second_app_instance_sees_changes_within_a_second(redis_client, app_client, sanlitun):
    other = create_app(Settings(admin_token=ADMIN), client=redis_client)
    with TestClient(other) as second:
        c = app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun)).json()
        deadline = datetime.now() + timedelta(seconds=1)
        seen = []
        while datetime.now() < deadline and not seen:
            seen = second.get("/v1/feed", params={"lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}).json()["offers"]
        assert [o["campaign_id"] for o in seen] == [c["id"]]


def test_redis_down_is_503_with_retry_after_and_the_app_recovers(tmp_path):
    from district_engine.store import EmbeddedRedis, connect

    server = EmbeddedRedis(tmp_path, persistent=True, appendfsync="always").start()
    try:
        app = create_app(Settings(admin_token=ADMIN), client=connect(server.url))
        with TestClient(app) as client:
            key = make_operator(client)
            client.headers["Authorization"] = f"Bearer {make_channel(client)['api_key']}"
            client.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(key))
            client.post("/v1/campaigns", json=campaign_body(), headers=bearer(key))
            client.app.state.identity.forget()  # the key is looked up while Redis is away
            server.stop()
            # The feed is served from memory: it keeps working while Redis is away.
            assert client.get("/v1/feed", params={"lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}).status_code == 200
            body = {"user_id": "u1", "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}
            down = client.post("/v1/locations", json=body)
            assert down.status_code == 503 and down.headers["Retry-After"] == "1"
            assert down.json()["error"]["code"] == "store_unavailable"
            assert client.get("/readyz").status_code == 503
            server.start()  # same port, same data directory
            up = client.post("/v1/locations", json=body)
            assert up.status_code == 200 and len(up.json()["new_offers"]) == 1
            assert client.get("/readyz").status_code == 200
    finally:
        server.stop()


def test_a_redis_error_that_is_no_refusal_is_a_logged_500_that_says_no_more(app_client, caplog):
    import logging

    from district_engine.store import keys

    key = make_operator(app_client)
    app_client.app.state.engine.client.set(keys.district("broken"), "not a hash")  # WRONGTYPE for its reader
    with caplog.at_level(logging.ERROR, logger="district_engine.api"):
        r = app_client.get("/v1/districts/broken/density", headers=bearer(key))
    assert r.status_code == 500 and "Retry-After" not in r.headers
    assert r.json() == {"error": {"code": "internal", "message": "an unexpected error; it has been logged"}}
    logged = next(rec for rec in caplog.records if rec.name == "district_engine.api")
    assert "WRONGTYPE" in str(logged.exc_info[1].__cause__)


def test_every_response_carries_a_request_id_and_is_logged_as_json(app_client, caplog):
    import json as _json
    import logging

    from api.logs import JsonFormatter

    with caplog.at_level(logging.INFO, logger="district_engine.access"):
        r = app_client.get("/v1/feed", params={"lat": 39.9, "lng": 116.4}, headers={"X-Request-ID": "req-42"})
    assert r.headers["X-Request-ID"] == "req-42"
    record = next(rec for rec in caplog.records if rec.name == "district_engine.access")
    line = _json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42" and line["route"] == "/v1/feed" and line["status"] == 200
    assert app_client.get("/healthz").headers["X-Request-ID"]


def test_district_changes_go_to_the_overlay_and_compaction_folds_them(app_client, sanlitun):
    engine = app_client.app.state.engine
    base = engine.catalog.view.index.base
    key = sanlitun
    mine = SANLITUN.to_geojson()
    for i in range(3):
        f = mine | {"id": f"copy-{i}", "properties": mine["properties"] | {"id": f"copy-{i}", "name": f"Copy {i}"}}
        assert app_client.post("/v1/districts", json=f, headers=bearer(key)).status_code == 201
    assert engine.catalog.view.index.base is base and engine.catalog.view.index.overlay_size == 4  # sanlitun came after start-up too
    assert len(app_client.get("/v1/districts").json()["districts"]) == 4
    assert engine.catalog.compact(overlay_limit=2) and engine.catalog.view.index.overlay_size == 0
    assert len(engine.catalog.view.index) == 4


def test_a_streamed_body_without_length_is_cut_at_the_limit(app_client, sanlitun):
    def chunks():
        for _ in range(20):
            yield b" " * 65536
        yield b"{}"

    r = app_client.post("/v1/districts", content=chunks(), headers=bearer(sanlitun) | {"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_metrics_count_offers_per_route(app_client, sanlitun, as_city):
    app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun))
    app_client.get("/v1/feed", params={"lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]})
    app_client.post("/v1/locations", json={"user_id": "m1", "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]})
    text = app_client.get("/metrics").text
    assert 'offers_total{route="feed"} 1.0' in text and 'offers_total{route="locations"} 1.0' in text


def test_a_change_whose_signal_was_lost_arrives_with_the_full_resync(redis_client):
    import json as _json
    import time as _time

    from district_engine.store import keys

    app = create_app(Settings(admin_token=ADMIN, resync_s=0.3), client=redis_client)
    with TestClient(app) as client:
        key = make_operator(client)
        client.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(key))
        c = client.post("/v1/campaigns", json=campaign_body(), headers=bearer(key)).json()
        # Edit the stored campaign behind the engine's back: no signal on the changes stream.
        stored = _json.loads(redis_client.hget(keys.campaign(c["id"]), "json"))
        redis_client.hset(keys.campaign(c["id"]), "json", _json.dumps(stored | {"title": "Edited"}))
        deadline = _time.monotonic() + 3
        title = None
        while _time.monotonic() < deadline and title != "Edited":
            offers = client.get("/v1/feed", params={"lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}).json()["offers"]
            title = offers[0]["title"]
            _time.sleep(0.05)
        assert title == "Edited"


def test_locations_answers_are_the_offers_json_even_for_titles_that_look_like_the_template(app_client, sanlitun, as_city):
    tricky = 'Sale ,"distance_m":1234567.5, "quoted" \u2028 三里屯 \\ end'
    r = app_client.post("/v1/campaigns", json=campaign_body(title=tricky, body="b\"ody"), headers=bearer(sanlitun))
    assert r.status_code == 201, r.text
    lat, lng = NEAR_SANLITUN
    for user in ("t1", "t2"):  # the second answer comes from the cached template
        offers = app_client.post("/v1/locations", json={"user_id": user, "lat": lat, "lng": lng}).json()["new_offers"]
        (offer,) = [o for o in offers if o["campaign_id"] == r.json()["id"]]
        expected = app_client.get("/v1/feed", params={"lat": lat, "lng": lng}).json()["offers"]
        assert offer == next(o for o in expected if o["campaign_id"] == r.json()["id"])
        assert offer["title"] == tricky and offer["body"] == "b\"ody" and 200 < offer["distance_m"] < 400


@pytest.mark.parametrize("body, status, field, message", [
    (b"{", 422, "body", "Invalid JSON"),
    (b'{"user_id": "u1", "lat": 39.9, "lng": 116.4, "extra": 1}', 422, "extra", "unknown field"),
    (b'{"user_id": "u1", "lng": 116.4}', 422, "lat", "Field required"),
    (b'{"user_id": "u1", "lat": "north", "lng": 116.4}', 422, "lat", "valid number"),
    (b'{"user_id": "u1", "lat": 91, "lng": 116.4}', 422, "lat", "90"),
    (b'{"user_id": "u1", "lat": 39.9, "lng": 116.4, "coord": "utm"}', 422, "coord", "wgs84"),
    (b'{"user_id": "u1", "lat": 39.9, "lng": 116.4, "at": "2026-11-11T12:00:00"}', 422, "at", "offset"),
])
def test_locations_served_direct_answer_bad_bodies_in_the_error_shape(app_client, body, status, field, message, as_city):
    r = app_client.post("/v1/locations", content=body, headers={"content-type": "application/json", "x-request-id": "req-7"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_input" and err.get("field") == field and message in err["message"], err
    assert r.headers["x-request-id"] == "req-7"


def test_locations_served_direct_keep_metrics_and_the_openapi_body(app_client, as_city):
    ok = app_client.post("/v1/locations", json={"user_id": "u1", "lat": 39.9, "lng": 116.4})
    assert ok.status_code == 200 and ok.json() == {"new_offers": []} and ok.headers["x-request-id"]
    metrics = app_client.get("/metrics").text
    assert 'http_request_duration_seconds_count{method="POST",route="/v1/locations",status="200"} 1.0' in metrics
    spec = app_client.get("/openapi.json").json()["paths"]["/v1/locations"]["post"]
    schema = spec["requestBody"]["content"]["application/json"]["schema"]
    assert {"user_id", "lat", "lng", "coord", "at", "accuracy_m", "mocked"} <= set(schema["properties"])
    assert {"lat", "lng"} <= set(schema["required"])  # user_id: required with a channel key, implied by a user token
    assert spec["security"] == [{"channelKey": []}, {"userToken": []}]


def test_the_apps_direct_routes_are_the_location_updates_and_the_orders(app_client):
    from api.middleware import RequestMiddleware

    stack, mw = app_client.app.middleware_stack, None
    while stack is not None and mw is None:
        mw = stack if isinstance(stack, RequestMiddleware) else None
        stack = getattr(stack, "app", None)
    assert mw is not None and sorted(mw.fastpath.routes) == [("POST", "/v1/locations"), ("POST", "/v1/orders")]


def test_pushed_events_show_a_campaign_and_its_district_as_they_are_now(app_client, sanlitun, as_city):
    """Each campaign's event template is kept across changes to others; a changed campaign, or a
    renamed district, gets its events made again."""
    import json as _json

    engine = app_client.app.state.engine
    c = app_client.post("/v1/campaigns", json=campaign_body(title="Before"), headers=bearer(sanlitun)).json()
    other = app_client.post("/v1/campaigns", json=campaign_body(title="Other"), headers=bearer(sanlitun)).json()

    def pushed(user):
        app_client.post("/v1/locations", json={"user_id": user, "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]})
        events = [_json.loads(p)["data"] for _, p in engine.stores.deliveries.events_after(f"{as_city['id']}:{user}", None)]
        return {e["campaign_id"]: (e["title"], e["district_name"]) for e in events}

    assert pushed("u1") == {c["id"]: ("Before", "Sanlitun Taikoo Li"), other["id"]: ("Other", "Sanlitun Taikoo Li")}
    kept = engine.catalog.view.offering(engine.catalog.view.campaigns[other["id"]], "entered", engine.stores.deliveries.reentry_gap_ms)
    assert app_client.patch(f"/v1/campaigns/{c['id']}", json={"title": "After"}, headers=bearer(sanlitun)).status_code == 200
    assert pushed("u2") == {c["id"]: ("After", "Sanlitun Taikoo Li"), other["id"]: ("Other", "Sanlitun Taikoo Li")}
    assert engine.catalog.view.offering(engine.catalog.view.campaigns[other["id"]], "entered", engine.stores.deliveries.reentry_gap_ms) is kept
    renamed = SANLITUN.to_geojson()
    renamed["properties"] = renamed["properties"] | {"name": "太古里南区"}
    assert app_client.post("/v1/districts", json=renamed, headers=bearer(sanlitun)).status_code in (200, 201)
    assert pushed("u3") == {c["id"]: ("After", "太古里南区"), other["id"]: ("Other", "太古里南区")}
