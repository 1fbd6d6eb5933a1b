"""Deliveries against a real Redis: entry semantics, the per-user cap, the push frequency cap, the
outbox and the user's events written atomically, positions by cell, the lease-based schedule."""

import json
import time

from district_engine.store import keys
from district_engine.store.deliveries import Delivery, DeliveryStore, Outcome
from district_engine.store.schedule import TimedSet

GAP = 60_000
HOUR = 3_600_000


def _store(redis_client, cap=5, **kw):
    return DeliveryStore(redis_client, reentry_gap_ms=GAP, pushes_per_window=cap, **kw)


def _item(user, campaign="c1", max_per_user=2, found_ms=None, event=None):
    event = event or f"evt_{user}_{campaign}"
    keep_until_ms = int(time.time() * 1000) + 10 * HOUR  # an expiry: real time, whatever the test's clock
    return Delivery(user, campaign, "op1", max_per_user, keep_until_ms, event, json.dumps({"id": event, "u": user}),
                    found_ms)


def _outbox(redis_client):
    return [e for p in range(keys.PARTITIONS) for _, e in redis_client.xrange(keys.outbox(p))]


def test_offers_go_on_entry_only_and_up_to_the_per_user_max(redis_client):
    store = _store(redis_client)
    pings = [0, 10_000, 20_000, 200_000, 210_000, 400_000]  # ms; a 180 s absence before the 4th and 6th
    got = [store.deliver([_item("u")], t)[0] for t in pings]
    assert got == [Outcome.PUSHED, 0, 0, Outcome.PUSHED, 0, 0]  # entry, inside, inside, re-entry, inside, max
    assert store.deliver([_item("v")], 0) == [Outcome.PUSHED]
    assert store.counts("c1") == (3, 2, 3, 0)


def test_every_push_is_in_the_outbox_and_the_users_events_and_nothing_else_is(redis_client):
    store = _store(redis_client)
    users = [f"user-{i}" for i in range(50)]  # spread over the partitions
    codes = store.deliver([_item(u, c) for u in users for c in ("c1", "c2")], 1000)
    assert codes == [Outcome.PUSHED] * 100
    assert store.deliver([_item(u, "c1") for u in users], 2000) == [0] * 50  # still inside: nothing new
    out = _outbox(redis_client)
    assert sorted(e[b"id"].decode() for e in out) == sorted(f"evt_{u}_{c}" for u in users for c in ("c1", "c2"))
    assert all(keys.outbox(keys.partition(e[b"user"].decode())) for e in out)
    for u in users[:5]:
        got = [json.loads(p)["id"] for _, p in store.events_after(u, None)]
        assert got == [f"evt_{u}_c1", f"evt_{u}_c2"]
        first_id = store.events_after(u, None)[0][0]
        assert [json.loads(p)["id"] for _, p in store.events_after(u, first_id)] == [f"evt_{u}_c2"]


def test_the_hourly_push_cap_holds_across_campaigns_and_what_is_capped_is_still_delivered(redis_client):
    store = _store(redis_client, cap=3)
    codes = store.deliver([_item("u", f"c{i}") for i in range(5)], 0)
    assert codes == [Outcome.PUSHED] * 3 + [Outcome.CAPPED] * 2
    assert len(store.events_after("u", None)) == 3 and len(_outbox(redis_client)) == 3
    assert store.counts("c4") == (1, 1, 0, 1)
    assert store.deliver([_item("u", "c4")], 1000) == [0]  # capped counts as given: not again
    # An hour after the first pushes the window has room again.
    assert store.deliver([_item("u", "c9")], HOUR + 1) == [Outcome.PUSHED]


def test_a_broadcast_delivers_once_ever_and_only_to_a_user_still_where_it_found_them(redis_client):
    store = _store(redis_client)
    now = 5_000
    record = store.position_commands("stay", 39.93, 116.45, 0x872830828ffffff, now)
    record += store.position_commands("moved", 39.93, 116.45, 0x872830828ffffff, now)
    store.deliver([], now, commands=record)
    store.deliver([], now + 1, commands=store.position_commands("moved", 31.2, 121.4, 0x8730800aaffffff, now + 1))
    codes = store.deliver([_item("stay", found_ms=now), _item("moved", found_ms=now)], now + 2)
    assert codes == [Outcome.PUSHED, Outcome.MOVED]
    assert store.deliver([_item("stay", found_ms=now)], now + 10 * GAP) == [0]  # a second broadcast: never again
    # An entry-delivered user is not broadcast to either.
    store.deliver([], now, commands=store.position_commands("entered", 39.93, 116.45, 0x872830828ffffff, now))
    assert store.deliver([_item("entered")], now + 3) == [Outcome.PUSHED]
    assert store.deliver([_item("entered", found_ms=now)], now + 4) == [0]


def test_positions_by_cell_give_each_user_once_at_the_latest_and_drop_expired_ones(redis_client):
    store = _store(redis_client, position_ttl_ms=600_000)
    a, b = 0x872830828ffffff, 0x872830829ffffff
    t0 = int(time.time() * 1000)
    cmds = store.position_commands("u1", 39.93, 116.45, a, t0)
    cmds += store.position_commands("u1", 39.94, 116.46, b, t0 + 1000)  # moved to the next cell
    cmds += store.position_commands("u2", 39.95, 116.47, b, t0 + 2000)
    cmds += store.position_commands("old", 39.95, 116.47, a, t0 - 700_000)  # older than the TTL
    store.deliver([], t0, commands=cmds)
    users, lats, lngs, ms, partitions = store.positions_in_cells([a, b], t0 + 3000)
    got = {u: (la, ln, m) for u, la, ln, m in zip(users, lats, lngs, ms)}
    assert partitions.tolist() == [keys.partition(u) for u in users]
    assert got == {"u1": (39.94, 116.46, t0 + 1000), "u2": (39.95, 116.47, t0 + 2000)}
    assert store.positions_in_cells([a], t0 + 3000)[0] == ["u1"]  # an old entry, still the one in cell a
    assert redis_client.pttl(keys.user_keys("u1")[2]) > 0


def test_timed_work_is_claimed_under_a_lease_and_comes_back_if_unfinished(redis_client):
    work = TimedSet(redis_client, "test:timed")
    work.put("a", 100)
    work.put("b", 200)
    work.put("later", 10_000)
    got, receipt = work.claim(now_ms=500, lease_ms=1000)
    assert sorted(got) == ["a", "b"]
    assert work.claim(now_ms=600, lease_ms=1000)[0] == []  # leased: nobody else gets them
    assert work.finish("a", receipt, then=("a#2", 5000))  # done, with a follow-up in its place
    again, receipt2 = work.claim(now_ms=1600, lease_ms=1000)  # b's claimer died: b comes back
    assert again == ["b"]
    assert not work.finish("b", receipt)  # the first claimer's late finish is ignored
    assert work.finish("b", receipt2)
    assert sorted(work.claim(now_ms=20_000, lease_ms=1000)[0]) == ["a#2", "later"]


def test_deliveries_keep_working_after_the_server_forgets_its_scripts(redis_client):
    store = _store(redis_client)
    assert store.deliver([_item("u", "c1")], 0) == [Outcome.PUSHED]
    redis_client.script_flush()  # as after a restart or a failover: the pipeline reloads and runs it once
    assert store.deliver([_item("u", "c2"), _item("v", "c1")], 10) == [Outcome.PUSHED, Outcome.PUSHED]
    assert len(_outbox(redis_client)) == 3  # nothing ran twice
