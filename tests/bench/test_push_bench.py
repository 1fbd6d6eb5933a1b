"""The push benchmark still runs, at toy size, and its correctness columns hold (no timing asserted)."""

import pytest

from helpers import load_bench


@pytest.mark.slow
def test_push_bench_pushes_exactly_the_users_in_reach_and_delivers_every_event_signed(tmp_path):
    bench = load_bench("push")
    r = bench.main(["--users", "20000", "--events", "500", "--truth-sample", "300", "--out", str(tmp_path / "out.json")])

    b = r["broadcast"]
    assert b["wrong"] == 0 and b["duplicates"] == 0 and b["reference"]["disagree"] == 0
    assert b["broadcast"]["in_reach"] == b["fanout"]["pushed"] == b["truth_in_reach"] > 0
    assert b["geosearch"]["missed_in_reach"] == 0

    c, d = r["webhooks"]["ceiling"], r["webhooks"]["delivery"]
    assert c["unique"] == 500 and c["bad_signatures"] == 0
    assert d["complete"] and d["unique"] == 500 and d["bad_signatures"] == 0
    assert d["worker_exit_codes"] == [0, 0] and d["pending"] == 0
    assert (tmp_path / "out.json").exists()
