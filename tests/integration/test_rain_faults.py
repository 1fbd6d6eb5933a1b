"""Red-envelope rains under faults, on a real Redis: a crowd grabbing at once, redis-server killed
with SIGKILL mid-rain and restarted from its AOF, and scripts flushed from the server."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from district_engine.errors import StoreUnavailableError
from district_engine.redenvelope import split_packets
from district_engine.store import EmbeddedRedis, connect
from district_engine.store.rains import RainStore

START, END = 1_000_000, 2_000_000  # ms


def test_5000_concurrent_grabs_from_2000_users_make_exactly_500_winners(redis_client):
    store = RainStore(redis_client)
    store.create("crowd", split_packets(250_000, 500, 1, rng=np.random.default_rng(5)), START, END)
    users = [f"u{i % 2000}" for i in range(5000)]  # each user 2 or 3 times, often at the same moment
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda i: (users[i], store.grab("crowd", users[i], START + i, f"g{i}")), range(5000)))
    won = {}
    for user, g in results:
        if g.status == "won":
            assert user not in won  # no user twice
            won[user] = g.amount_cents
    assert len(won) == 500 and sum(won.values()) == 250_000
    for user, g in results:
        if g.status == "already_grabbed":
            assert g.amount_cents == won[user]  # the amount first won, every time
        else:
            assert g.status in ("won", "sold_out")
    assert store.audit("crowd") == []


@pytest.mark.parametrize("appendfsync", ["always", "everysec"])
def test_redis_killed_mid_rain_loses_no_win_it_announced(tmp_path, appendfsync):
    """SIGKILL of redis-server (the process, not the machine). With `always` every grab answered
    `won` is in the AOF after a restart: Redis writes and fsyncs before it replies. With `everysec`
    Redis may hold its AOF writes back for up to 2 s while a slow background fsync runs, and still
    reply (a busy disk on CI did it: 5 announced wins lost), so only consistency is guaranteed:
    the restarted server's figures and ledger agree (docs/api.md)."""
    server = EmbeddedRedis(tmp_path, appendfsync=appendfsync).start()
    store = RainStore(connect(server.url))
    store.create("r", split_packets(1_000_000, 20_000, 1, rng=np.random.default_rng(7)), START, END)
    announced, lock, stop = {}, threading.Lock(), threading.Event()

    def grabber(k):
        mine = RainStore(connect(server.url))
        i = 0
        while not stop.is_set():
            user = f"w{k}-{i}"
            try:
                g = mine.grab("r", user, START + 1, f"g{k}-{i}")
            except (StoreUnavailableError, OSError):
                return
            if g.status == "won":
                with lock:
                    announced[user] = g.amount_cents
            i += 1

    threads = [threading.Thread(target=grabber, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(announced) < 2000 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.process.kill()  # SIGKILL, mid-rain: grabs are in flight
    server.process.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(announced) >= 2000

    restarted = EmbeddedRedis(tmp_path, appendfsync=appendfsync).start()  # replays the AOF
    try:
        client = connect(restarted.url)
        after = RainStore(client)
        assert after.audit("r") == []
        winners = {u.decode(): int(a) for u, a in client.hgetall("rain:{r}:winners").items()}
        missing = {u: a for u, a in announced.items() if winners.get(u) != a}
        if appendfsync == "always":
            assert missing == {}, f"{len(missing)} announced wins are not in the restarted server"
        f = after.figures("r")
        assert f.won_cents + f.remaining_cents + f.refunded_cents == f.total_cents == 1_000_000
    finally:
        restarted.stop()


def test_grabs_keep_working_after_the_server_forgets_its_scripts(redis_client):
    store = RainStore(redis_client)
    store.create("s", split_packets(10_000, 10, 1, rng=np.random.default_rng(1)), START, END)
    assert store.grab("s", "a", START, "g1").status == "won"
    redis_client.script_flush()  # as after a restart or a failover
    assert store.grab("s", "b", START, "g2").status == "won"
    assert store.audit("s") == []
