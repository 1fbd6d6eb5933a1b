"""Webhook push against a real Redis and a real local receiver that verifies every signature:
fan-out by owner (an operator's campaigns, a channel's users), retries with the same webhook-id, 410 disables, dead letters after the retry
period, and events a killed worker held are delivered by another."""

import json
import time

import pytest

from district_engine.delivery import resolver
from district_engine.delivery.addresses import host_ip
from district_engine.delivery.urls import check_endpoint_url
from district_engine.engine import Engine
from district_engine.event_format import TEMPLATE_SEP
from district_engine.store.deliveries import Delivery, Offering
from district_engine.store.endpoints import EndpointStore
from district_engine.store import keys
from district_engine.store.outbox import Outbox, Retry
from district_engine.store.schedule import TimedSet
from district_engine.worker import Worker
from helpers import RoundTrips, command_calls, primary_count
from receiver import Receiver

FAST = {"retry_base_s": 0.05, "retry_cap_s": 0.2, "reclaim_idle_s": 0.5, "lease_s": 2, "breaker_cooldown_s": 0.2,
        "allow_private": True}  # the receivers are on loopback


def _push(engine, n, owner="op1", prefix="ch_a:u"):
    """n pushed events (one per user, of channel ch_a by default) through the real delivery script;
    their event ids."""
    keep = int(time.time() * 1000) + 3_600_000
    template = TEMPLATE_SEP.join(('{"id":', ',"type":"offer.delivered","timestamp":', ',"user_id":', ',"distance_m":', "}"))
    items = [Delivery(f"{prefix}{i}", Offering(f"c-{owner}", owner, 1, keep, template), 10.0) for i in range(n)]
    assert engine.stores.deliveries.deliver(items, int(time.time() * 1000)) == [1] * n
    return sorted(json.loads(engine.stores.deliveries.events_after(d.user_id, None)[-1][1])["id"] for d in items)


@pytest.fixture
def engine(redis_client):
    return Engine(redis_client, max_pushes_per_hour=100)


def test_each_event_reaches_its_users_channel_and_its_campaigns_operator_only_signed(engine, redis_client):
    endpoints = EndpointStore(redis_client)
    with Receiver() as channel_events, Receiver() as op1_events:
        channel_ep = endpoints.create(channel_events.url, owner="ch_a")
        op1_ep = endpoints.create(op1_events.url, owner="op1")
        channel_events.secrets, op1_events.secrets = [channel_ep.secret], [op1_ep.secret]
        mine, theirs = _push(engine, 20, "op1"), _push(engine, 15, "op2", prefix="ch_a:w")
        elsewhere = _push(engine, 10, "op2", prefix="ch_b:u")  # op2's campaign, another channel's users
        with Worker(engine, sender_options=FAST):
            got_channel = channel_events.wait_for(35)
            got_op1 = op1_events.wait_for(20)
            time.sleep(0.3)
        assert sorted(r["webhook_id"] for r in channel_events.delivered()) == sorted(mine + theirs)
        assert sorted(r["webhook_id"] for r in op1_events.delivered()) == mine  # nothing of op2's
        assert not set(elsewhere) & {r["webhook_id"] for r in channel_events.delivered() + op1_events.delivered()}
        assert all(r["webhook_id"] == r["payload"]["id"] for r in got_channel + got_op1)
        assert channel_events.bad_signatures == op1_events.bad_signatures == 0
    assert Outbox(redis_client).stream.pending() == 0


def test_a_failing_receiver_gets_the_same_webhook_id_again_until_it_accepts(engine, redis_client):
    with Receiver() as r:
        ep = EndpointStore(redis_client).create(r.url, owner="ch_a")
        r.secrets = [ep.secret]
        r.answers = [500, 503, 200]  # the first event fails twice (one attempt at a time: there is one event)
        (event_id,) = _push(engine, 1)
        with Worker(engine, sender_options=FAST):
            r.wait_for(1)
        assert [x["webhook_id"] for x in r.received] == [event_id] * 3
        assert [x["status"] for x in r.received] == [500, 503, 200]


def test_410_gone_disables_the_endpoint_and_stops_its_deliveries(engine, redis_client):
    endpoints = EndpointStore(redis_client)
    with Receiver() as r:
        ep = endpoints.create(r.url, owner="ch_a")
        r.secrets = [ep.secret]
        r.answers = [410]
        _push(engine, 1)
        with Worker(engine, sender_options=FAST):
            deadline = time.monotonic() + 10
            while endpoints.get(ep.id).state != "disabled" and time.monotonic() < deadline:
                time.sleep(0.02)
            _push(engine, 3, prefix="later")
            time.sleep(0.5)
        assert endpoints.get(ep.id).state == "disabled"
        assert len(r.received) == 1  # nothing after the 410


def test_what_fails_for_the_whole_retry_period_goes_to_the_dead_letters(engine, redis_client):
    with Receiver() as r:
        ep = EndpointStore(redis_client).create(r.url, owner="ch_a")
        r.secrets = [ep.secret]
        r.answers = [500] * 1000
        (event_id,) = _push(engine, 1)
        outbox = Outbox(redis_client)
        with Worker(engine, sender_options=FAST | {"max_age_s": 0.5}):
            deadline = time.monotonic() + 10
            while not outbox.dead_letters(ep.id)[0] and time.monotonic() < deadline:
                time.sleep(0.05)
        (dead,), _ = outbox.dead_letters(ep.id)
        assert dead["event_id"] == event_id and dead["endpoint_id"] == ep.id
        assert (dead["error"], dead["status"]) == ("http_5xx", "500")  # a class, not the receiver's words
        assert int(dead["attempt"]) == len(r.received) >= 2
        assert all(len(outbox.retries[p]) == 0 for p in range(len(outbox.retries)))


def test_events_a_killed_worker_had_read_are_delivered_by_another(engine, redis_client):
    with Receiver() as r:
        ep = EndpointStore(redis_client).create(r.url, owner="ch_a")
        r.secrets = [ep.secret]
        ids = _push(engine, 30)
        outbox = Outbox(redis_client)
        outbox.ensure_group()
        held = outbox.read("killed-worker", count=100, block_ms=100)  # read, then the process died
        assert len(held) == 30 and outbox.stream.pending() == 30
        with Worker(engine, sender_options=FAST):
            got = r.wait_for(30)
        assert sorted(x["webhook_id"] for x in got) == ids
        assert outbox.stream.pending() == 0


def test_the_outbox_keeps_only_what_a_sender_still_needs(engine, redis_client, monkeypatch):
    ids = _push(engine, 40)
    outbox = Outbox(redis_client)
    events = outbox.read("a-sender", count=100, block_ms=100)
    assert sorted(e.event_id for e in events) == ids
    held = events[:3]  # read, not yet acknowledged (in flight, or its sender died)
    outbox.ack(events[3:])
    now_ms = int(time.time() * 1000)
    assert outbox.trim(now_ms, keep_ms=60_000) == 0  # all younger than a minute: followers may still read them
    trips = RoundTrips(monkeypatch)
    dropped = outbox.trim(now_ms + 120_000, keep_ms=60_000)
    nodes = primary_count(redis_client)
    assert trips.count <= 2 * nodes < outbox.partitions  # where each partition stands, then the trims
    left = outbox.length()
    assert dropped + left == 40 and dropped > 0
    for e in held:  # what is pending survives, so another sender can still claim it
        assert redis_client.xrange(keys.outbox(e.partition), min=e.stream_id, max=e.stream_id)
    outbox.ack(held)
    outbox.trim(now_ms + 120_000, keep_ms=60_000)
    assert outbox.length() == 0


def test_acknowledging_a_batch_is_one_xack_per_partition_not_per_event(engine, redis_client):
    ids = _push(engine, 40)
    outbox = Outbox(redis_client)
    events = outbox.read("a-sender", count=100, block_ms=100)
    assert sorted(e.event_id for e in events) == ids and outbox.stream.pending() == 40
    before = command_calls(redis_client, "xack")
    outbox.ack(events)
    assert command_calls(redis_client, "xack") - before == len({e.partition for e in events}) < 40
    assert outbox.stream.pending() == 0


def test_senders_split_the_due_retries_and_the_trimming_by_their_shares_of_the_partitions(engine, redis_client):
    a, b = Outbox(redis_client), Outbox(redis_client)
    for outbox, consumer in ((a, "a"), (b, "b"), (a, "a")):  # both join; a sees b
        outbox.stream.heartbeat_s = 0
        outbox.stream.share(consumer)
    mine = {"a": {s.key for s in a.retries_of("a")}, "b": {s.key for s in b.retries_of("b")}}
    assert mine["a"] and mine["b"] and not mine["a"] & mine["b"]
    assert mine["a"] | mine["b"] == {s.key for s in a.retries}
    now_ms = int(time.time() * 1000)
    retries = [Retry(f"evt-{i}", "ep", 1, now_ms, "op1", f"user-{i}", "{}") for i in range(64)]
    a.schedule_retries([(r, now_ms) for r in retries])
    claimed = {c: {m for _, members, _ in TimedSet.claim_each(o.retries_of(c), now_ms, 60_000) for m in members}
               for o, c in ((a, "a"), (b, "b"))}
    assert not claimed["a"] & claimed["b"] and claimed["a"] | claimed["b"] == {r.member() for r in retries}
    assert all(keys.retries(keys.partition(Retry.parse(m).user_id, a.partitions)) in mine["a"] for m in claimed["a"])

    _push(engine, 40)
    events = a.read("a", count=100, block_ms=100) + b.read("b", count=100, block_ms=100)
    assert len(events) == 40
    a.ack(events)
    in_b = sum(1 for e in events if a.stream.keys[e.partition] in b.stream.share("b"))
    assert a.trim(now_ms + 120_000, keep_ms=60_000, consumer="a") == 40 - in_b  # its own partitions only
    assert a.length() == in_b
    assert b.trim(now_ms + 120_000, keep_ms=60_000, consumer="b") == in_b and a.length() == 0


# ---------------------------------------------------------------- addresses, isolation, bounds


def _dead(outbox, endpoint_id, n=1, timeout_s=15):
    deadline = time.monotonic() + timeout_s
    while len(outbox.dead_letters(endpoint_id)[0]) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return outbox.dead_letters(endpoint_id)[0]


def test_a_name_that_rebinds_to_loopback_after_registration_is_refused_at_connection(engine, redis_client,
                                                                                      monkeypatch):
    answers = {"hooks.rebind.test": ["93.184.215.14"]}  # public when registered
    monkeypatch.setattr(resolver, "lookup", lambda host, port: [host_ip(a) for a in answers[host]])
    endpoints, outbox = EndpointStore(redis_client), Outbox(redis_client)
    with Receiver() as r:
        url = f"http://hooks.rebind.test:{r.server.server_port}/hook"
        ep = endpoints.create(check_endpoint_url(url), owner="ch_a")
        r.secrets = [ep.secret]
        answers["hooks.rebind.test"] = ["127.0.0.1"]  # ... and the local receiver's address when sent
        _push(engine, 2)
        with Worker(engine, sender_options=FAST | {"allow_private": False, "max_age_s": 0.5}):
            dead = _dead(outbox, ep.id, 2)
        assert r.received == []  # nothing reached the receiver behind the name
        # The first to fail for the whole period disables the endpoint; the other may follow as such.
        assert dead[-1]["error"] == "blocked_address" and {d["error"] for d in dead} <= {"blocked_address",
                                                                                        "endpoint_disabled"}
        assert endpoints.get(ep.id).disabled_reason.endswith("last error: blocked_address")
        # The same name allowed (development): the sender connects to what the name resolved to,
        # and the request still names the host it was sent to.
        ep2 = endpoints.create(url, owner="ch_a")
        r.secrets = [ep2.secret]
        ids = _push(engine, 3, prefix="ch_a:later")
        with Worker(engine, sender_options=FAST):
            got = r.wait_for(3)
        assert sorted(x["webhook_id"] for x in got) == ids


def test_a_literal_inside_address_is_refused_at_connection_too(engine, redis_client):
    """An endpoint stored before the checks (or written past them) gets nothing sent."""
    outbox = Outbox(redis_client)
    with Receiver() as r:
        ep = EndpointStore(redis_client).create(f"http://0x7f000001:{r.server.server_port}/hook", owner="ch_a")
        ep_v6 = EndpointStore(redis_client).create(f"http://[::ffff:127.0.0.1]:{r.server.server_port}/", owner="ch_a")
        r.secrets = [ep.secret, ep_v6.secret]
        _push(engine, 1)
        with Worker(engine, sender_options=FAST | {"allow_private": False, "max_age_s": 0.3}):
            dead = _dead(outbox, ep.id) + _dead(outbox, ep_v6.id)
        assert r.received == [] and [d["error"] for d in dead] == ["blocked_address"] * 2


def _trickle(engine, rounds, prefix):
    """5 events a round, a round every 0.2 s (the pacing of the load, not a wait for a result):
    event id -> when pushed."""
    pushed = {}
    for i in range(rounds):
        t = time.time()
        pushed |= dict.fromkeys(_push(engine, 5, "op1", prefix=f"ch_a:{prefix}{i}-"), t)
        time.sleep(0.2)
    return pushed


def _delays(receiver, pushed):
    return sorted(x["at"] - pushed[x["webhook_id"]] for x in receiver.delivered() if x["webhook_id"] in pushed)


def test_a_hanging_endpoint_does_not_delay_another_endpoints_deliveries(engine, redis_client):
    """Every event goes to both: a quick endpoint (the channel's) and one that never answers (the
    campaign operator's). Events arrive in a trickle for longer than the POST timeout; the quick
    endpoint's delay is measured from each push to its arrival, first alone (what the read path
    costs by itself: a Cluster is polled, not blocked on), then beside the hanging one."""
    endpoints = EndpointStore(redis_client)
    with Receiver() as quick, Receiver() as hanging:
        hanging.delay_s = 60
        q = endpoints.create(quick.url, owner="ch_a")
        quick.secrets, hanging.secrets = [q.secret], []
        with Worker(engine, sender_options=FAST | {"timeout_s": 5, "breaker_cooldown_s": 30}) as w:
            alone = _trickle(engine, 20, "alone")
            quick.wait_for(100, timeout_s=30)
            h = endpoints.create(hanging.url, owner="op1")
            hanging.secrets = [h.secret]
            time.sleep(2.5)  # the sender re-reads the endpoints every 2 s
            beside = _trickle(engine, 40, "beside")
            quick.wait_for(300, timeout_s=30)
            assert sum(w.sender.deferred.values()) > 0  # the hanging one's deliveries went to the retries
        before, after = _delays(quick, alone), _delays(quick, beside)
        print(f"\nquick endpoint alone: p50 {before[len(before) // 2] * 1000:.0f} ms, max {before[-1] * 1000:.0f} ms; "
              f"beside a hanging one: {len(after)} deliveries, p50 {after[len(after) // 2] * 1000:.0f} ms, "
              f"max {after[-1] * 1000:.0f} ms")
        assert sorted(beside) == sorted(x["webhook_id"] for x in quick.delivered() if x["webhook_id"] in beside)
        assert after[-1] - before[-1] < 1.0, f"a quick delivery waited {after[-1]:.2f} s (alone at most {before[-1]:.2f} s)"
        # Its first wave timed out, then its breaker kept it to probes: not a request per event.
        s = w.sender
        assert len(hanging.received) == 0 and s.failed <= s.endpoint_concurrency + s.breaker_failures < 200


@pytest.mark.parametrize("declared", [True, False])
def test_a_reply_over_64_kib_is_a_failure_and_one_within_is_not(engine, redis_client, declared):
    outbox = Outbox(redis_client)
    with Receiver() as big, Receiver() as fits:
        big.reply_bytes, big.reply_declares_length = 64 * 1024 + 1, declared
        fits.reply_bytes, fits.reply_declares_length = 64 * 1024, declared
        big.answers = fits.answers = [200] * 100  # a body comes with a 200 (a 204's would be malformed)
        b, f = EndpointStore(redis_client).create(big.url, "ch_a"), EndpointStore(redis_client).create(fits.url, "op1")
        big.secrets, fits.secrets = [b.secret], [f.secret]
        (event_id,) = _push(engine, 1, "op1")
        with Worker(engine, sender_options=FAST | {"max_age_s": 0.5}):
            (dead,) = _dead(outbox, b.id)
            fits.wait_for(1)
        assert (dead["event_id"], dead["error"]) == (event_id, "too_large")
        assert len(big.received) >= 2 and outbox.dead_letters(f.id)[0] == []


def test_an_endpoint_failing_for_the_whole_retry_period_is_disabled_with_its_reason(engine, redis_client):
    endpoints, outbox = EndpointStore(redis_client), Outbox(redis_client)
    with Receiver() as r:
        ep = endpoints.create(r.url, owner="ch_a")
        r.secrets = [ep.secret]
        r.answers = [503] * 1000
        (event_id,) = _push(engine, 1)
        with Worker(engine, sender_options=FAST | {"max_age_s": 0.5}):
            deadline = time.monotonic() + 15
            while endpoints.get(ep.id).state != "disabled" and time.monotonic() < deadline:
                time.sleep(0.05)
        disabled = endpoints.get(ep.id)
        assert disabled.state == "disabled"
        assert disabled.disabled_reason.startswith("no delivery succeeded for") and "http_5xx" in disabled.disabled_reason
        # Its owner fixes the receiver, enables it and replays: delivered once, however often replayed.
        r.answers = []
        endpoints.enable(ep.id, "ch_a")
        assert outbox.replay(ep.id, int(time.time() * 1000))[0] == 1
        with Worker(engine, sender_options=FAST):
            r.wait_for(1)
            assert outbox.replay(ep.id, int(time.time() * 1000)) == (0, 0)  # sent twice: nothing again
            time.sleep(0.5)
        assert [x["webhook_id"] for x in r.delivered()] == [event_id]
        assert endpoints.get(ep.id).state == "active"


def test_a_healthy_endpoint_is_not_disabled_for_one_delivery_that_kept_failing(engine, redis_client):
    endpoints, outbox = EndpointStore(redis_client), Outbox(redis_client)
    with Receiver() as r:
        ep = endpoints.create(r.url, owner="ch_a")
        r.secrets = [ep.secret]
        endpoints.record_success(ep.id, int(time.time() * 1000) + 120_000)  # it answered others meanwhile
        r.answers = [500] * 1000
        _push(engine, 1)
        with Worker(engine, sender_options=FAST | {"max_age_s": 0.5}):
            _dead(outbox, ep.id)
        assert endpoints.get(ep.id).state == "active"
