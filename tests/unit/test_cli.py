"""The command line, run in-process (typer's runner) on geodata/ files and files it writes; asking a
running engine (--url) is in tests/api/test_cli_server.py."""

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


def test_a_missing_geodata_file_exits_2_with_the_field_and_no_traceback():
    result = runner.invoke(app, ["match", "30.26", "120.16", "--geodata", "my_districts.geojson"])
    assert result.exit_code == 2, result.output
    assert "error: geodata: cannot read my_districts.geojson" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("text,message", [("{not json", "geodata: "), ("[1, 2]", "geodata: "),
                                          (b"\xff\xfe", "not UTF-8"),
                                          ('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                                           '"properties": {"id": "a", "city": "x"}, "geometry": null}]}',
                                           "features[0].properties.name")])
def test_a_bad_geodata_file_exits_2_and_names_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "bad.geojson"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = runner.invoke(app, ["districts", "--geodata", str(path)])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output


def test_a_directory_as_geodata_exits_2(tmp_path):
    result = runner.invoke(app, ["districts", "--geodata", str(tmp_path)])
    assert result.exit_code == 2 and "error: geodata: cannot read" in result.output


def test_districts_and_match_say_what_they_read(tmp_path):
    from helpers import square

    assert "read from the demo districts bundled with the engine" in runner.invoke(app, ["districts"]).output
    path = tmp_path / "mine.geojson"
    path.write_text(json.dumps({"type": "Feature", "properties": {"id": "my-mall", "name": "My Mall", "city": "Hangzhou"},
                                "geometry": square(30.25, 120.16, 100.0)}), encoding="utf-8")
    result = runner.invoke(app, ["match", "30.26", "120.16", "--geodata", str(path), "--json"])
    assert json.loads(result.output)["source"] == f"the file {path}"
    far = runner.invoke(app, ["match", "45.0", "90.0", "--geodata", str(path)])
    assert f"(read from the file {path})" in far.output


def test_piped_tables_are_whole_whatever_the_terminal_width():
    for args in (["districts"], ["match", "39.9300", "116.4470"]):
        result = runner.invoke(app, args, env={"COLUMNS": "40"})  # not a terminal: COLUMNS does not cut it
        assert result.exit_code == 0 and "…" not in result.output, result.output
        assert "sanlitun-taikoo-li" in result.output and "Sanlitun Taikoo Li" in result.output
    assert "Sino-Ocean Taikoo Li Chengdu 成都远洋太古里" in runner.invoke(app, ["districts"], env={"COLUMNS": "40"}).output


def test_json_output_of_districts_and_match():
    listed = json.loads(runner.invoke(app, ["districts", "--json"]).output)
    assert listed["radius_m"] == 3000 and listed["h3_res"] == 8
    assert {d["id"] for d in listed["districts"]} == {"sanlitun-taikoo-li", "indigo-beijing", "hkri-taikoo-hui",
                                                      "taikoo-hui-guangzhou", "sino-ocean-taikoo-li"}
    sanlitun = next(d for d in listed["districts"] if d["id"] == "sanlitun-taikoo-li")
    assert sanlitun["name_zh"] == "三里屯太古里" and sanlitun["reach_interior_cells"] > 0
    matched = json.loads(runner.invoke(app, ["match", "39.9300", "116.4470", "--json"]).output)
    assert [(m["district_id"], round(m["distance_m"])) for m in matched["matches"]] == [("sanlitun-taikoo-li", 268)]
    assert json.loads(runner.invoke(app, ["match", "45", "90", "--json"]).output)["matches"] == []


def test_help_marks_no_flag_with_a_type():
    result = runner.invoke(app, ["channel", "rotate-key", "--help"])
    assert result.exit_code == 0 and "<bool>" not in result.output and "--token-secret" in result.output


def test_a_file_and_a_server_at_once_or_mine_without_a_server_exit_2():
    both = runner.invoke(app, ["districts", "--url", "http://127.0.0.1:8000", "--geodata", "x.geojson"])
    assert both.exit_code == 2 and "error: url: give --geodata or --url, not both" in both.output
    mine = runner.invoke(app, ["districts", "--mine"])
    assert mine.exit_code == 2 and "error: mine:" in mine.output
