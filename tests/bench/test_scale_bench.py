"""The national-scale benchmark still runs end to end, at toy size, on both backends, with the
consumers in a worker process of their own and a partition count of its choosing; what it checks
besides speed holds: the rain and the lots reconcile, every route answered."""

import pytest

from helpers import load_bench


@pytest.mark.slow
def test_scale_bench_runs_on_both_backends_and_everything_reconciles(tmp_path):
    bench = load_bench("scale")
    runs = bench.main(["--stores", "400", "--users", "3000", "--grabbers", "500", "--seconds", "2",
                       "--gate-rate", "20", "--connections", "8", "--partitions", "24", "--worker-processes", "1",
                       "--out", str(tmp_path / "scale.json")])
    assert [r["backend"] for r in runs] == ["single", "cluster"]
    for r in runs:
        assert r["partitions"] == 24  # the deployment's layout, as asked
        assert r["index"]["districts"] == 405 and 0 < r["index"]["matcher_share"] < 1 and r["index"]["change_ms"] > 0
        assert r["pings"]["req_s"] > 0 and r["grabs"]["req_s"] > 0 and r["gates"]["req_s"] > 0
        for phase in ("first", "repeat"):
            assert r[f"{phase}_pings"]["req_s"] > 0 and r[f"{phase}_pings"]["non_2xx"] == 0
            cpu = r[f"{phase}_cpu_us"]
            assert cpu["api"] > 0 and cpu["workers"] > 0 and cpu["primaries"] > 0 and cpu["machine"] >= cpu["api"]
            assert (cpu["replicas"] > 0) == (r["backend"] == "cluster")
        assert r["gates"]["decisions"].get("open", 0) > 0
        assert r["rain"]["audit"] == [] and 0 < r["rain"]["won_packets"] <= r["rain"]["packets"]
        assert not any(r["lot_audits"].values())
        assert r["freshness_ms"] < 10_000 and r["freshness_loaded_ms"] < 10_000 and r["redis_mb"] > 0 and r["serve_rss_mb"] > 0
    assert (tmp_path / "scale.json").exists()
