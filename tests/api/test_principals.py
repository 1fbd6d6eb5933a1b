"""Who may call what: every route of the app against every kind of caller, as one table.

Columns: no credential, a made-up key, the admin token, the operator that owns the objects,
another operator, a channel, another channel, a user token of the channel's user u-1, a token of
its user u-2 (calling for u-1), and a gate's signed webhook (no bearer). Each call's body or ids
are chosen so that a caller who may call the route gets an answer from the route itself (2xx, or
422/404 from its own checks) and one who may not gets 401 or 403; another tenant's objects are
404. A route the table does not list fails the test: every new route must say who may call it.
"""

import json
import uuid
from datetime import timedelta

import pytest

from api.auth import declared_kinds
from conftest import ADMIN, NEAR_SANLITUN, SANLITUN, bearer, campaign_body, make_channel, make_operator, now, user_token
from district_engine.signing import headers as signed_headers

CALLERS = ("none", "wrong", "admin", "operator", "other_op", "channel", "other_ch", "user", "other_user", "gate")
NEAR = {"lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}
LOT = {"district_id": SANLITUN.id, "name": "P", "capacity": 3, "location": {"lat": 39.9325, "lng": 116.4474},
       "tariff": {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000, "daily_cap_cents": 8000}}

# (method, path as routed): (path to call, JSON body or None, expected status per caller, in CALLERS' order)
TABLE = {
    ("GET", "/healthz"): ("/healthz", None, "200 200 200 200 200 200 200 200 200 200"),
    ("GET", "/readyz"): ("/readyz", None, "200 200 200 200 200 200 200 200 200 200"),
    ("GET", "/metrics"): ("/metrics", None, "200 200 200 200 200 200 200 200 200 200"),
    ("GET", "/v1/feed"): ("/v1/feed?lat=39.93&lng=116.447", None, "200 200 200 200 200 200 200 200 200 200"),
    ("POST", "/v1/locations"): ("/v1/locations", {"user_id": "u-1"} | NEAR,
                                "401 401 403 403 403 200 200 200 403 401"),
    ("POST", "/v1/locations:batch"): ("/v1/locations:batch", {"locations": [{"user_id": "u-1"} | NEAR]},
                                      "401 401 403 403 403 202 202 403 403 401"),
    ("GET", "/v1/users/{user_id}/stream"): ("/v1/users/u-1/stream", "stream",
                                            "401 401 403 403 403 422 422 422 403 401"),
    ("POST", "/v1/operators"): ("/v1/operators", {"name": "x"}, "401 401 201 403 403 403 403 403 403 401"),
    ("GET", "/v1/operators/me"): ("/v1/operators/me", None, "401 401 403 200 200 403 403 403 403 401"),
    ("POST", "/v1/operators/{operator_id}/keys"): ("/v1/operators/{operator}/keys", {},
                                                   "401 401 200 403 403 403 403 403 403 401"),
    ("POST", "/v1/channels"): ("/v1/channels", {"name": "x"}, "401 401 201 403 403 403 403 403 403 401"),
    ("GET", "/v1/channels/me"): ("/v1/channels/me", None, "401 401 403 403 403 200 200 403 403 401"),
    ("POST", "/v1/channels/{channel_id}/keys"): ("/v1/channels/{channel}/keys", {},
                                                 "401 401 200 403 403 403 403 403 403 401"),
    ("POST", "/v1/districts"): ("/v1/districts", {}, "401 401 403 422 422 403 403 403 403 401"),
    ("GET", "/v1/districts"): ("/v1/districts", None, "200 200 200 200 200 200 200 200 200 200"),
    ("GET", "/v1/districts/{district_id}"): (f"/v1/districts/{SANLITUN.id}", None,
                                             "200 200 200 200 200 200 200 200 200 200"),
    ("DELETE", "/v1/districts/{district_id}"): ("/v1/districts/nope", None, "401 401 403 404 404 403 403 403 403 401"),
    ("GET", "/v1/districts/{district_id}/cells"): (f"/v1/districts/{SANLITUN.id}/cells?radius_m=500", None,
                                                   "200 200 200 200 200 200 200 200 200 200"),
    ("GET", "/v1/districts/{district_id}/density"): (f"/v1/districts/{SANLITUN.id}/density", None,
                                                     "401 401 403 200 404 403 403 403 403 401"),
    ("POST", "/v1/campaigns"): ("/v1/campaigns", {}, "401 401 403 422 422 403 403 403 403 401"),
    ("GET", "/v1/campaigns"): ("/v1/campaigns", None, "401 401 403 200 200 403 403 403 403 401"),
    ("GET", "/v1/campaigns/{campaign_id}"): ("/v1/campaigns/{rain}", None, "401 401 403 200 404 403 403 403 403 401"),
    ("PATCH", "/v1/campaigns/{campaign_id}"): ("/v1/campaigns/{rain}", {}, "401 401 403 200 404 403 403 403 403 401"),
    ("DELETE", "/v1/campaigns/{campaign_id}"): ("/v1/campaigns/nope", None, "401 401 403 404 404 403 403 403 403 401"),
    ("POST", "/v1/campaigns/{campaign_id}/end"): ("/v1/campaigns/nope/end", None,
                                                  "401 401 403 404 404 403 403 403 403 401"),
    ("GET", "/v1/campaigns/{campaign_id}/stats"): ("/v1/campaigns/{rain}/stats", None,
                                                   "401 401 403 200 404 403 403 403 403 401"),
    # The channel's u-1 wins; the other channel's u-1 is another user and wins too; the token of
    # the channel's u-1 is that same user (already_grabbed); u-2's token may not grab for u-1.
    ("POST", "/v1/red-envelopes/{campaign_id}/grab"): ("/v1/red-envelopes/{rain}/grab", {"user_id": "u-1"} | NEAR,
                                                       "401 401 403 403 403 200 200 200 403 401"),
    ("GET", "/v1/red-envelopes/{campaign_id}"): ("/v1/red-envelopes/{rain}", None,
                                                 "401 401 403 200 404 403 403 403 403 401"),
    ("GET", "/v1/push-endpoints"): ("/v1/push-endpoints", None, "401 401 403 200 200 200 200 403 403 401"),
    ("POST", "/v1/push-endpoints"): ("/v1/push-endpoints", {}, "401 401 403 422 422 422 422 403 403 401"),
    ("GET", "/v1/push-endpoints/{endpoint_id}"): ("/v1/push-endpoints/{endpoint}", None,
                                                  "401 401 403 200 404 404 404 403 403 401"),
    ("DELETE", "/v1/push-endpoints/{endpoint_id}"): ("/v1/push-endpoints/nope", None,
                                                     "401 401 403 404 404 404 404 403 403 401"),
    ("GET", "/v1/push-endpoints/{endpoint_id}/dead-letters"): ("/v1/push-endpoints/{endpoint}/dead-letters", None,
                                                               "401 401 403 200 404 404 404 403 403 401"),
    ("POST", "/v1/push-endpoints/{endpoint_id}/dead-letters:replay"): (
        "/v1/push-endpoints/{endpoint}/dead-letters:replay", None, "401 401 403 200 404 404 404 403 403 401"),
    ("POST", "/v1/push-endpoints/{endpoint_id}:enable"): ("/v1/push-endpoints/{endpoint}:enable", None,
                                                          "401 401 403 200 404 404 404 403 403 401"),
    ("GET", "/v1/parking/lots"): ("/v1/parking/lots", None, "401 401 403 200 200 403 403 403 403 401"),
    ("POST", "/v1/parking/lots"): ("/v1/parking/lots", {}, "401 401 403 422 422 403 403 403 403 401"),
    ("GET", "/v1/parking/lots/{lot_id}"): ("/v1/parking/lots/{lot}", None, "401 401 403 200 404 403 403 403 403 401"),
    ("POST", "/v1/parking/lots/{lot_id}/rotate-secret"): ("/v1/parking/lots/{lot}/rotate-secret", None,
                                                          "401 401 403 200 404 403 403 403 403 401"),
    ("GET", "/v1/parking/lots/{lot_id}/review"): ("/v1/parking/lots/{lot}/review", None,
                                                  "401 401 403 200 404 403 403 403 403 401"),
    ("POST", "/v1/parking/lots/{lot_id}/gate-events"): ("/v1/parking/lots/{lot}/gate-events", "gate",
                                                        "401 401 401 401 401 401 401 401 401 200"),
    ("GET", "/v1/parking/sessions/{session_id}"): ("/v1/parking/sessions/{session}", None,
                                                   "401 401 403 200 404 403 403 403 403 401"),
    ("POST", "/v1/parking/sessions/{session_id}/validations"): ("/v1/parking/sessions/{session}/validations", {},
                                                                "401 401 403 422 422 403 403 403 403 401"),
    # A session of the owner's that awaits no staff: its owner gets 409; another operator 404.
    ("POST", "/v1/parking/sessions/{session_id}/resolution"): ("/v1/parking/sessions/{session}/resolution",
                                                               {"action": "waive", "note": "n"},
                                                               "401 401 403 409 404 403 403 403 403 401"),
    ("POST", "/v1/parking/sessions/{session_id}/paid-at-gate"): ("/v1/parking/sessions/{session}/paid-at-gate", {},
                                                                 "401 401 403 422 422 403 403 403 403 401"),
    # The other channel's u-1 is another account: the plate is taken (409), not shared.
    ("POST", "/v1/parking/plates"): ("/v1/parking/plates", {"user_id": "u-1", "plate": "京A12345", "payment_token": "t"},
                                     "401 401 403 403 403 201 409 403 403 401"),
    ("DELETE", "/v1/parking/plates/{plate}"): ("/v1/parking/plates/京A12345?user_id=u-1", None,
                                               "401 401 403 403 403 204 404 403 403 401"),
    ("POST", "/v1/guides"): ("/v1/guides", {}, "401 401 403 422 422 403 403 403 403 401"),
    ("GET", "/v1/guides"): ("/v1/guides", None, "401 401 403 200 200 403 403 403 403 401"),
    ("GET", "/v1/guides/{guide_id}"): ("/v1/guides/{guide}", None, "401 401 403 200 404 403 403 403 403 401"),
    ("PATCH", "/v1/guides/{guide_id}"): ("/v1/guides/{guide}", {}, "401 401 403 200 404 403 403 403 403 401"),
    # A guide may not take over its own members: its owner gets 422; another operator 404.
    ("POST", "/v1/guides/{guide_id}:deactivate"): ("/v1/guides/{guide}:deactivate", {"transfer_to": "{guide}"},
                                                   "401 401 403 422 404 403 403 403 403 401"),
    ("POST", "/v1/guides/{guide_id}/members"): ("/v1/guides/{guide}/members", {
        "channel_id": "{channel}", "user_id": "u-1", "served_at": now().isoformat()},
        "401 401 403 200 404 403 403 403 403 401"),
    ("GET", "/v1/guides/{guide_id}/members"): ("/v1/guides/{guide}/members", None,
                                               "401 401 403 200 404 403 403 403 403 401"),
    ("GET", "/v1/guides/{guide_id}/commissions"): ("/v1/guides/{guide}/commissions", None,
                                                   "401 401 403 200 404 403 403 403 403 401"),
    # Order ids are the operator's own: another operator's o-2 is its own order.
    ("POST", "/v1/orders"): ("/v1/orders", {"order_id": "o-2", "channel_id": "{channel}", "user_id": "u-1",
                                            "amount_cents": 100, "sales_channel": "store", "at": now().isoformat()},
                             "401 401 403 201 201 403 403 403 403 401"),
    ("POST", "/v1/orders/{order_id}/refunds"): ("/v1/orders/{order}/refunds", {"refund_id": "rf-1", "amount_cents": 1},
                                                "401 401 403 201 404 403 403 403 403 401"),
}


@pytest.fixture
def world(app_client):
    """An operator owning Sanlitun with a live rain, a lot with a session and a push endpoint;
    another operator; two channels; tokens of the first channel's users u-1 and u-2."""
    c = app_client
    op_key, other_op = make_operator(c, "Owner"), make_operator(c, "Other")
    assert c.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(op_key)).status_code == 201
    rain = c.post("/v1/campaigns", headers=bearer(op_key), json=campaign_body(
        kind="red_envelope", total_cents=10_000, packets=10, min_cents=1)).json()
    lot = c.post("/v1/parking/lots", json=LOT, headers=bearer(op_key)).json()
    endpoint = c.post("/v1/push-endpoints", json={"url": "https://push.example.com/x"}, headers=bearer(op_key)).json()
    channel, other_ch = make_channel(c, "City"), make_channel(c, "Other city")

    def gate_event():
        body = json.dumps({"type": "vehicle.entry", "plate": f"沪A{uuid.uuid4().int % 100000:05d}", "confidence": 0.99,
                           "captured_at": (now() - timedelta(minutes=1)).isoformat(), "lane": "in"}).encode()
        return body, signed_headers(lot["webhook_secret"], f"msg_{uuid.uuid4().hex}", int(now().timestamp()), body)

    body, headers = gate_event()
    session = c.post(f"/v1/parking/lots/{lot['id']}/gate-events", content=body, headers=headers).json()["session_id"]
    operator_id = c.get("/v1/operators/me", headers=bearer(op_key)).json()["id"]
    guide = c.post("/v1/guides", headers=bearer(op_key), json={"district_id": SANLITUN.id, "name": "Ann",
                                                               "commission_bps": 300}).json()
    order = c.post("/v1/orders", headers=bearer(op_key), json={
        "order_id": "o-1", "channel_id": channel["id"], "user_id": "u-1", "amount_cents": 1000,
        "sales_channel": "store", "at": now().isoformat()}).json()
    credentials = {"none": None, "wrong": "de_live_not-a-key", "admin": ADMIN, "operator": op_key,
                   "other_op": other_op, "channel": channel["api_key"], "other_ch": other_ch["api_key"],
                   "user": user_token(channel, "u-1"), "other_user": user_token(channel, "u-2"), "gate": None}
    ids = {"rain": rain["id"], "lot": lot["id"], "endpoint": endpoint["id"], "session": session,
           "operator": operator_id, "channel": channel["id"], "guide": guide["id"], "order": order["order_id"]}
    return credentials, ids, gate_event


def test_every_route_declares_who_may_call_it_and_the_table_lists_it(app_client):
    routes = {(m, r.path) for r in app_client.app.state.api_routes for m in r.methods - {"HEAD"}}
    undeclared = sorted(f"{m} {p}" for r in app_client.app.state.api_routes for m in r.methods
                        if declared_kinds(r) is None for p in [r.path])
    assert not undeclared, f"routes that declare no principals: {undeclared}"
    assert routes == set(TABLE), f"routes missing from TABLE: {sorted(routes - set(TABLE))}; " \
                                 f"gone: {sorted(set(TABLE) - routes)}"


def test_every_route_against_every_kind_of_caller(app_client, world):
    credentials, ids, gate_event = world
    observed, mismatches = {}, []
    for route, (path, body, expected) in TABLE.items():
        method = route[0]
        url = path.format(**ids)
        got = []
        for caller in CALLERS:
            headers = {"Authorization": f"Bearer {credentials[caller]}"} if credentials[caller] else {}
            if body == "gate":
                content, signed = gate_event()
                if caller == "gate":
                    headers = signed
                r = app_client.request(method, url, content=content, headers=headers | {"content-type": "application/json"})
            elif body == "stream":  # an allowed caller gets past authentication to the id check (422)
                r = app_client.request(method, url, headers=headers | {"Last-Event-ID": "not-an-id"})
            else:
                if caller == "gate":
                    _, headers = gate_event()
                filled = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()} if body else body
                r = app_client.request(method, url, json=filled, headers=headers)
            assert r.status_code != 500, (route, caller, r.text)
            if r.status_code in (401, 403):
                assert r.json()["error"]["code"] in ("unauthorized", "forbidden", "wrong_principal", "wrong_user", "bad_signature")
            got.append(str(r.status_code))
        observed[route] = " ".join(got)
        if observed[route] != expected:
            mismatches.append(f"{route}: expected {expected}, got {observed[route]}")
    assert not mismatches, "\n".join(mismatches)
