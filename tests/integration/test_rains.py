"""Red-envelope rains against a real Redis: atomic grabs, exact reconciliation, one refund."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from district_engine import NotFoundError
from district_engine.redenvelope import split_packets
from district_engine.store.rains import RainStore

START, END = 1_000_000, 2_000_000  # ms


def _rain(redis_client, total=100_000, packets=50, rain_id="r1"):
    store = RainStore(redis_client)
    store.create(rain_id, split_packets(total, packets, 1, rng=np.random.default_rng(1)), START, END)
    return store


def _reconciles(f):
    return f.won_cents + f.remaining_cents + f.refunded_cents == f.total_cents


def test_grab_until_sold_out_each_user_once(redis_client):
    store = _rain(redis_client)
    wins = [store.grab("r1", f"u{i}", START + i, f"g{i}") for i in range(50)]
    assert all(g.status == "won" and g.amount_cents >= 1 for g in wins)
    assert sum(g.amount_cents for g in wins) == 100_000
    assert store.grab("r1", "late", START + 60, "g-late").status == "sold_out"
    again = store.grab("r1", "u7", START + 61, "g-again")
    assert again == ("already_grabbed", wins[7].amount_cents)
    f = store.figures("r1")
    assert (f.won_packets, f.won_cents, f.remaining_packets, f.remaining_cents) == (50, 100_000, 0, 0) and _reconciles(f)
    assert store.audit("r1") == []


def test_window_and_exactly_one_refund(redis_client):
    store = _rain(redis_client)
    assert store.grab("r1", "early", START - 1, "g0").status == "not_active"
    won = store.grab("r1", "a", START, "g1")
    assert store.end("r1", END - 1) == -1  # still running
    assert store.grab("r1", "b", END, "g2").status == "not_active"  # the window is half-open
    refunded = store.end("r1", END)
    assert refunded == 100_000 - won.amount_cents and store.end("r1", END + 5) == 0
    f = store.figures("r1")
    assert f.state == "ended" and f.refunded_cents == refunded and f.remaining_cents == 0 and _reconciles(f)
    assert store.grab("r1", "c", START + 10, "g3").status == "not_active"  # ended for good
    assert store.audit("r1") == []


def test_ending_early_refunds_the_rest_once(redis_client):
    store = _rain(redis_client)
    store.grab("r1", "a", START, "g1")
    assert store.end("r1", START + 10, early=True) > 0
    assert store.grab("r1", "b", START + 20, "g2").status == "not_active"
    assert store.audit("r1") == []


def test_concurrent_grabbers_never_overdraw(redis_client):
    store = _rain(redis_client, total=20_000, packets=200)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: store.grab("r1", f"u{i % 300}", START + i, f"g{i}"), range(1200)))
    won = [g for g in results if g.status == "won"]
    assert len(won) == 200 and sum(g.amount_cents for g in won) == 20_000
    assert {g.status for g in results} <= {"won", "already_grabbed", "sold_out"}
    assert store.audit("r1") == []


def test_audit_finds_a_tampered_winner(redis_client):
    store = _rain(redis_client)
    store.grab("r1", "a", START, "g1")
    redis_client.hset("rain:{r1}:winners", "a", 999_999)
    assert any("winners" in p for p in store.audit("r1"))


def test_unknown_rain_and_duplicate_creation(redis_client):
    store = _rain(redis_client)
    with pytest.raises(NotFoundError):
        store.grab("nope", "u", START, "g")
    from district_engine import ConflictError

    with pytest.raises(ConflictError):
        store.create("r1", np.array([1, 2, 3]), START, END)


def test_a_per_user_limit_lets_a_user_win_that_many_packets_and_the_audit_checks_it(redis_client):
    store = RainStore(redis_client)
    store.create("r3", split_packets(10_000, 10, 1, rng=np.random.default_rng(3)), START, END, per_user_limit=3)
    wins = [store.grab("r3", "keen", START + i, f"g{i}") for i in range(3)]
    assert [g.status for g in wins] == ["won"] * 3
    again = store.grab("r3", "keen", START + 5, "g5")
    assert again == ("already_grabbed", sum(g.amount_cents for g in wins))
    other = store.grab("r3", "other", START + 6, "g6")
    assert other.status == "won"
    f = store.figures("r3")
    assert (f.won_packets, f.won_cents) == (4, again.amount_cents + other.amount_cents) and _reconciles(f)
    assert store.audit("r3") == []
    redis_client.hincrby("rain:{r3}:grabs", "keen", 1)  # tampering: a fourth packet nobody paid out
    assert any("grabs" in p or "limit" in p for p in store.audit("r3"))
