"""CLI commands that talk to Redis."""

import pytest
from typer.testing import CliRunner

from district_engine.cli import app
from district_engine.store.operators import OperatorStore


def test_operator_create_prints_a_working_key(redis_url, redis_client):
    result = CliRunner().invoke(app, ["operator", "create", "Swire Properties"], env={"DE_REDIS_URL": redis_url, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    key = next(w for w in result.output.split() if w.startswith("de_live_"))
    operator_id = OperatorStore(redis_client).authenticate(key)
    assert operator_id and OperatorStore(redis_client).get(operator_id).name == "Swire Properties"


def test_operator_create_rejects_an_empty_name(redis_url):
    result = CliRunner().invoke(app, ["operator", "create", " "], env={"DE_REDIS_URL": redis_url})
    assert result.exit_code == 2 and "name" in result.output


def test_rain_audit_exits_0_when_it_reconciles_and_1_when_not(redis_url, redis_client):
    import numpy as np

    from district_engine.store.rains import RainStore

    store = RainStore(redis_client)
    store.create("r1", np.array([5, 10, 15]), 0, 10**13)
    store.grab("r1", "u", 1, "g")
    ok = CliRunner().invoke(app, ["rain", "audit", "r1"], env={"DE_REDIS_URL": redis_url, "COLUMNS": "200"})
    assert ok.exit_code == 0 and "reconciles" in ok.output
    redis_client.hincrby("rain:{r1}:meta", "won_cents", 1)
    bad = CliRunner().invoke(app, ["rain", "audit", "r1"], env={"DE_REDIS_URL": redis_url, "COLUMNS": "200"})
    assert bad.exit_code == 1 and "mismatch" in bad.output
    missing = CliRunner().invoke(app, ["rain", "audit", "nope"], env={"DE_REDIS_URL": redis_url})
    assert missing.exit_code == 2


def test_rain_audit_prints_json(redis_url, redis_client):
    import json

    import numpy as np

    from district_engine.store.rains import RainStore

    RainStore(redis_client).create("r1", np.array([5, 10, 15]), 0, 10**13)
    result = CliRunner().invoke(app, ["rain", "audit", "r1", "--json"], env={"DE_REDIS_URL": redis_url})
    doc = json.loads(result.output)
    assert result.exit_code == 0 and doc["mismatches"] == [] and doc["figures"]["total_cents"] == 30


def test_the_rain_audit_catches_a_grab_booked_twice(redis_client):
    """What a grab sent again by an engine without grab ids would leave: the same win twice in
    the ledger. The audit names it even where the sums are made to balance."""
    import numpy as np

    from district_engine.store.rains import RainStore

    store = RainStore(redis_client)
    store.create("r2", np.array([5, 10, 15]), 0, 10**13)
    won = store.grab("r2", "u", 1, "g1")
    assert store.audit("r2") == []
    redis_client.xadd("rain:{r2}:ledger", {"type": "grab", "user": "u", "amount": 0, "grab_id": "g1", "at": 2})
    assert any("each winning grab booked once" in p for p in store.audit("r2")) and won.status == "won"


def test_parking_audit_exits_0_when_the_lot_reconciles_and_1_on_a_charge_booked_twice(redis_url, redis_client):
    import json
    from datetime import datetime, timedelta, timezone

    from district_engine.parking.service import GateEvent, Parking
    from district_engine.store.parking import ParkingStore

    parking = Parking(ParkingStore(redis_client), clock=lambda: datetime.now(timezone.utc))
    lot, _ = parking.create_lot("op", "sanlitun-taikoo-li", "South", 10, 39.9325, 116.4474,
                                {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000})
    parking.bind_plate("ch_city:u1", "京A12345", "agreement-1")  # charged automatically on exit
    at = datetime.now(timezone.utc)
    parking.try_decide(parking.lot(lot.id), "m1", GateEvent("vehicle.entry", "京A12345", 0.99, at - timedelta(hours=2), "in"))
    decided = json.loads(parking.try_decide(parking.lot(lot.id), "m2", GateEvent("vehicle.exit", "京A12345", 0.99, at, "out")))
    env = {"DE_REDIS_URL": redis_url, "COLUMNS": "200"}
    ok = CliRunner().invoke(app, ["parking", "audit", lot.id], env=env)
    assert ok.exit_code == 0 and "reconciles" in ok.output, ok.output
    ledger = f"lot:{{{lot.id}}}:ledger"
    (charge,) = [e for _, e in redis_client.xrange(ledger) if e[b"type"] == b"charge"]
    assert decided["charged_cents"] == int(charge[b"amount"]) > 0
    redis_client.xadd(ledger, charge)  # the same charge booked again
    bad = CliRunner().invoke(app, ["parking", "audit", lot.id], env=env)
    assert bad.exit_code == 1 and "booked" in bad.output


@pytest.mark.slow
def test_serve_on_its_embedded_redis_lays_it_out_as_asked_and_stops_it_on_sigterm(tmp_path):
    """`make run` without DE_REDIS_URL: the engine starts a redis-server, records the partition
    count asked for (the demo seeding included, which runs first), and SIGTERM stops both."""
    import os
    import signal
    import subprocess
    import sys

    import redis

    from helpers import free_port

    env = {k: v for k, v in os.environ.items() if k != "DE_REDIS_URL"} | {"DE_DATA_DIR": str(tmp_path), "DE_PARTITIONS": "32"}
    proc = subprocess.Popen([sys.executable, "-m", "district_engine.cli", "serve", "--port", str(free_port())], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "Uvicorn running" in line:
            break
    port = int((tmp_path / "redis.port").read_text())
    assert redis.Redis(port=port).get("layout:partitions") == b"32"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Application shutdown complete" in out, out
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=port, socket_connect_timeout=1).ping()
    assert not (tmp_path / "redis.port").exists()


def test_channel_commands_make_a_channel_its_tokens_and_a_new_key(redis_url, redis_client):
    from district_engine.identity.tokens import verify_user_token
    from district_engine.store.channels import ChannelStore

    env = {"DE_REDIS_URL": redis_url, "COLUMNS": "200"}
    made = CliRunner().invoke(app, ["channel", "create", "City channel"], env=env)
    assert made.exit_code == 0, made.output
    words = made.output.split()
    channel_id = next(w for w in words if w.startswith("ch_"))
    key = next(w for w in words if w.startswith("de_chan_"))
    channels = ChannelStore(redis_client)
    assert channels.authenticate(key) == channel_id
    token = CliRunner().invoke(app, ["channel", "token", channel_id, "u-1"], env=env).output.strip()
    assert verify_user_token(token, channels.token_secrets, __import__("time").time()) == (channel_id, "u-1")
    rotated = CliRunner().invoke(app, ["channel", "rotate-key", channel_id, "--grace-s", "0"], env=env)
    assert rotated.exit_code == 0 and channels.authenticate(key) is None
    assert CliRunner().invoke(app, ["channel", "token", "ch_nope", "u-1"], env=env).exit_code == 2


def test_serve_leaves_x_forwarded_for_to_the_engine(redis_url, redis_client, tmp_path, monkeypatch):
    """uvicorn believes X-Forwarded-For from loopback unless told not to; the engine reads it only
    from DE_TRUSTED_PROXIES (a spoofed header bypassed the per-address grab limit)."""
    import uvicorn

    called = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: called.update(kw))
    result = CliRunner().invoke(app, ["serve", "--port", "1"], env={"DE_REDIS_URL": redis_url,
                                                                   "DE_DATA_DIR": str(tmp_path), "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert called["proxy_headers"] is False
