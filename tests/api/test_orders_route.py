"""POST /v1/orders is served by the fast path (its own body, its own caller check): to a
client it is the route the contract describes, in the OpenAPI document, its errors and metrics."""

from conftest import SANLITUN, bearer, make_channel, make_operator, now


def test_the_orders_route_reads_its_own_body_and_checks_its_own_caller(app_client, sanlitun):
    city = make_channel(app_client)
    guide = app_client.post("/v1/guides", json={"district_id": SANLITUN.id, "name": "Ann", "commission_bps": 250},
                            headers=bearer(sanlitun)).json()
    assert app_client.post(f"/v1/guides/{guide['id']}/members", headers=bearer(sanlitun), json={
        "channel_id": city["id"], "user_id": "u-1", "served_at": now().isoformat()}).status_code == 200
    body = {"order_id": "SLT-1", "channel_id": city["id"], "user_id": "u-1", "amount_cents": 10_000,
            "sales_channel": "flagship", "at": now().isoformat()}
    r = app_client.post("/v1/orders", json=body, headers=bearer(sanlitun))
    assert (r.status_code, r.json()) == (201, {"order_id": "SLT-1", "guide_id": guide["id"], "commission_cents": 250,
                                               "campaign_id": None})
    assert r.headers["content-type"] == "application/json"
    assert app_client.post("/v1/orders", json=body, headers=bearer(sanlitun)).json() == r.json()  # the same again

    assert app_client.post("/v1/orders", json=body).json()["error"]["code"] == "unauthorized"
    wrong = app_client.post("/v1/orders", json=body, headers=bearer(city["api_key"]))
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "wrong_principal")
    other = make_operator(app_client, "Other brand")  # another operator's order id is its own
    assert app_client.post("/v1/orders", json=body, headers=bearer(other)).json()["guide_id"] is None
    bad = app_client.post("/v1/orders", json=body | {"amount_cents": "100"}, headers=bearer(sanlitun))
    assert bad.status_code == 422 and bad.json()["error"]["field"].endswith("amount_cents")
    broken = app_client.post("/v1/orders", content=b"{not json", headers=bearer(sanlitun) | {
        "content-type": "application/json"})
    assert broken.status_code == 422

    spec = app_client.get("/openapi.json").json()["paths"]["/v1/orders"]["post"]
    schema = spec["requestBody"]["content"]["application/json"]["schema"]
    assert {"order_id", "channel_id", "user_id", "amount_cents", "sales_channel", "district_id", "at"} <= set(
        schema["properties"])
    assert spec["security"] == [{"operatorKey": []}] and "201" in spec["responses"]
    metrics = app_client.get("/metrics").text
    assert 'http_request_duration_seconds_count{method="POST",route="/v1/orders",status="201"}' in metrics
