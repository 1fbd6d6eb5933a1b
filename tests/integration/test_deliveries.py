"""Deliveries against a real Redis: entry semantics, the per-user cap, the push frequency cap, the
outbox and the user's events written atomically, positions by cell, the lease-based schedule."""

import json
import time

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from district_engine.campaigns.model import Campaign
from district_engine.delivery.events import offer_template, render, user_json
from district_engine.event_format import TEMPLATE_SEP
from district_engine.store import keys
from district_engine.store.connection import is_cluster
from district_engine.store.deliveries import Delivery, DeliveryStore, Offering, Outcome, Position
from district_engine.store.layout import DEFAULT_PARTITIONS
from district_engine.store.outbox import Outbox
from district_engine.store.schedule import TimedSet
from helpers import acceptable_text, command_calls as _calls

GAP = 60_000
N = DEFAULT_PARTITIONS  # a new deployment's count: the tests' Redis is flushed before each
HOUR = 3_600_000


def _store(redis_client, cap=5, **kw):
    return DeliveryStore(redis_client, user_json=user_json, reentry_gap_ms=GAP, pushes_per_window=cap, **kw)


def _offering(campaign="c1", max_per_user=2, owner="op1"):
    keep_until_ms = int(time.time() * 1000) + 10 * HOUR  # an expiry: real time, whatever the test's clock
    # A small template: the event {"id", "c", "t", "u", "d"} (id, campaign, timestamp, user, distance).
    return Offering(campaign, owner, max_per_user, keep_until_ms,
                    TEMPLATE_SEP.join(('{"id":', f',"c":{json.dumps(campaign)},"t":', ',"u":', ',"d":', "}")))


def _item(user, campaign="c1", max_per_user=2, found_ms=None, distance_m=10.0):
    return Delivery(user, _offering(campaign, max_per_user), distance_m, found_ms)


def _at(user, lat, lng, cell):
    return [Position(user, lat, lng, cell)]


def _outbox(redis_client):
    return [e for p in range(N) for _, e in redis_client.xrange(keys.outbox(p))]


def _pairs(entries):
    """(user, campaign) of outbox entries, from their payloads."""
    return sorted((json.loads(e[b"payload"])["u"], json.loads(e[b"payload"])["c"]) for e in entries)


def test_offers_go_on_entry_only_and_up_to_the_per_user_max(redis_client):
    store = _store(redis_client)
    pings = [0, 10_000, 20_000, 200_000, 210_000, 400_000]  # ms; a 180 s absence before the 4th and 6th
    got = [store.deliver([_item("u")], t)[0] for t in pings]
    assert got == [Outcome.PUSHED, 0, 0, Outcome.PUSHED, 0, 0]  # entry, inside, inside, re-entry, inside, max
    assert store.deliver([_item("v")], 0) == [Outcome.PUSHED]
    assert store.counts("c1") == (3, 2, 3, 0)


def test_an_update_sent_again_with_its_request_id_answers_the_same_and_pushes_nothing_again(redis_client):
    """A location update whose answer was lost (a timeout, a 503) is sent again with the same
    request id: the offers it delivered are answered delivered again, and not pushed, counted or
    capped a second time; another update of the user is decided afresh."""
    store = _store(redis_client, cap=1)
    first = [Delivery("u", _offering("c1"), 10.0, request_id="r1"), Delivery("u", _offering("c2"), 12.0, request_id="r1")]
    assert store.deliver(first, 0) == [Outcome.PUSHED, Outcome.CAPPED]  # c2 held back by the cap of 1
    counts = store.counts("c1"), store.counts("c2")
    pushed = len(_outbox(redis_client))
    for t in (1_000, 2_000):  # the same request, twice more
        assert store.deliver(first, t) == [Outcome.PUSHED, Outcome.PUSHED]  # delivered: in its answer again
    assert (store.counts("c1"), store.counts("c2")) == counts and len(_outbox(redis_client)) == pushed == 1
    other = [Delivery("u", _offering("c1"), 10.0, request_id="r2")]
    assert store.deliver(other, 3_000) == [0]  # another update, inside the reach: nothing new
    assert store.deliver(first, 4_000) == [Outcome.PUSHED, Outcome.PUSHED]  # r1 is still r1's answer
    assert store.deliver([Delivery("v", _offering("c1"), 10.0, request_id="r1")], 5_000) == [Outcome.PUSHED]  # per user


def test_each_delivery_records_when_the_user_was_given_the_campaign_and_nothing_else_does(redis_client):
    """The gift time orders are attributed by: set when an offer is delivered, pushed or held back
    by the cap; not by a ping that delivers nothing, nor by an update sent again, nor by a
    broadcast that finds the user moved."""
    store = _store(redis_client, cap=1)
    assert store.deliver([_item("u", "c1"), _item("u", "c2")], 1_000) == [Outcome.PUSHED, Outcome.CAPPED]
    assert store.gifts("u") == {"c1": 1_000, "c2": 1_000}
    assert store.deliver([_item("u", "c1")], 2_000) == [0]  # inside the reach: nothing new
    assert store.deliver([_item("u", "c1")], 2_000 + GAP - 1) == [0]  # seen at 2,000: no re-entry yet
    later = 2 * (2_000 + GAP)  # re-entered, and given again (held back: the cap of 1 an hour)
    assert store.deliver([_item("u", "c1")], later) == [Outcome.CAPPED]
    assert store.gifts("u") == {"c1": later, "c2": 1_000}
    again = Delivery("v", _offering("c3"), 10.0, request_id="r1")
    store.deliver([again], 5_000)
    store.deliver([again], 9_000)  # the same request: answered again, not given again
    assert store.gifts("v") == {"c3": 5_000}
    assert store.deliver([_item("w", "c1", found_ms=123)], 6_000) == [Outcome.MOVED]
    assert store.gifts("w") == {} and store.gifts("nobody") == {}


def test_every_push_is_in_the_outbox_and_the_users_events_and_nothing_else_is(redis_client):
    store = _store(redis_client)
    users = [f"user-{i}" for i in range(50)]  # spread over the partitions
    codes = store.deliver([_item(u, c) for u in users for c in ("c1", "c2")], 1000)
    assert codes == [Outcome.PUSHED] * 100
    assert store.deliver([_item(u, "c1") for u in users], 2000) == [0] * 50  # still inside: nothing new
    out = {p: redis_client.xrange(keys.outbox(p)) for p in range(N)}
    assert _pairs(e for rows in out.values() for _, e in rows) == sorted((u, c) for u in users for c in ("c1", "c2"))
    assert all(keys.partition(e[b"user"].decode(), N) == p for p, rows in out.items() for _, e in rows)
    ids = [e[b"id"].decode() for rows in out.values() for _, e in rows]
    assert len(set(ids)) == 100 and all(i.startswith(store.event_ids.prefix) for i in ids)
    for u in users[:5]:
        got = [json.loads(p) for _, p in store.events_after(u, None)]
        assert [(e["u"], e["c"]) for e in got] == [(u, "c1"), (u, "c2")]
        first_id = store.events_after(u, None)[0][0]
        assert [json.loads(p)["id"] for _, p in store.events_after(u, first_id)] == [got[1]["id"]]


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
    store.deliver([], now, _at("stay", 39.93, 116.45, 0x872830828ffffff) + _at("moved", 39.93, 116.45, 0x872830828ffffff))
    store.deliver([], now + 1, _at("moved", 31.2, 121.4, 0x8730800aaffffff))
    codes = store.deliver([_item("stay", found_ms=now), _item("moved", found_ms=now)], now + 2)
    assert codes == [Outcome.PUSHED, Outcome.MOVED]
    assert store.deliver([_item("stay", found_ms=now)], now + 10 * GAP) == [0]  # a second broadcast: never again
    # An entry-delivered user is not broadcast to either.
    store.deliver([], now, _at("entered", 39.93, 116.45, 0x872830828ffffff))
    assert store.deliver([_item("entered")], now + 3) == [Outcome.PUSHED]
    assert store.deliver([_item("entered", found_ms=now)], now + 4) == [0]


def test_positions_by_cell_give_each_user_once_at_the_latest_and_drop_expired_ones(redis_client):
    store = _store(redis_client, position_ttl_ms=600_000)
    a, b = 0x872830828ffffff, 0x872830829ffffff
    t0 = int(time.time() * 1000)
    store.deliver([], t0 - 700_000, _at("old", 39.95, 116.47, a))  # older than the TTL
    store.deliver([], t0, _at("u1", 39.93, 116.45, a))
    store.deliver([], t0 + 1000, _at("u1", 39.94, 116.46, b))  # moved to the next cell
    store.deliver([], t0 + 2000, _at("u2", 39.95, 116.47, b))
    users, lats, lngs, ms, partitions = store.positions_in_cells([a, b], t0 + 3000)
    got = {u: (la, ln, m) for u, la, ln, m in zip(users, lats, lngs, ms)}
    assert partitions.tolist() == [keys.partition(u, N) for u in users]
    assert got == {"u1": (39.94, 116.46, t0 + 1000), "u2": (39.95, 116.47, t0 + 2000)}
    assert store.positions_in_cells([a], t0 + 3000)[0] == ["u1"]  # an old entry, still the one in cell a
    assert redis_client.pttl(keys.user_keys("u1", N)[2]) > 0


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


def test_timed_work_of_every_partition_is_claimed_at_once_each_set_under_its_lease(redis_client):
    sets = [TimedSet(redis_client, keys.retries(p)) for p in range(N)]  # one slot each
    for p, work in enumerate(sets):
        work.put(f"due-{p}", 100 + p)
        if p % 2:
            work.put(f"later-{p}", 10_000)
    claimed = TimedSet.claim_each(sets, now_ms=500, lease_ms=1000)
    assert [(s.key, members, receipt) for s, members, receipt in claimed] == \
        [(keys.retries(p), [f"due-{p}"], 1500) for p in range(N)]
    assert TimedSet.claim_each(sets, now_ms=600, lease_ms=1000) == []  # leased, and the rest not due
    assert all(s.finish(m[0], receipt) for s, m, receipt in claimed[:3])
    back = TimedSet.claim_each(sets, now_ms=1600, lease_ms=1000)  # the unfinished ones come back
    assert sorted(m for _, members, _ in back for m in members) == sorted(f"due-{p}" for p in range(3, N))
    assert TimedSet.claim_each([], now_ms=0, lease_ms=1000) == []


def test_deliveries_keep_working_after_the_server_forgets_its_scripts(redis_client):
    store = _store(redis_client)
    assert store.deliver([_item("u", "c1")], 0) == [Outcome.PUSHED]
    redis_client.script_flush()  # as after a restart or a failover: the pipeline reloads and runs it once
    assert store.deliver([_item("u", "c2"), _item("v", "c1")], 10) == [Outcome.PUSHED, Outcome.PUSHED]
    assert len(_outbox(redis_client)) == 3  # nothing ran twice


T0 = datetime(2026, 11, 11, 12, tzinfo=timezone.utc)
_seq = iter(range(10**9))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # each example its own campaign
@given(user_id=st.text(min_size=1, max_size=40), title=acceptable_text().filter(str.strip),
       distance_m=st.floats(0, 3000))
def test_the_script_renders_each_event_as_the_python_renderer_does(redis_client, user_id, title, distance_m):
    store = _store(redis_client, cap=10**6)
    c = Campaign(id=f"cmp_{next(_seq)}", owner="op", district_id="d1", kind="campaign", title=title,
                 body="body \u2028 \"x\" \\", starts_at=T0, ends_at=T0 + timedelta(hours=2))
    template = offer_template(c, "三里屯 \"Taikoo\"", "entered")
    offering = Offering(c.id, c.owner, 1, int(time.time() * 1000) + HOUR, template)
    now_ms = 1_795_000_000_123
    assert store.deliver([Delivery(user_id, offering, distance_m)], now_ms) == [Outcome.PUSHED]
    _, payload = store.events_after(user_id, None)[-1]
    event = json.loads(payload)
    assert event["id"].startswith(store.event_ids.prefix)
    stamp = datetime.fromtimestamp(now_ms / 1000, timezone.utc).isoformat(timespec="milliseconds")
    assert payload == render(template, event["id"], user_id, distance_m, stamp)
    assert event["data"]["user_id"] == user_id and event["data"]["title"] == title
    assert event["timestamp"] == "2026-11-18T11:06:40.123+00:00"


def test_a_ping_in_reach_of_many_campaigns_is_decided_per_campaign_in_one_call(redis_client):
    store = _store(redis_client, cap=1000)
    campaigns = [f"c{i}" for i in range(40)]
    first = store.deliver([_item("u", c, max_per_user=2) for c in campaigns], 0)
    assert first == [Outcome.PUSHED] * 40
    assert store.deliver([_item("u", c, max_per_user=2) for c in campaigns], 1000) == [0] * 40  # a repeat ping
    # Out of reach of c0..c9 (not seen) past the gap, still in reach of the rest meanwhile.
    store.deliver([_item("u", c, max_per_user=2) for c in campaigns[10:]], GAP + 500)
    again = store.deliver([_item("u", c, max_per_user=2) for c in campaigns], GAP + 1000)
    assert again == [Outcome.PUSHED] * 10 + [0] * 30
    # Away from everything past the gap: back in reach, c10..c39 are offered a second time, c0..c9 not a third.
    back = store.deliver([_item("u", c, max_per_user=2) for c in campaigns], 3 * GAP)
    assert back == [0] * 10 + [Outcome.PUSHED] * 30
    assert store.counts("c0") == store.counts("c39") == (2, 1, 2, 0)
    assert len(store.events_after("u", None)) == 80


def test_two_items_of_one_campaign_for_one_user_in_one_call_are_decided_in_order(redis_client):
    store = _store(redis_client)
    assert store.deliver([_item("u", "c1"), _item("u", "c1"), _item("v", "c1")], 0) == [Outcome.PUSHED, 0,
                                                                                         Outcome.PUSHED]
    assert store.counts("c1") == (2, 2, 2, 0)


def test_a_call_records_positions_with_the_deliveries_and_users_with_no_offer(redis_client):
    store = _store(redis_client)
    t0 = int(time.time() * 1000)
    cell = 0x872830828ffffff
    codes = store.deliver([_item("u1", "c1")], t0, _at("u1", 39.93, 116.45, cell) + _at("u2", 39.94, 116.46, cell))
    assert codes == [Outcome.PUSHED]
    users, lats, _, ms, _ = store.positions_in_cells([cell], t0)
    assert sorted(zip(users, lats.tolist(), ms.tolist())) == [("u1", 39.93, t0), ("u2", 39.94, t0)]
    assert redis_client.get(keys.user_keys("u2", N)[2]) == f"39.9400000,116.4600000,{t0}".encode()


def test_a_users_state_lives_as_long_as_its_longest_campaign_and_cells_keep_their_expiry(redis_client):
    store = _store(redis_client)
    now = int(time.time() * 1000)
    short, long_ = (_offering("short")._replace(keep_until_ms=now + HOUR),
                    _offering("long")._replace(keep_until_ms=now + 5 * HOUR))
    offers = keys.user_keys("u", N)[0]
    store.deliver([Delivery("u", short, 1.0)], now)
    assert HOUR - 60_000 < redis_client.pttl(offers) <= HOUR
    store.deliver([Delivery("u", long_, 1.0)], now + 1)  # grows
    assert 5 * HOUR - 60_000 < redis_client.pttl(offers) <= 5 * HOUR
    store.deliver([Delivery("u", short, 1.0)], now + 2)  # a shorter one does not shorten it
    assert redis_client.pttl(offers) > 4 * HOUR
    cell = 0x872830828ffffff
    store.deliver([], now, _at("u", 39.93, 116.45, cell))
    store.deliver([], now + 1000, _at("u", 39.93, 116.45, cell))  # again in the same cell and bucket
    cell_key = keys.position_cell(keys.partition("u", N), cell, now // store.position_ttl_ms)
    assert redis_client.pttl(cell_key) > store.position_ttl_ms  # its bucket and one more


def test_a_batch_over_many_partitions_puts_each_push_in_its_users_partition(redis_client):
    """One batch of users of every partition: one script call on a single server, one per
    partition on a Cluster (a script there takes one slot); either way each push goes to its
    user's partition's outbox and is counted in that partition's stats."""
    store = _store(redis_client)
    users = [f"spread-{i}" for i in range(80)]
    assert {keys.partition(u, N) for u in users} == set(range(N))

    store.deliver([], 0, [Position(u, 39.9, 116.4, 0x872a1072bffffff) for u in users])  # the script is loaded
    scripts, hsets = _calls(redis_client, "evalsha"), _calls(redis_client, "hset")
    codes = store.deliver([_item(u, c) for u in users for c in ("c1", "c2")], 0,
                          [Position(u, 39.9, 116.4, 0x872a1072bffffff) for u in users])
    assert codes == [Outcome.PUSHED] * 160
    assert _calls(redis_client, "evalsha") - scripts == (N if is_cluster(redis_client) else 1)
    # Per user one HSET of its state and one of its cell; per partition one of its counts.
    assert _calls(redis_client, "hset") - hsets == 2 * 80 + N
    for p in range(N):
        mine = sorted(u for u in users if keys.partition(u, N) == p)
        pushed = sorted(e[b"user"].decode() for _, e in redis_client.xrange(keys.outbox(p)))
        assert pushed == sorted(mine * 2)
        assert redis_client.hget(keys.push_stats(p), "c1:p") == str(len(mine)).encode()
    assert store.counts("c2") == (80, 80, 80, 0)


def test_pipelined_scripts_and_stream_reads_go_out_without_asking_the_server_for_their_keys(redis_client):
    """redis-py's cluster pipeline would send COMMAND GETKEYS, one round trip each, for every
    EVALSHA, XREAD and XREADGROUP it routes: each is sent to its slot's node by name instead."""
    store, outbox = _store(redis_client), Outbox(redis_client)
    users = [f"spread-{i}" for i in range(80)]
    outbox.ensure_group()
    store.deliver([], 0, [Position(u, 39.9, 116.4, 0x872a1072bffffff) for u in users])  # the script is loaded
    cursors = outbox.latest_ids()
    before = _calls(redis_client, "command")
    assert store.deliver([_item(u) for u in users], 0) == [Outcome.PUSHED] * 80
    assert len(outbox.read("c", 100, 0)) == 80
    assert len(outbox.follow(cursors, 100, 0)[0]) == 80
    assert _calls(redis_client, "command") == before
