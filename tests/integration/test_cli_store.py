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
