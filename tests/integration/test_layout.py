"""The partition count is fixed per deployment and kept in Redis; an engine laid out in more
partitions than the default uses every one of them (deliveries, outbox, positions, counts, the bulk
location queue), one script call per partition on a Cluster."""

import asyncio
import json
import logging
import time

import pytest

from district_engine.delivery.hub import Hub, running_hub
from district_engine.engine import Engine
from district_engine.errors import InvalidInputError
from district_engine.store import keys
from district_engine.store.connection import is_cluster
from district_engine.store.deliveries import Delivery, Offering, Outcome, Position
from district_engine.store.layout import DEFAULT_PARTITIONS, partition_count
from district_engine.store.locations import LocationQueue
from district_engine.store.streams import StreamGroup, shares
from helpers import RoundTrips, command_calls, primary_count


def test_a_deployment_keeps_the_partition_count_it_first_started_with(redis_client, caplog):
    assert partition_count(redis_client) == DEFAULT_PARTITIONS  # nothing asked: the default, recorded
    with caplog.at_level(logging.WARNING, logger="district_engine.store.layout"):
        assert partition_count(redis_client, 48) == DEFAULT_PARTITIONS  # too late: the data is laid out
    assert "48 partitions asked for" in caplog.text
    redis_client.flushall()  # a new deployment
    assert partition_count(redis_client, 48) == 48
    assert partition_count(redis_client) == 48 and Engine(redis_client).partitions == 48
    for bad in (0, 1025, "16", 2.5):
        with pytest.raises(InvalidInputError, match="partitions"):
            partition_count(redis_client, bad)


def test_an_engine_in_48_partitions_delivers_finds_and_counts_in_every_one(redis_client):
    n = 48
    engine = Engine(redis_client, partitions=n, max_pushes_per_hour=100)
    users = [f"spread-{i}" for i in range(500)]
    assert {keys.partition(u, n) for u in users} == set(range(n))
    now = int(time.time() * 1000)
    cell = 0x872830828ffffff
    offering = Offering("c1", "op1", 1, now + 3_600_000, '{"id":\x1f,"t":\x1f,"u":\x1f,"d":\x1f}')
    engine.stores.deliveries.deliver([], now, [Position(users[0], 39.93, 116.45, cell)])  # the script is loaded
    scripts = command_calls(redis_client, "evalsha")
    codes = engine.stores.deliveries.deliver([Delivery(u, offering, 10.0) for u in users], now,
                                      [Position(u, 39.93, 116.45, cell) for u in users])
    assert codes == [Outcome.PUSHED] * len(users)
    assert command_calls(redis_client, "evalsha") - scripts == (n if is_cluster(redis_client) else 1)
    events = engine.stores.outbox.read("a-sender", count=1000, block_ms=100)
    assert sorted(e.user_id for e in events) == sorted(users)
    assert all(e.partition == keys.partition(e.user_id, n) for e in events)
    found = engine.stores.deliveries.positions_in_cells([cell], now)
    assert sorted(found.users) == sorted(users)
    assert found.partitions.tolist() == [keys.partition(u, n) for u in found.users]
    assert engine.stores.deliveries.counts("c1") == (500, 500, 500, 0)
    assert engine.channel.enqueue_locations([(u, 39.93, 116.45, "wgs84") for u in users]) == 500
    rows = engine.stores.locations.read("a-matcher", count=1000, block_ms=100)
    assert sorted(r.user_id for r in rows) == sorted(users) and {r.partition for r in rows} == set(range(n))


def test_the_sse_hub_reads_only_the_partitions_its_listeners_are_in(redis_client):
    n = 48
    engine = Engine(redis_client, partitions=n, max_pushes_per_hour=100)
    alice = "alice"
    bob = next(u for u in (f"bob-{i}" for i in range(100)) if keys.partition(u, n) != keys.partition(alice, n))
    hub, read = Hub(engine.stores.outbox), []
    follow = engine.stores.outbox.follow

    def spied(cursors, count, block_ms):
        read.append(set(cursors))
        return follow(cursors, count, block_ms)

    engine.stores.outbox.follow = spied
    offering = Offering("c1", "op1", 1, int(time.time() * 1000) + 3_600_000, '{"id":\x1f,"t":\x1f,"u":\x1f,"d":\x1f}')

    async def listen():
        with running_hub(hub):
            assert hub.following() == set()
            stream = await asyncio.to_thread(hub.subscribe, alice)
            assert hub.following() == {keys.partition(alice, n)}
            engine.stores.deliveries.deliver([Delivery(u, offering, 5.0) for u in (bob, alice)], int(time.time() * 1000))
            _, payload = await asyncio.wait_for(stream.get(), 10)
            hub.unsubscribe(alice, stream)
            assert hub.following() == set()
            return json.loads(payload)

    assert asyncio.run(listen())["u"] == alice
    assert read and all(partitions == {keys.partition(alice, n)} for partitions in read)


def test_the_partitions_are_split_among_a_groups_live_consumers():
    shared = shares(["a", "b", "c"], 48)
    assert sorted(p for ps in shared.values() for p in ps) == list(range(48))
    assert all(8 <= len(ps) <= 24 for ps in shared.values())  # roughly a third each
    without_c = shares(["a", "b"], 48)
    for m in ("a", "b"):  # a departure moves only the departed member's partitions
        assert set(shared[m]) <= set(without_c[m])
    assert shares([], 48) == {} and shares(["solo"], 48) == {"solo": list(range(48))}


def test_consumers_of_a_group_read_their_own_shares_and_take_over_a_silent_ones(redis_client):
    n = 48
    queue = LocationQueue(redis_client, n)
    a, b = (StreamGroup(redis_client, keys.location_stream, "matchers", n, heartbeat_s=0, member_ttl_ms=300)
            for _ in range(2))
    a.share("a"), b.share("b")  # both have joined
    mine_a, mine_b = set(a.share("a")), set(b.share("b"))
    assert mine_a and mine_b and not mine_a & mine_b and mine_a | mine_b == set(a.keys)
    users = [f"user-{i}" for i in range(300)]
    queue.add([(u, 39.9, 116.4) for u in users])
    got_a, got_b = a.read("a", 1000, 10), b.read("b", 1000, 10)
    assert {a.keys[e.partition] for e in got_a} <= mine_a and {b.keys[e.partition] for e in got_b} <= mine_b
    assert sorted(e.fields[b"u"].decode() for e in got_a + got_b) == sorted(users)  # each once
    time.sleep(0.4)  # b is silent past the TTL: a takes every partition
    assert set(a.share("a")) == set(a.keys)
    b.share("b")  # b is back, then leaves for good: a has everything at once
    b.leave("b")
    assert set(a.share("a")) == set(a.keys)


def test_a_consumer_reclaims_what_a_dead_one_held_in_every_partition_in_one_round_trip_per_node(
        redis_client, monkeypatch):
    n = 48
    queue = LocationQueue(redis_client, n)
    group = StreamGroup(redis_client, keys.location_stream, "matchers", n)
    users = [f"user-{i}" for i in range(300)]
    queue.add([(u, 39.9, 116.4) for u in users])
    held = group.read("dead", 1000, 10)  # read, never acknowledged: its process died
    assert len({e.partition for e in held}) == n and group.pending() == 300
    trips = RoundTrips(monkeypatch)
    got = group.reclaim("alive", min_idle_ms=0)
    nodes = primary_count(redis_client)
    assert sorted(e.fields[b"u"].decode() for e in got) == sorted(users)
    assert [(e.partition, e.stream_id) for e in sorted(got)] == [(e.partition, e.stream_id) for e in sorted(held)]
    assert trips.count <= nodes < n  # not one per partition
    assert group.reclaim("alive", min_idle_ms=60_000) == []  # idle for less: nobody's to take
    group.ack(got)
    assert group.pending() == 0
