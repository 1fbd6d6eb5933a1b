"""The benchmark still runs, at toy size, and its correctness column holds (no timing asserted)."""

import pytest

from helpers import load_bench


@pytest.mark.slow
def test_matcher_bench_runs_and_the_engine_makes_no_wrong_answer(tmp_path):
    bench = load_bench("matcher")
    r = bench.main(["--stores", "3000", "--cities", "6", "--pings", "20000", "--truth-sample", "60",
                    "--redis-queries", "500", "--no-sweep", "--out", str(tmp_path / "out.json")])
    engine, naive, redis_row = r["accuracy"]
    assert engine["method"] == "engine" and engine["pairs_wrong"] == 0 and engine["pairs_true"] > 0
    assert r["match_many_1t"]["pairs_per_ping"] > 1 and r["redis_geosearch"]["queries_s"] > 0
    assert (tmp_path / "out.json").exists()


@pytest.mark.slow
def test_http_bench_runs_every_route_without_an_error_and_sees_a_change_everywhere(tmp_path):
    bench = load_bench("api_load")
    r = bench.main(["--stores", "400", "--campaigns", "40", "--seconds", "1", "--connections", "8",
                    "--out", str(tmp_path / "api_load.json")])
    for route in ("healthz", "feed", "locations", "locations at 40%"):
        assert r[route]["req_s"] > 0 and r[route]["non_2xx"] == 0
    assert r["feed_offers_per_ping"] > 0 and 0 < r["freshness_ms"] < 10_000
    assert (tmp_path / "api_load.json").exists()
