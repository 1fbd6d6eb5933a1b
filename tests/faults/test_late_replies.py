"""A reply that arrives after the client's timeout, for a command the server did run. The engine's
client then raises (it never sends a command twice, store/connection.py) and the caller, an HTTP
client after a 503, sends the same request again; a client configured to retry would send the
command again itself. Either way nothing may happen twice: creating a rain must not push its
packets twice (redis-py's retry did: a 10,000-cent pool became 200 packets worth 20,000 cents,
all paid out), and draining it pays exactly its total."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from redis.backoff import NoBackoff
from redis.retry import Retry

from district_engine.errors import StoreUnavailableError
from district_engine.redenvelope.split import split_packets
from district_engine.store import EmbeddedRedis, connect
from district_engine.store.rains import RainStore

sys.path.insert(0, str(Path(__file__).parent))
from proxy import Proxy  # noqa: E402

START, END = 1_000, 10**13


@pytest.fixture(params=["caller-retries", "client-resends"])
def through_proxy(tmp_path, request):
    """(a client through a proxy that can hold replies back, a direct client, the proxy). The
    client is the engine's own (a late reply raises TimeoutError: ``again`` is then the caller
    sending the same request again), or one that redis-py makes send the command again."""
    server = EmbeddedRedis(tmp_path, persistent=False).start()
    direct = connect(server.url)
    proxy = Proxy(("127.0.0.1", server.port))
    resend = {"retry": Retry(NoBackoff(), 2)} if request.param == "client-resends" else {}
    client = connect(proxy.url, timeout_s=0.5, **resend)
    try:
        yield client, direct, proxy
    finally:
        client.close()
        direct.close()
        proxy.close()
        server.stop()


def again(call):
    """``call()``, made again with the same arguments if a late reply timed it out: what an HTTP
    client does after a 503."""
    try:
        return call()
    except StoreUnavailableError:
        return call()


# The steps of a creation: HMGET (is it new?), DEL (leftovers), the packets in chunks (one
# EVALSHA here: 100 packets), then the opening (the second EVALSHA): each answered late in turn.
@pytest.mark.parametrize("pattern, skip", [(b"HMGET", 0), (b"EVALSHA", 0), (b"EVALSHA", 1)],
                         ids=["first-step", "packets", "opening"])
def test_a_late_reply_while_creating_a_rain_creates_no_money(through_proxy, pattern, skip):
    client, direct, proxy = through_proxy
    store = RainStore(client)
    store.create("warm", [1, 2, 3], START, END)  # the scripts are loaded: the next EVALSHAs run
    amounts = split_packets(10_000, 100, 1, rng=np.random.default_rng(3))
    proxy.hold_reply(pattern, 1.0, skip)  # past the client's 0.5 s timeout
    again(lambda: store.create("rain", amounts, START, END))
    assert proxy.held == 1  # the fault happened: one reply came late, and the command was sent again
    check = RainStore(direct)
    f = check.figures("rain")
    assert (f.total_cents, f.packets, f.remaining_packets, f.remaining_cents) == (10_000, 100, 100, 10_000)
    assert check.audit("rain") == []
    won = [check.grab("rain", f"u{i}", START + 1, f"g{i}") for i in range(120)]
    assert sum(g.amount_cents for g in won if g.status == "won") == 10_000  # exactly the pool
    assert [g.status for g in won].count("won") == 100 and check.audit("rain") == []


def test_the_audit_catches_a_pool_pushed_twice(through_proxy):
    """What the old creation left after a late reply: every packet twice. The sums can balance
    (won + remaining + refunded == total) while the list holds twice the packets; the audit says so."""
    _, direct, _ = through_proxy
    store = RainStore(direct)
    store.create("doubled", [100] * 100, START, END)
    direct.rpush("rain:{doubled}:packets", *([100] * 100))  # the resent push
    problems = store.audit("doubled")
    assert any("packets left == packets - won_packets" in p for p in problems)
    assert any("packets left == remaining_cents" in p for p in problems)


def test_a_grab_sent_again_answers_the_same_and_wins_nothing_more(through_proxy):
    """With several packets a user (per_user_limit 3), a resent grab used to win another packet."""
    client, direct, proxy = through_proxy
    store = RainStore(client)
    store.create("multi", [100] * 10, START, END, per_user_limit=3)
    store.grab("multi", "warm-up", START + 1, "g0")  # the script is loaded: the next EVALSHA runs
    proxy.hold_reply(b"EVALSHA", 1.0)  # the grab runs; its answer comes after the 0.5 s timeout
    first = again(lambda: store.grab("multi", "keen", START + 2, "g1"))
    assert proxy.held == 1 and first.status == "won"
    assert store.grab("multi", "keen", START + 3, "g1") == first  # the same grab id, later: the same answer
    check = RainStore(direct)
    f = check.figures("multi")
    assert (f.won_packets, f.won_cents) == (2, 200)  # warm-up's and keen's one packet, not two
    assert int(direct.hget("rain:{multi}:grabs", "keen")) == 1
    assert check.audit("multi") == []
    assert store.grab("multi", "keen", START + 4, "g2").status == "won"  # a new grab may win the next one


def test_a_validation_sent_again_gives_its_free_minutes_once(through_proxy):
    """A merchant's two free hours, answered late and sent again (by the till with its validation id,
    or by redis-py): two hours, not four."""
    from datetime import datetime, timedelta, timezone

    from district_engine.parking.service import GateEvent, Parking
    from district_engine.store.parking import ParkingStore

    client, direct, proxy = through_proxy
    parking = Parking(ParkingStore(client), clock=lambda: datetime.now(timezone.utc))
    lot, _ = parking.create_lot("op", "sanlitun-taikoo-li", "South", 10, 39.9325, 116.4474,
                                {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000})
    entered = GateEvent("vehicle.entry", "京A12345", 0.99, datetime.now(timezone.utc) - timedelta(hours=1), "in")
    session = json.loads(parking.try_decide(parking.lot(lot.id), "msg-1", entered))["session_id"]
    parking.add_validation(session, "op", "Warm-up", 1)  # the script is loaded: the next EVALSHA runs
    proxy.hold_reply(b"EVALSHA", 1.0)
    assert again(lambda: parking.add_validation(session, "op", "Apple Sanlitun", 120, validation_id="till-7")) == 121
    assert proxy.held == 1
    stored = ParkingStore(direct).session(lot.id, session)
    assert int(stored["validation_minutes"]) == 121 and len(json.loads(stored["validations"])) == 2
