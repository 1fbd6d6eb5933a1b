"""The demo as `make run` and `make reset-demo` leave it: a second start says which keys to use and
where they are kept; a reset deletes the embedded store and the key files and loads the demo again;
the demo's parking offer gives the free time it announces."""

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
import redis
from typer.testing import CliRunner

from district_engine.cli import app
from district_engine.demo import DEMO_FILES, demo_keys, seed_demo
from district_engine.engine import Engine
from district_engine.parking.gate_client import gate_event_request
from district_engine.store import EmbeddedRedis
from district_engine.store.operators import OperatorStore
from helpers import free_port

runner = CliRunner()


def embedded_env(data_dir) -> dict:
    return {"DE_DATA_DIR": str(data_dir), "DE_REDIS_URL": None, "COLUMNS": "200"}


def test_reset_demo_deletes_the_store_and_the_key_files_and_loads_the_demo_again(tmp_path):
    first = runner.invoke(app, ["reset-demo"], env=embedded_env(tmp_path))
    assert first.exit_code == 0, first.output
    keys = demo_keys(tmp_path)
    assert keys["operator"] in first.output and keys["channel"] in first.output
    assert all((tmp_path / name).exists() for name in DEMO_FILES)
    with EmbeddedRedis(tmp_path) as server:  # something of the user's own, beside the demo
        client = redis.Redis.from_url(server.url)
        OperatorStore(client).create("Someone else")
        client.set("anything", "1")
    again = runner.invoke(app, ["reset-demo"], env=embedded_env(tmp_path))
    assert again.exit_code == 0, again.output
    assert "deleted" in again.output and "keys from the embedded store" in again.output
    new = demo_keys(tmp_path)
    assert new["operator"] != keys["operator"] and new["operator"] in again.output
    with EmbeddedRedis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        assert client.get("anything") is None
        assert OperatorStore(client).authenticate(new["operator"]) and not OperatorStore(client).authenticate(
            keys["operator"])
        engine = Engine(client)
        engine.catalog.load()
        assert (len(engine.catalog.view.stored), len(engine.catalog.view.campaigns)) == (5, 5)


def test_reset_demo_leaves_a_redis_of_ones_own_and_a_served_store_alone(tmp_path, redis_url, redis_client):
    redis_client.set("mine", "1")
    refused = runner.invoke(app, ["reset-demo"], env={"DE_DATA_DIR": str(tmp_path), "DE_REDIS_URL": redis_url})
    assert refused.exit_code == 2 and "error: DE_REDIS_URL:" in refused.output
    assert redis_client.get("mine") == b"1"
    with EmbeddedRedis(tmp_path):  # as while `make run` serves from it
        busy = runner.invoke(app, ["reset-demo"], env=embedded_env(tmp_path))
    assert busy.exit_code == 2 and "error: DE_DATA_DIR: an engine is serving" in busy.output


def test_the_demo_parking_offer_gives_its_two_free_hours(tmp_path, redis_client):
    from fastapi.testclient import TestClient

    from api.main import create_app
    from district_engine.settings import Settings

    seed_demo(Engine(redis_client), tmp_path)
    secret = json.loads((tmp_path / "demo_lot_secrets.json").read_text())["taikoo-hui-gz-p"]
    app_ = create_app(Settings(worker=False), client=redis_client)

    def stay(plate: str, minutes: int) -> dict:
        now = datetime.now(timezone.utc)
        for event, at in (("entry", now - timedelta(minutes=minutes)), ("exit", now)):
            body, h = gate_event_request(secret, event, plate, at)
            r = http.post("/v1/parking/lots/taikoo-hui-gz-p/gate-events", content=body, headers=h)
            assert r.status_code == 200, r.text
        return r.json()

    with TestClient(app_) as http:
        within = stay("粤A11111", 115)
        assert (within["decision"], within.get("fee_cents", 0)) == ("open", 0)
        longer = stay("粤A22222", 150)  # 30 minutes past the 2 free hours: one hour's unit, ¥10
        assert (longer["decision"], longer["fee_cents"]) == ("pay", 1000)


@pytest.mark.slow
def test_a_second_start_prints_the_demo_keys_and_where_they_are(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DE_REDIS_URL"} | {"DE_DATA_DIR": str(tmp_path)}

    def start() -> str:
        proc = subprocess.Popen([sys.executable, "-m", "district_engine.cli", "serve", "--port", str(free_port())],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        said = []
        for line in proc.stdout:
            said.append(line)
            if "Uvicorn running" in line:
                break
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        return "".join(said)

    first = start()
    keys = demo_keys(tmp_path)
    assert f"demo data loaded; demo operator API key: {keys['operator']}" in first
    second = start()
    assert f"demo data loaded on the first start; demo operator API key: {keys['operator']}" in second
    assert f"demo channel key: {keys['channel']}" in second
    assert f"{tmp_path}/demo_operator_key (operator)" in second and "make reset-demo" in second
