"""A connection cut in the middle of a reply (Redis ran the command; the client read half an
answer), and a partition that black-holes every byte: the request answers 503, and the same request
sent again (its Idempotency-Key, its webhook-id) is the same request: one packet, one charge, one
push; the audits hold."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from district_engine.parking.gate_client import gate_event_request
from district_engine.settings import Settings
from district_engine.store import EmbeddedRedis, connect
from district_engine.store.parking import ParkingStore
from district_engine.store.rains import RainStore

sys.path.insert(0, str(Path(__file__).parent))
from proxy import Proxy  # noqa: E402
from seeding import ADMIN, NEAR, SANLITUN, bearer as _bearer, seed, until_answered  # noqa: E402

PLATE = "京A12345"


@pytest.fixture
def behind_proxy(tmp_path):
    """The app on a client that reaches Redis through a proxy, with an operator, a channel (a
    user with a bound plate), a running rain and a lot: (http client, proxy, direct Redis client,
    channel key, rain id, lot)."""
    server = EmbeddedRedis(tmp_path, persistent=False).start()
    direct = connect(server.url)
    proxy = Proxy(("127.0.0.1", server.port))
    app = create_app(Settings(admin_token=ADMIN, worker=False, redis_timeout_ms=500),
                     client=connect(proxy.url, timeout_s=0.5))
    try:
        with TestClient(app) as http:
            _, channel, rain, lot = seed(http, per_user_limit=3, lot=True)
            assert http.post("/v1/parking/plates", headers=_bearer(channel), json={
                "user_id": "driver", "plate": PLATE, "payment_token": "agreement-1"}).status_code == 201
            yield http, proxy, direct, channel, rain, lot
    finally:
        proxy.close()
        direct.close()
        server.stop()


def test_a_grab_whose_reply_is_cut_is_the_same_grab_when_sent_again(behind_proxy):
    http, proxy, direct, channel, rain, _ = behind_proxy
    grab = {"json": {"user_id": "keen"} | NEAR, "headers": _bearer(channel) | {"Idempotency-Key": "grab-1"}}
    warm = http.post(f"/v1/red-envelopes/{rain}/grab", json={"user_id": "warm"} | NEAR, headers=_bearer(channel))
    assert warm.status_code == 200  # every script loaded: the next grab is one EVALSHA
    proxy.cut_reply(b"grab_ids")  # the grab script's call names the rain's grab ids
    cut = http.post(f"/v1/red-envelopes/{rain}/grab", **grab)
    assert proxy.cut == 1 and cut.status_code == 503 and cut.headers["Retry-After"] == "1"
    won = until_answered(lambda: http.post(f"/v1/red-envelopes/{rain}/grab", **grab)).json()
    assert won["status"] == "won"
    store = RainStore(direct)
    ledger = [e for _, e in direct.xrange(f"rain:{{{rain}}}:ledger") if e[b"type"] == b"grab"]
    assert [int(e[b"amount"]) for e in ledger if e[b"user"].endswith(b":keen")] == [won["amount_cents"]]  # once
    assert store.figures(rain).won_packets == 2 and store.audit(rain) == []


@pytest.mark.parametrize("cut", [b":ledger", b":hook:out-1"], ids=["the-close", "the-claim"])
def test_a_gate_exit_whose_reply_is_cut_charges_once_and_opens_when_sent_again(behind_proxy, cut):
    """The exit's close (with its charge) ran, and its reply was cut; or the claim's was. Sent
    again with its webhook-id, the event opens the gate with the one charge, at once: before, a
    close whose reply was lost left the claim pending 10 s, then a second decision found the
    session closed and answered pay."""
    http, proxy, direct, _, _, lot = behind_proxy
    now = datetime.now(timezone.utc)
    url = f"/v1/parking/lots/{lot['id']}/gate-events"

    def gate(event, plate, at, webhook_id):
        body, headers = gate_event_request(lot["webhook_secret"], event, plate, at, webhook_id=webhook_id)
        return lambda: http.post(url, content=body, headers=headers)

    for event, webhook_id in (("entry", "warm-in"), ("exit", "warm-out")):  # every script loaded
        assert gate(event, "京B00001", now, webhook_id)().json()["decision"] == "open"
    assert gate("entry", PLATE, now - timedelta(hours=2), "in-1")().json()["decision"] == "open"
    exit_ = gate("exit", PLATE, now, "out-1")
    proxy.cut_reply(cut)
    cut_off = exit_()
    assert proxy.cut == 1 and cut_off.status_code == 503
    start = time.monotonic()
    answer = until_answered(exit_).json()
    assert time.monotonic() - start < 5  # no wait for a claim to run out
    assert answer["decision"] == "open" and answer["charged_cents"] == answer["fee_cents"] > 0
    assert exit_().json() == answer  # the gate's next retry, the same
    charges = [e for _, e in direct.xrange(f"lot:{{{lot['id']}}}:ledger") if e[b"type"] == b"charge"]
    assert [int(e[b"amount"]) for e in charges] == [answer["charged_cents"]]  # one charge
    assert ParkingStore(direct).audit(lot["id"]) == [] and direct.xlen(f"lot:{{{lot['id']}}}:review") == 0


def test_a_black_holed_redis_is_a_503_in_time_and_the_update_sent_again_answers_its_offers(behind_proxy):
    http, proxy, direct, channel, rain, _ = behind_proxy
    update = {"json": {"user_id": "walker"} | NEAR, "headers": _bearer(channel) | {"Idempotency-Key": "loc-1"}}
    proxy.black_hole(True)
    start = time.monotonic()
    lost = http.post("/v1/locations", **update)
    took = time.monotonic() - start
    assert lost.status_code == 503 and took < 0.5 + 0.4 + 1.0  # the timeout, the slack, a busy machine
    assert http.get("/healthz").status_code == 200 and http.get("/readyz").status_code == 503
    proxy.black_hole(False)
    answered = until_answered(lambda: http.post("/v1/locations", **update)).json()
    assert [o["campaign_id"] for o in answered["new_offers"]] == [rain]  # dropped, so it ran now, once
    assert http.post("/v1/locations", **update).json() == answered
    assert RainStore(direct).audit(rain) == []


def test_a_broadcast_chunk_whose_delivery_reply_is_cut_reaches_each_user_once_when_taken_again(tmp_path):
    """A worker's fan-out delivers a chunk of a broadcast; Redis runs it and the reply is cut, so
    the chunk is not acknowledged. Another worker takes it back (its lease ran out) and delivers it
    again: each user in reach has the offer once, nobody else has it."""
    from datetime import datetime, timedelta, timezone

    import numpy as np

    from district_engine.engine import Engine
    from district_engine.errors import StoreUnavailableError
    from district_engine.store import keys
    from district_engine.store.layout import partition_count

    server = EmbeddedRedis(tmp_path, persistent=False).start()
    direct = connect(server.url)
    proxy = Proxy(("127.0.0.1", server.port))
    try:
        engine = Engine(connect(proxy.url, timeout_s=0.5), max_pushes_per_hour=100)
        operator, _ = engine.stores.operators.create("Swire")
        engine.districts.put(SANLITUN, operator.id)
        rng = np.random.default_rng(5)
        lat0, lng0 = SANLITUN.centre
        users = [f"u{i}" for i in range(200)]
        for u in users:  # all within about 1 km of the centre: in a 3 km reach
            engine.channel.locate(u, lat0 + float(rng.uniform(-0.008, 0.008)), lng0 + float(rng.uniform(-0.008, 0.008)))
        now = datetime.now(timezone.utc)
        engine.campaigns.create(operator.id, district_id=SANLITUN.id, kind="campaign", title="Double 11", body="-20%",
                               starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(days=1))
        assert engine.jobs.run_due_jobs() >= 1  # the go-live broadcast queued its chunks
        proxy.cut_reply(b":outbox")  # the delivery script of the first chunk
        with pytest.raises(StoreUnavailableError):  # the connection closed: Redis away, for all the worker knows
            while engine.broadcasts.fan_out("worker-1"):
                pass
        assert proxy.cut == 1
        while engine.broadcasts.fan_out("worker-2", reclaim_idle_ms=0):  # worker-1's unacknowledged chunk, taken back
            pass
        pushed = [e[b"user"].decode() for p in range(partition_count(direct)) for _, e in direct.xrange(keys.outbox(p))]
        assert sorted(pushed) == sorted(users)  # each once
    finally:
        proxy.close()
        direct.close()
        server.stop()
