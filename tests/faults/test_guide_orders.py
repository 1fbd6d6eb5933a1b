"""An order or a refund whose script Redis ran but whose answer the engine never read in full (the
reply came late, or the connection was cut half-way through it): the API answers 503, the brand's
system sends the same order (or refund) again, and it is the same one: one commission in the
ledger, one reversal, the same figures in the answer, and the audit is clean. And with a client that
sends the command again itself, the second run finds the first one's order and changes nothing."""

from __future__ import annotations

import hashlib
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis.backoff import NoBackoff
from redis.retry import Retry

import district_engine.store
from api.main import create_app
from district_engine.settings import Settings
from district_engine.store import EmbeddedRedis, connect, keys

sys.path.insert(0, str(Path(__file__).parent))
from proxy import Proxy  # noqa: E402
from seeding import ADMIN, SANLITUN, bearer, until_answered  # noqa: E402


def script_sha(name: str) -> bytes:
    """What an EVALSHA of one of the store's scripts carries: held, it holds back that step only."""
    source = (Path(district_engine.store.__file__).parent / "lua" / f"{name}.lua").read_bytes()
    return hashlib.sha1(source).hexdigest().encode()


@pytest.fixture(params=["engine-client", "client-resends"])
def shop(tmp_path, request):
    """The app on a Redis client through a proxy (0.5 s timeout), an operator with a guide serving
    a channel's user: (http client as the operator, proxy, direct client, operator id, channel id,
    guide id). ``client-resends``: a client that redis-py makes send a command again after a
    timeout (the engine's own never does): the script must then be harmless twice."""
    server = EmbeddedRedis(tmp_path, persistent=False).start()
    direct = connect(server.url)
    proxy = Proxy(("127.0.0.1", server.port))
    resend = {"retry": Retry(NoBackoff(), 2)} if request.param == "client-resends" else {}
    app = create_app(Settings(admin_token=ADMIN, worker=False, redis_timeout_ms=500),
                     client=connect(proxy.url, timeout_s=0.5, **resend))
    try:
        with TestClient(app) as http:
            key = http.post("/v1/operators", json={"name": "Swire"}, headers=bearer(ADMIN)).json()["api_key"]
            channel = http.post("/v1/channels", json={"name": "City"}, headers=bearer(ADMIN)).json()["id"]
            http.headers["Authorization"] = f"Bearer {key}"
            assert http.post("/v1/districts", json=SANLITUN.to_geojson()).status_code == 201
            guide = http.post("/v1/guides", json={"district_id": SANLITUN.id, "name": "Ann",
                                                  "commission_bps": 333}).json()["id"]
            assert http.post(f"/v1/guides/{guide}/members", json={
                "channel_id": channel, "user_id": "u-1", "served_at": datetime.now(timezone.utc).isoformat()},
            ).status_code == 200
            operator = http.get("/v1/operators/me").json()["id"]
            yield http, proxy, direct, operator, channel, guide
    finally:
        proxy.close()
        direct.close()
        server.stop()


def ledger(direct, operator: str, kind: str) -> list[dict]:
    return [{k.decode(): v.decode() for k, v in e.items()} for _, e in
            direct.xrange(keys.guide_keys(operator)["ledger"]) if e[b"type"] == kind.encode()]


@pytest.mark.parametrize("fault", ["late", "cut"])
def test_an_order_sent_again_after_a_lost_answer_is_booked_once(shop, fault):
    http, proxy, direct, operator, channel, guide = shop
    at = datetime.now(timezone.utc).isoformat()
    body = {"order_id": "POS-1", "channel_id": channel, "user_id": "u-1", "amount_cents": 10_000,
            "sales_channel": "store", "at": at}
    warm = http.post("/v1/orders", json=body | {"order_id": "warm-up"})  # the script is loaded: the next EVALSHA runs
    assert warm.status_code == 201, warm.text
    (proxy.hold_reply if fault == "late" else proxy.cut_reply)(script_sha("record_orders"), *(
        (1.5,) if fault == "late" else ()))
    first = http.post("/v1/orders", json=body)
    assert proxy.held + proxy.cut == 1  # the fault happened to the order's script
    answer = until_answered(lambda: http.post("/v1/orders", json=body))
    assert answer.status_code == 201 and answer.json() == {
        "order_id": "POS-1", "guide_id": guide, "commission_cents": 333, "campaign_id": None}
    if first.status_code != 503:  # the client resent the command itself: the same answer at once
        assert first.json() == answer.json()
    booked = [e for e in ledger(direct, operator, "order") if e["order_id"] == "POS-1"]
    assert len(booked) == 1 and booked[0]["commission"] == "333"
    totals = direct.hgetall(keys.guide_keys(operator)["totals"])
    assert int(totals[f"g:{guide}:commission_cents".encode()]) == 666  # warm-up's and this one's
    assert http.app.state.engine.guides.audit(operator)[1] == []


def test_a_refund_sent_again_after_a_late_answer_reverses_once(shop):
    http, proxy, direct, operator, channel, guide = shop
    order = {"order_id": "POS-2", "channel_id": channel, "user_id": "u-1", "amount_cents": 9_999,
             "sales_channel": "flagship", "at": datetime.now(timezone.utc).isoformat()}
    assert http.post("/v1/orders", json=order).json()["commission_cents"] == 332
    assert http.post("/v1/orders/POS-2/refunds", json={"refund_id": "warm-up", "amount_cents": 1}).status_code == 201
    proxy.hold_reply(script_sha("record_refund"), 1.5)
    refund = {"refund_id": "RF-1", "amount_cents": 9_998}  # the rest: the whole commission reversed
    http.post("/v1/orders/POS-2/refunds", json=refund)
    assert proxy.held == 1
    answer = until_answered(lambda: http.post("/v1/orders/POS-2/refunds", json=refund))
    assert answer.status_code == 201 and answer.json()["order_commission_cents"] == 0
    reversals = ledger(direct, operator, "refund")
    assert [e["refund_id"] for e in reversals] == ["warm-up", "RF-1"]
    assert sum(int(e["reversal"]) for e in reversals) == 332
    assert http.app.state.engine.guides.audit(operator)[1] == []
