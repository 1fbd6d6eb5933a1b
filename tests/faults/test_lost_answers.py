"""A create whose answer is lost: Redis runs a step of a red-envelope campaign's creation but its
reply comes 3 s late, past the client's timeout, so the API answers 503 though the step is done.
The client retries with the same Idempotency-Key until it gets a 2xx: there is then one rain,
funded once, and grabbing all its packets pays exactly its total (the audit is clean)."""

import hashlib
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis.backoff import NoBackoff
from redis.retry import Retry

import district_engine.store
from api.main import create_app
from district_engine import load_demo_districts
from district_engine.settings import Settings
from district_engine.store import EmbeddedRedis, connect, keys
from district_engine.store.rains import RainStore

sys.path.insert(0, str(Path(__file__).parent))
from proxy import Proxy  # noqa: E402

ADMIN = "test-admin-token"
SANLITUN = next(d for d in load_demo_districts() if d.id == "sanlitun-taikoo-li")
NEAR = {"lat": 39.9300, "lng": 116.4470}  # about 270 m from Sanlitun's footprint
_NOW = datetime.now(timezone.utc)
RAIN = {"district_id": SANLITUN.id, "kind": "red_envelope", "title": "Rain", "body": "Grab it",
        "starts_at": (_NOW - timedelta(hours=1)).isoformat(), "ends_at": (_NOW + timedelta(hours=5)).isoformat(),
        "total_cents": 10_000, "packets": 40, "min_cents": 1}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def created(api, path: str, body: dict) -> dict:
    r = api.post(path, json=body, headers=bearer(ADMIN))
    assert r.status_code == 201, r.text
    return r.json()


def script_sha(name: str) -> bytes:
    """What an EVALSHA of one of the store's scripts carries: held, it holds back that step only."""
    source = (Path(district_engine.store.__file__).parent / "lua" / f"{name}.lua").read_bytes()
    return hashlib.sha1(source).hexdigest().encode()


@pytest.fixture
def api_through_proxy(tmp_path):
    """(the API on a Redis client through a proxy that can hold a reply back, a direct client, the
    proxy). The client waits 0.5 s for a reply and does not send a command again: a late reply is
    the API's 503, as a stalled Redis is past every retry."""
    server = EmbeddedRedis(tmp_path, persistent=False).start()
    direct = connect(server.url)
    proxy = Proxy(("127.0.0.1", server.port))
    client = connect(proxy.url, socket_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        with TestClient(create_app(Settings(admin_token=ADMIN, worker=False), client=client)) as api:
            yield api, direct, proxy
    finally:
        client.close()
        direct.close()
        proxy.close()
        server.stop()


# The steps answered late: a chunk of packets pushed (the pool half made), the rain opened and
# funded (the campaign not stored yet), and the answer recorded (everything done).
@pytest.mark.parametrize("step", ["push_packets", "open_rain", "record_idempotent_answer"])
def test_a_rain_whose_answer_was_lost_is_created_and_funded_once(api_through_proxy, step):
    api, direct, proxy = api_through_proxy
    operator = created(api, "/v1/operators", {"name": "Swire"})["api_key"]
    assert api.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(operator)).status_code == 201
    # Every script the creation runs is loaded, so the held EVALSHA is the step itself.
    warm = api.post("/v1/campaigns", json=RAIN, headers=bearer(operator) | {"Idempotency-Key": "warm-up"})
    assert warm.status_code == 201, warm.text

    proxy.hold_reply(script_sha(step), 3.0)
    headers = bearer(operator) | {"Idempotency-Key": "rain-1"}
    lost = api.post("/v1/campaigns", json=RAIN, headers=headers)
    assert (lost.status_code, lost.headers["retry-after"]) == (503, "1"), lost.text
    assert proxy.held == 1
    deadline = time.monotonic() + 90  # an unreleased claim would lapse within a minute
    while (answer := api.post("/v1/campaigns", json=RAIN, headers=headers)).status_code // 100 != 2:
        assert answer.status_code in (409, 503) and time.monotonic() < deadline, answer.text
        time.sleep(0.2)
    assert answer.status_code == 201
    assert answer.headers.get("idempotent-replayed") == ("true" if step == "record_idempotent_answer" else None)

    rain = answer.json()["id"]
    assert sorted(c.decode() for c in direct.smembers(keys.campaigns())) == sorted([warm.json()["id"], rain])
    assert len(list(direct.scan_iter(match="rain:*:meta"))) == 2
    rains = RainStore(direct)
    assert rains.audit(rain) == []
    channel = created(api, "/v1/channels", {"name": "City"})
    paid = 0
    for i in range(RAIN["packets"] + 5):
        got = api.post(f"/v1/red-envelopes/{rain}/grab", json={"user_id": f"u{i}"} | NEAR,
                       headers=bearer(channel["api_key"])).json()
        paid += got["amount_cents"] if got.get("status") == "won" else 0
    assert paid == RAIN["total_cents"]
    f = rains.figures(rain)
    assert (f.total_cents, f.won_cents, f.won_packets, f.remaining_cents) == (10_000, 10_000, 40, 0)
    assert rains.audit(rain) == []
