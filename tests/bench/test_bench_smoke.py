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
