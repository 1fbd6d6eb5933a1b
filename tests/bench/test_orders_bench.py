"""The orders benchmark still runs, at toy size, and reconciles: every order sent is recorded once,
none refused, and the audit finds nothing (no timing asserted)."""

import pytest

from helpers import load_bench


@pytest.mark.slow
def test_orders_bench_runs_every_path_and_the_ledger_reconciles(tmp_path):
    bench = load_bench("orders")
    r = bench.main(["--members", "300", "--seconds", "1", "--connections", "4", "--workers", "1",
                    "--single-orders", "50", "--direct-orders", "3000", "--batch", "250", "--clients", "2",
                    "--out", str(tmp_path / "orders.json")])
    for run in ("http", "http_uncounted"):
        h, o = r[run]["healthz"], r[run]["orders"]
        assert h["req_s"] > 0 and h["non_2xx"] == 0
        assert o["req_s"] > 0 and o["non_2xx"] == 0 and o["orders"] > 0  # no 409 (fresh ids), no 429 (the limit)
    o = {"orders": r["http"]["orders"]["orders"] + r["http_uncounted"]["orders"]["orders"]}
    assert r["single"]["orders"] == 50
    b = r["batched"]
    assert b["orders"] == b["sent"] == 3000 and b["refused"] == 0
    assert r["audit"]["problems"] == []
    assert r["audit"]["figures"]["orders"] == r["recorded"] >= o["orders"] + 50 + 3000
    assert r["audit"]["figures"]["commission_cents"] > 0
    assert (tmp_path / "orders.json").exists()
