"""The command line, run in-process (typer's runner); it reads only geodata/ files."""

import json

import pytest
from typer.testing import CliRunner

from district_engine.cli import app
from district_engine.geo import from_wgs84

runner = CliRunner()


def test_districts_lists_the_five_demo_districts_with_cell_counts():
    result = runner.invoke(app, ["districts"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for district_id in ("sanlitun-taikoo-li", "indigo-beijing", "hkri-taikoo-hui", "taikoo-hui-guangzhou",
                        "sino-ocean-taikoo-li"):
        assert district_id in result.output
    assert "reach interior" in result.output


def test_match_prints_the_nearest_district_with_distance():
    result = runner.invoke(app, ["match", "39.9300", "116.4470"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "sanlitun-taikoo-li" in result.output and "indigo-beijing" not in result.output


def test_match_takes_gcj02_and_says_when_nothing_is_near():
    lat, lng = from_wgs84(31.2306, 121.4606, "gcj02")
    result = runner.invoke(app, ["match", str(lat), str(lng), "--coord", "gcj02"], env={"COLUMNS": "200"})
    assert "hkri-taikoo-hui" in result.output and "0.0" in result.output
    far = runner.invoke(app, ["match", "45.0", "90.0"])
    assert far.exit_code == 0 and "no district within 3000 m" in far.output


@pytest.mark.parametrize("args,message", [(["match", "95", "116"], "lat"), (["match", "39", "116", "--coord", "x"], "coord"),
                                          (["districts", "--radius", "5000"], "radius_m")])
def test_bad_input_exits_2_with_the_field(args, message):
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2 and message in result.output


def test_geodata_option_reads_an_operator_file(tmp_path):
    from helpers import square

    path = tmp_path / "mine.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "my-mall", "name": "My Mall", "city": "Hangzhou"},
         "geometry": square(30.25, 120.16, 100.0)}]}), encoding="utf-8")
    result = runner.invoke(app, ["match", "30.26", "120.16", "--geodata", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "my-mall" in result.output
