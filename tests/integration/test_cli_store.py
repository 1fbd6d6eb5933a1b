"""CLI commands that talk to Redis."""

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
