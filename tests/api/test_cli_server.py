"""``districts --url`` and ``match --url`` ask a running engine (a real uvicorn server) for its
districts: the public routes with no key, ``--mine`` with an operator's key."""

import json

import httpx
from typer.testing import CliRunner

from conftest import ADMIN, SANLITUN, bearer
from district_engine import load_demo_districts
from district_engine.cli import app
from helpers import free_port

runner = CliRunner()
INDIGO = next(d for d in load_demo_districts() if d.id == "indigo-beijing")


def upload(url: str) -> str:
    """Sanlitun by one operator, INDIGO by another: the first one's key."""
    with httpx.Client(base_url=url, timeout=30) as http:
        keys = [http.post("/v1/operators", json={"name": n}, headers=bearer(ADMIN)).json()["api_key"] for n in "AB"]
        for key, district in zip(keys, (SANLITUN, INDIGO)):
            assert http.post("/v1/districts", json=district.to_geojson(), headers=bearer(key)).status_code == 201
    return keys[0]


def test_districts_and_match_ask_a_running_engine(live_server):
    key = upload(live_server)
    listed = runner.invoke(app, ["districts", "--url", live_server, "--json"])
    assert listed.exit_code == 0, listed.output
    doc = json.loads(listed.output)
    assert doc["source"] == f"the engine at {live_server}"
    assert {d["id"] for d in doc["districts"]} == {SANLITUN.id, INDIGO.id}  # every operator's: a public route
    table = runner.invoke(app, ["districts", "--url", live_server])
    assert f"read from the engine at {live_server}" in table.output and "indigo-beijing" in table.output
    mine = runner.invoke(app, ["districts", "--url", live_server, "--mine", "--key", key, "--json"])
    assert [d["id"] for d in json.loads(mine.output)["districts"]] == [SANLITUN.id]
    assert runner.invoke(app, ["districts", "--url", live_server, "--mine", "--json"],
                         env={"DE_API_KEY": key}).exit_code == 0  # the key from the environment
    matched = json.loads(runner.invoke(app, ["match", "39.9300", "116.4470", "--url", live_server, "--json"]).output)
    assert [(m["district_id"], round(m["distance_m"])) for m in matched["matches"]] == [(SANLITUN.id, 268)]


def test_mine_without_a_valid_key_exits_2_naming_the_key(live_server):
    for args in (["--mine"], ["--mine", "--key", "de_live_not-a-key"]):
        result = runner.invoke(app, ["districts", "--url", live_server, *args])
        assert result.exit_code == 2 and "error: key: GET /v1/districts answered 401" in result.output, result.output


def test_an_engine_that_is_not_there_exits_2_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["districts", "--url", url], ["match", "39.93", "116.447", "--url", url]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and f"error: url: cannot reach {url}" in result.output, result.output
        assert "Traceback" not in result.output
