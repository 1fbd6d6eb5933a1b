"""Idempotency-Key on every create route (api/idempotency.py): replays, refusals, scoping, what is
kept in Redis and for how long, and the retry of a create whose answer was lost, which must find
what the first run made (one object) and, for a secret shown once, hand out a working one."""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import (ADMIN, NEAR_SANLITUN, SANLITUN, bearer, campaign_body, make_channel, make_operator, now,
                      user_token)
from district_engine.errors import StoreUnavailableError
from district_engine.signing import headers as signed_headers
from district_engine.store import keys
from district_engine.store.idempotency import KEEP_MS, PENDING_MS
from district_engine.store.rains import RainStore

LOT = {"district_id": SANLITUN.id, "name": "South car park", "capacity": 3, "location": {"lat": 39.9325, "lng": 116.4474},
       "tariff": {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000}}
NEAR = {"lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}
FEATURE = SANLITUN.to_geojson()
FEATURE = FEATURE | {"properties": FEATURE["properties"] | {"id": "sanlitun-north"}}  # one the operator has not


def key_header(key: str) -> dict:
    return {"Idempotency-Key": key}


@pytest.fixture
def callers(app_client, sanlitun):
    """Who calls each create: admin, the operator owning Sanlitun, a channel."""
    return {"admin": ADMIN, "operator": sanlitun, "channel": make_channel(app_client)["api_key"]}


# route -> (caller, body, how many of what it makes the store holds)
CREATES = {
    "/v1/districts": ("operator", FEATURE, lambda r: r.scard(keys.districts())),
    "/v1/campaigns": ("operator", campaign_body(), lambda r: r.scard(keys.campaigns())),
    "/v1/parking/lots": ("operator", LOT, lambda r: r.scard(keys.lots())),
    "/v1/operators": ("admin", {"name": "Swire"}, lambda r: r.scard(keys.operators())),
    "/v1/channels": ("admin", {"name": "City"}, lambda r: r.scard(keys.channels())),
    "/v1/push-endpoints": ("operator", {"url": "https://push.example.com/x"}, lambda r: r.hlen(keys.push_endpoints())),
    "/v1/parking/plates": ("channel", {"user_id": "u-1", "plate": "京A12345", "payment_token": "agr_1"},
                           lambda r: len(list(r.scan_iter(match="plate:*")))),
}


def idem_records(client) -> list[bytes]:
    return list(client.scan_iter(match="idem:*"))


def lose_the_answers(client) -> None:
    """What a create whose answer was lost leaves: its objects, and no recorded answer."""
    for k in idem_records(client):
        client.delete(k)


@pytest.mark.parametrize("path", CREATES)
def test_the_same_key_and_request_replays_the_first_answer(app_client, callers, redis_client, path):
    caller, body, count = CREATES[path]
    before = count(redis_client)
    first = app_client.post(path, json=body, headers=bearer(callers[caller]) | key_header("k-1"))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    for _ in range(2):
        again = app_client.post(path, json=body, headers=bearer(callers[caller]) | key_header("k-1"))
        assert (again.status_code, again.content) == (201, first.content)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["content-type"] == first.headers["content-type"]
    assert count(redis_client) == before + 1


@pytest.mark.parametrize("path", CREATES)
def test_a_create_whose_answer_was_lost_makes_nothing_twice(app_client, callers, redis_client, path):
    caller, body, count = CREATES[path]
    before = count(redis_client)
    first = app_client.post(path, json=body, headers=bearer(callers[caller]) | key_header("k-lost"))
    assert first.status_code == 201, first.text
    lose_the_answers(redis_client)
    retry = app_client.post(path, json=body, headers=bearer(callers[caller]) | key_header("k-lost"))
    assert retry.status_code in (200, 201), retry.text  # a district found again is "replaced": 200
    assert "idempotent-replayed" not in retry.headers  # it ran again
    assert count(redis_client) == before + 1
    if "id" in first.json():
        assert retry.json()["id"] == first.json()["id"]
    # ... and the retry's answer is kept for the next one.
    third = app_client.post(path, json=body, headers=bearer(callers[caller]) | key_header("k-lost"))
    assert (third.content, third.headers["idempotent-replayed"]) == (retry.content, "true")


def test_a_lost_operator_key_is_revoked_and_the_retry_gets_a_working_one(app_client):
    first = app_client.post("/v1/operators", json={"name": "Swire"}, headers=bearer(ADMIN) | key_header("op-1")).json()
    lose_the_answers(app_client.app.state.engine.client)
    retry = app_client.post("/v1/operators", json={"name": "Swire"}, headers=bearer(ADMIN) | key_header("op-1")).json()
    assert retry["id"] == first["id"] and retry["api_key"] != first["api_key"]
    assert app_client.get("/v1/operators/me", headers=bearer(first["api_key"])).status_code == 401
    assert app_client.get("/v1/operators/me", headers=bearer(retry["api_key"])).json()["id"] == first["id"]


def test_lost_channel_secrets_are_revoked_and_the_retry_gets_working_ones(app_client):
    first = app_client.post("/v1/channels", json={"name": "City"}, headers=bearer(ADMIN) | key_header("ch-1")).json()
    lose_the_answers(app_client.app.state.engine.client)
    retry = app_client.post("/v1/channels", json={"name": "City"}, headers=bearer(ADMIN) | key_header("ch-1")).json()
    assert retry["id"] == first["id"]
    assert retry["api_key"] != first["api_key"] and retry["token_secret"] != first["token_secret"]
    assert app_client.get("/v1/channels/me", headers=bearer(first["api_key"])).status_code == 401
    assert app_client.get("/v1/channels/me", headers=bearer(retry["api_key"])).json()["id"] == first["id"]
    assert app_client.post("/v1/locations", json=NEAR, headers=bearer(user_token(first, "u-1"))).status_code == 401
    assert app_client.post("/v1/locations", json=NEAR, headers=bearer(user_token(retry, "u-1"))).status_code == 200


def test_a_lost_lot_secret_is_replaced_and_the_retry_gets_a_working_one(app_client, sanlitun):
    first = app_client.post("/v1/parking/lots", json=LOT, headers=bearer(sanlitun) | key_header("lot-1")).json()
    lose_the_answers(app_client.app.state.engine.client)
    retry = app_client.post("/v1/parking/lots", json=LOT, headers=bearer(sanlitun) | key_header("lot-1")).json()
    assert retry["id"] == first["id"] and retry["webhook_secret"] != first["webhook_secret"]

    def gate(secret):
        body = json.dumps({"type": "vehicle.entry", "plate": "京A12345", "confidence": 0.99,
                           "captured_at": now().isoformat(), "lane": "in"}).encode()
        h = signed_headers(secret, f"msg_{uuid.uuid4().hex}", int(time.time()), body)
        return app_client.post(f"/v1/parking/lots/{first['id']}/gate-events", content=body,
                               headers=h | {"Content-Type": "application/json"})
    assert gate(first["webhook_secret"]).status_code == 401
    assert gate(retry["webhook_secret"]).json()["decision"] == "open"


def test_a_lost_endpoint_secret_is_replaced(app_client, sanlitun):
    body = {"url": "https://push.example.com/x"}
    first = app_client.post("/v1/push-endpoints", json=body, headers=bearer(sanlitun) | key_header("ep-1")).json()
    endpoints = app_client.app.state.engine.stores.endpoints
    endpoints.disable(first["id"], "gone")  # what happened to it meanwhile is kept; only the secret changes
    lose_the_answers(app_client.app.state.engine.client)
    retry = app_client.post("/v1/push-endpoints", json=body, headers=bearer(sanlitun) | key_header("ep-1")).json()
    assert retry["id"] == first["id"] and retry["secret"] != first["secret"]
    stored = endpoints.get(first["id"])
    assert stored.secret == retry["secret"]  # the one deliveries are signed with
    assert (stored.state, stored.created_at) == ("disabled", first["created_at"]) == (retry["state"], retry["created_at"])


def test_a_rain_whose_answer_was_lost_is_funded_once(app_client, sanlitun):
    body = campaign_body(kind="red_envelope", total_cents=10_000, packets=50, min_cents=1)
    first = app_client.post("/v1/campaigns", json=body, headers=bearer(sanlitun) | key_header("rain-1")).json()
    lose_the_answers(app_client.app.state.engine.client)
    retry = app_client.post("/v1/campaigns", json=body, headers=bearer(sanlitun) | key_header("rain-1"))
    assert retry.json()["id"] == first["id"]
    _drained_pays_its_total(app_client, sanlitun, first["id"], 10_000, 50)


def test_a_rain_funded_by_a_run_that_failed_before_its_campaign_is_funded_once(app_client, sanlitun, monkeypatch):
    """The first run funds the pool, then Redis fails before the campaign is stored (503); the
    retry finds the pool (the same derived id) and stores the campaign: one rain, funded once."""
    engine = app_client.app.state.engine
    put = engine.stores.campaigns.put
    monkeypatch.setattr(engine.stores.campaigns, "put", lambda c: (_ for _ in ()).throw(StoreUnavailableError("lost")))
    body = campaign_body(kind="red_envelope", total_cents=10_000, packets=50, min_cents=1)
    failed = app_client.post("/v1/campaigns", json=body, headers=bearer(sanlitun) | key_header("rain-2"))
    assert failed.status_code == 503 and failed.headers["retry-after"] == "1"
    assert idem_records(engine.client) == []  # released: the retry runs again
    monkeypatch.setattr(engine.stores.campaigns, "put", put)
    retry = app_client.post("/v1/campaigns", json=body, headers=bearer(sanlitun) | key_header("rain-2"))
    assert retry.status_code == 201, retry.text
    assert engine.client.scard(keys.campaigns()) == 1
    _drained_pays_its_total(app_client, sanlitun, retry.json()["id"], 10_000, 50)


def _drained_pays_its_total(client, operator, rain_id, total_cents, packets):
    rains = RainStore(client.app.state.engine.client)
    assert rains.audit(rain_id) == []
    ledger = client.app.state.engine.client.xrange(keys.rain_keys(rain_id)["ledger"])
    assert [e[b"type"] for _, e in ledger] == [b"fund"]
    channel = make_channel(client, "Grabbers")
    paid = 0
    for i in range(packets + 5):
        r = client.post(f"/v1/red-envelopes/{rain_id}/grab", json={"user_id": f"u{i}"} | NEAR,
                        headers=bearer(channel["api_key"]))
        paid += r.json().get("amount_cents", 0) if r.json().get("status") == "won" else 0
    assert paid == total_cents
    figures = client.get(f"/v1/red-envelopes/{rain_id}", headers=bearer(operator)).json()
    assert (figures["won_cents"], figures["won_packets"]) == (total_cents, packets)
    assert rains.audit(rain_id) == []


def test_the_same_key_with_another_request_is_refused(app_client, sanlitun):
    headers = bearer(sanlitun) | key_header("k-2")
    assert app_client.post("/v1/campaigns", json=campaign_body(), headers=headers).status_code == 201
    for path, body in [("/v1/campaigns", campaign_body(title="Another")),  # another body
                       ("/v1/parking/lots", LOT)]:  # another route
        r = app_client.post(path, json=body, headers=headers)
        assert r.status_code == 422
        assert r.json()["error"] | {"message": ""} == {"code": "idempotency_key_reused", "field": "Idempotency-Key",
                                                         "message": ""}
    assert app_client.app.state.engine.client.scard(keys.lots()) == 0


def test_a_request_whose_key_is_in_flight_is_told_to_come_back(app_client, sanlitun, monkeypatch):
    engine = app_client.app.state.engine
    create, inside, go_on = engine.stores.endpoints.create, threading.Event(), threading.Event()

    def held(*args):
        inside.set()
        assert go_on.wait(10)
        return create(*args)
    monkeypatch.setattr(engine.stores.endpoints, "create", held)
    body, headers = {"url": "https://push.example.com/x"}, bearer(sanlitun) | key_header("k-3")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(app_client.post, "/v1/push-endpoints", json=body, headers=headers)
        assert inside.wait(10)
        busy = app_client.post("/v1/push-endpoints", json=body, headers=headers)
        assert busy.status_code == 409 and busy.headers["retry-after"] == "1"
        assert busy.json()["error"]["code"] == "idempotency_key_in_flight"
        [record] = idem_records(engine.client)
        assert 0 < engine.client.pttl(record) <= PENDING_MS  # a crashed process holds it a minute at most
        go_on.set()
        assert first.result().status_code == 201
    again = app_client.post("/v1/push-endpoints", json=body, headers=headers)
    assert (again.status_code, again.json()) == (201, first.result().json())
    assert len(engine.stores.endpoints.all()) == 1


def test_keys_are_per_principal(app_client, sanlitun):
    other = make_operator(app_client, "Other")
    body = {"url": "https://push.example.com/x"}
    mine = app_client.post("/v1/push-endpoints", json=body, headers=bearer(sanlitun) | key_header("shared"))
    theirs = app_client.post("/v1/push-endpoints", json=body, headers=bearer(other) | key_header("shared"))
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotent-replayed" not in theirs.headers and theirs.json()["id"] != mine.json()["id"]


def test_an_answer_is_kept_24_hours(app_client, sanlitun):
    app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun) | key_header("k-4"))
    [record] = idem_records(app_client.app.state.engine.client)
    assert KEEP_MS - 60_000 < app_client.app.state.engine.client.pttl(record) <= KEEP_MS == 24 * 3600 * 1000


def test_without_a_key_nothing_changes(app_client, sanlitun):
    answers = [app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun)) for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["id"] != answers[1].json()["id"]
    assert not any("idempotent-replayed" in a.headers for a in answers)
    assert idem_records(app_client.app.state.engine.client) == []


def test_an_answer_other_than_2xx_is_not_kept_and_the_retry_runs(app_client, sanlitun):
    headers = bearer(sanlitun) | key_header("k-5")
    for bad in (campaign_body(radius_m=5000), campaign_body(district_id="nope")):  # 422, 404
        r = app_client.post("/v1/campaigns", json=bad, headers=headers)
        assert r.status_code in (404, 422) and "idempotent-replayed" not in r.headers
        assert idem_records(app_client.app.state.engine.client) == []
    assert app_client.post("/v1/campaigns", json=campaign_body(), headers=headers).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "ключ", "tab\there"])
def test_a_key_that_is_not_1_to_255_printable_ascii_is_refused(app_client, sanlitun, key):
    r = app_client.post("/v1/campaigns", json=campaign_body(),
                        headers=bearer(sanlitun) | {"Idempotency-Key": key.encode()})
    assert r.status_code == 422 and r.json()["error"]["field"] == "Idempotency-Key", r.text
    assert app_client.app.state.engine.client.scard(keys.campaigns()) == 0


def test_a_255_character_key_is_taken_and_two_keys_are_refused(app_client, sanlitun):
    r = app_client.post("/v1/campaigns", json=campaign_body(), headers=bearer(sanlitun) | key_header("~" * 255))
    assert r.status_code == 201
    r = app_client.post("/v1/campaigns", json=campaign_body(),
                        headers=[("Authorization", f"Bearer {sanlitun}"), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")])
    assert r.status_code == 422 and r.json()["error"]["field"] == "Idempotency-Key"


def test_a_key_without_a_valid_credential_is_401_as_before(app_client):
    r = app_client.post("/v1/operators", json={"name": "x"}, headers=bearer("de_live_nope") | key_header("k"))
    assert r.status_code == 401
    r = app_client.post("/v1/operators", json={"name": "x"}, headers=key_header("x" * 300))
    assert r.status_code == 401


def test_the_kept_answer_is_not_plaintext_in_redis(app_client, redis_client):
    key = "plain-to-see-" + uuid.uuid4().hex
    made = app_client.post("/v1/operators", json={"name": "Swire"}, headers=bearer(ADMIN) | key_header(key)).json()
    assert idem_records(redis_client)  # an answer is kept ...
    everything = _dump(redis_client)
    for secret in (made["api_key"], key, '"api_key"'):  # ... but neither it, nor the key, can be read there
        assert secret.encode() not in everything


def _dump(client) -> bytes:
    """Every key and value in Redis, as one blob."""
    out = []
    for k in client.scan_iter():
        out.append(k)
        kind = client.type(k)
        if kind == b"string":
            out.append(client.get(k))
        elif kind == b"hash":
            out += [x for kv in client.hgetall(k).items() for x in kv]
        elif kind == b"set":
            out += client.smembers(k)
        elif kind == b"zset":
            out += client.zrange(k, 0, -1)
        elif kind == b"list":
            out += client.lrange(k, 0, -1)
        elif kind == b"stream":
            out += [x for _, fields in client.xrange(k) for kv in fields.items() for x in kv]
    return b"\n".join(out)


def test_a_redis_fault_in_the_middleware_is_503_and_the_retry_finds_the_object(app_client, sanlitun, monkeypatch):
    store = app_client.app.state.idempotency
    headers, body = bearer(sanlitun) | key_header("k-6"), {"url": "https://push.example.com/x"}

    def down(*args):
        raise StoreUnavailableError("Redis is away")
    with monkeypatch.context() as m:
        m.setattr(store, "claim", down)
        r = app_client.post("/v1/push-endpoints", json=body, headers=headers)
        assert (r.status_code, r.headers["retry-after"], r.json()["error"]["code"]) == (503, "1", "store_unavailable")
    with monkeypatch.context() as m:
        m.setattr(store, "record", down)  # the endpoint is made; its answer cannot be kept
        lost = app_client.post("/v1/push-endpoints", json=body, headers=headers)
        assert (lost.status_code, lost.headers["retry-after"]) == (503, "1")
    retry = app_client.post("/v1/push-endpoints", json=body, headers=headers)
    assert retry.status_code == 201
    assert [e.id for e in app_client.app.state.engine.stores.endpoints.all()] == [retry.json()["id"]]


def test_the_openapi_document_describes_the_key(app_client):
    doc = app_client.get("/openapi.json").json()
    for path in CREATES:
        op = doc["paths"][path]["post"]
        [param] = [p for p in op["parameters"] if p["name"] == "Idempotency-Key"]
        assert param["in"] == "header" and not param["required"]
        assert "Idempotent-Replayed" in op["responses"]["201"]["headers"]
        assert "idempotency_key_in_flight" in op["responses"]["409"]["description"]
        assert "idempotency_key_reused" in op["responses"]["422"]["description"]
    assert "Idempotency-Key" not in json.dumps(doc["paths"]["/v1/campaigns/{campaign_id}"])
