"""Orders in a batch (Guides.record_orders) on a real Redis: each order of a batch is answered as
record_order answers it alone, refusals in their places; the batch takes a few round trips in all;
an order whose guide changed between the batch's read and its write is decided again; the members'
gift times are one read; the API's batcher sends the orders of one turn of the loop as one batch per
operator."""

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from api.batching import OrderBatcher
from api.offload import StoreCalls

from district_engine import load_demo_districts
from district_engine.campaigns.model import Campaign
from district_engine.channel import check_ping
from district_engine.engine import Engine
from district_engine.errors import ConflictError, DistrictEngineError, StoreUnavailableError
from district_engine.guides import Guides
from district_engine.guides.service import NewOrder
from district_engine.store.campaigns import CampaignStore
from district_engine.store.connection import is_cluster
from district_engine.store.channels import ChannelStore
from district_engine.store.districts import DistrictStore
from district_engine.store.guides import GuideStore
from helpers import RoundTrips

SANLITUN, INDIGO = (next(d for d in load_demo_districts() if d.id == i)
                    for i in ("sanlitun-taikoo-li", "indigo-beijing"))
# The same shop twice, in two districts: one records a batch, the other one order at a time.
OPS = {"op_batch": SANLITUN, "op_single": INDIGO}


def now():
    return datetime.now(timezone.utc)


@pytest.fixture
def guides(redis_client):
    gifts: dict[str, dict[str, int]] = {}
    g = Guides(GuideStore(redis_client), clock=now, districts=DistrictStore(redis_client),
               channels=ChannelStore(redis_client), campaigns=CampaignStore(redis_client),
               gifts_of=lambda user: gifts.get(user, {}))
    g.gifts = gifts
    return g


@pytest.fixture
def channel(redis_client):
    return ChannelStore(redis_client).create("City")[0].id


def shop(guides, redis_client, operator_id, channel) -> dict[str, str]:
    """The operator's district with Ann (300 bps) and Bob (500), Cai who left for Bob, members of
    each, a campaign given to u-0 an hour ago and another operator's given to u-1: name -> id."""
    district = OPS[operator_id]
    DistrictStore(redis_client).put(district, operator_id)
    ann, bob, cai = (guides.create_guide(operator_id, district.id, name, bps)
                     for name, bps in (("Ann", 300), ("Bob", 500), ("Cai", 700)))
    for i in range(12):
        guides.record_service((ann, bob, cai)[i % 3].id, operator_id, channel, f"u-{i}", now() - timedelta(hours=2))
    guides.deactivate(cai.id, operator_id, bob.id)
    t = now()
    mine, foreign = (Campaign(id=f"cmp_{owner}", owner=owner, district_id=district.id, kind="campaign", title="Offer",
                              body="10% off", starts_at=t - timedelta(days=1), ends_at=t + timedelta(days=1))
                     for owner in (operator_id, f"{operator_id}_other"))
    CampaignStore(redis_client).put(mine)
    CampaignStore(redis_client).put(foreign)
    given = int((t - timedelta(hours=1)).timestamp() * 1000)
    guides.gifts.setdefault(f"{channel}:u-0", {})[mine.id] = given
    guides.gifts.setdefault(f"{channel}:u-1", {})[foreign.id] = given
    return {"Ann": ann.id, "Bob": bob.id, "Cai": cai.id, "campaign": mine.id}



def one_at_a_time(guides, operator_id, orders):
    """Each order recorded alone (``record_order``): its answer, or the error it was refused with."""
    answers = []
    for o in orders:
        try:
            answers.append(guides.record_order(operator_id, *o[:6], district_id=o.district_id))
        except DistrictEngineError as e:
            answers.append(e)
    return answers

def test_a_batch_answers_each_order_as_record_order_would_alone(guides, redis_client, channel):
    names = [{v: k for k, v in shop(guides, redis_client, op, channel).items()} for op in OPS]
    before = now() - timedelta(minutes=30)  # Cai's members' orders of before he left are still his
    for op in OPS:
        guides.record_order(op, "o-old", channel, "u-2", 5_000, "store", before)
    orders = [NewOrder(f"o-{i}", channel, f"u-{i % 14}", 10_001 + i, ("store", "cloud_store", "flagship")[i % 3],
                       now() - timedelta(minutes=i % 2 * 60)) for i in range(30)]
    orders += [
        NewOrder("o-old", channel, "u-2", 5_000, "store", before),  # the same order again: the same answer
        NewOrder("o-old", channel, "u-2", 5_001, "store", before),  # another under its id: 409
        orders[3],  # twice in the batch
        NewOrder("o-bad", channel, "u-1", 100, "mall", now()),
        NewOrder("o-nochannel", "ch_none", "u-1", 100, "store", now()),
        NewOrder("o-ancient", channel, "u-1", 100, "store", now() - timedelta(days=31)),
        NewOrder("o-elsewhere", channel, "u-1", 100, "store", now(), "no-such-mall"),
        NewOrder("o-zero", channel, "u-1", 0, "store", now()),
    ]
    batch = guides.record_orders("op_batch", orders)
    alone = one_at_a_time(guides, "op_single", orders)

    def seen(answer, names):
        if isinstance(answer, Exception):
            return type(answer).__name__, answer.field, getattr(answer, "code", None)
        return (answer.order_id, names.get(answer.guide_id), answer.commission_cents, names.get(answer.campaign_id),
                answer.replayed)

    assert [seen(a, names[0]) for a in batch] == [seen(a, names[1]) for a in alone]
    by_id = {a.order_id: a for a in batch[:30]}
    assert seen(by_id["o-0"], names[0]) == ("o-0", "Ann", 300, "campaign", False)  # Ann's member, given the offer
    assert seen(by_id["o-1"], names[0])[1:4] == ("Bob", 500, None)  # another operator's offer converts nothing
    assert seen(by_id["o-2"], names[0])[1] == "Bob"  # Cai's member, since he left
    assert seen(by_id["o-12"], names[0])[1:3] == (None, 0)  # nobody's member
    assert [seen(a, names[0])[:3] for a in batch[30:33]] == [
        ("o-old", "Cai", 350), ("ConflictError", "order_id", "order_conflict"), ("o-3", "Ann", 300)]
    assert batch[30].replayed and batch[32].replayed
    assert [seen(a, names[0])[:2] for a in batch[33:]] == [
        ("InvalidInputError", "sales_channel"), ("NotFoundError", "channel_id"), ("InvalidInputError", "at"),
        ("NotFoundError", "district_id"), ("InvalidInputError", "amount_cents")]
    assert guides.audit("op_batch")[1] == [] and guides.audit("op_single")[1] == []
    assert guides.audit("op_batch")[0] == guides.audit("op_single")[0]


def test_a_batch_takes_a_few_round_trips_whatever_its_size(guides, redis_client, channel, monkeypatch):
    shop(guides, redis_client, "op_batch", channel)
    guides.record_order("op_batch", "warm", channel, "u-0", 100, "store", now())  # the script is loaded
    trips = RoundTrips(monkeypatch)
    answers = guides.record_orders("op_batch", [NewOrder(f"o-{i}", channel, f"u-{i % 20}", 1_000, "cloud_store", now())
                                            for i in range(500)])
    assert all(not isinstance(a, Exception) and not a.replayed for a in answers)
    # The orders and members, the channel, the guides, the campaigns given, the writes.
    assert trips.count <= 5
    assert guides.audit("op_batch")[1] == []


def test_an_order_whose_guide_changed_between_read_and_write_is_decided_again(guides, redis_client, channel,
                                                                               monkeypatch):
    ids = shop(guides, redis_client, "op_batch", channel)
    read = guides.store.order_states

    def read_then_raise_annes_rate(*args):
        states = read(*args)
        guides.update_guide(ids["Ann"], "op_batch", commission_bps=600)  # a rate applies to orders recorded after it
        return states

    monkeypatch.setattr(guides.store, "order_states", read_then_raise_annes_rate)
    answers = guides.record_orders("op_batch", [NewOrder(f"o-{i}", channel, "u-3", 10_000, "store", now())
                                            for i in range(5)])
    assert [(a.guide_id, a.commission_cents, a.replayed) for a in answers] == [(ids["Ann"], 600, False)] * 5
    assert guides.audit("op_batch")[1] == []


def test_a_store_fault_stops_the_batch_and_sending_it_again_books_each_order_once(guides, redis_client, channel,
                                                                                    monkeypatch):
    shop(guides, redis_client, "op_batch", channel)
    orders = [NewOrder(f"o-{i}", channel, f"u-{i}", 2_000, "flagship", now()) for i in range(10)]
    write = guides.store.record_orders

    def written_but_answer_lost(*args):
        write(*args)
        raise StoreUnavailableError("Redis unavailable: the answer was lost")

    monkeypatch.setattr(guides.store, "record_orders", written_but_answer_lost)
    with pytest.raises(StoreUnavailableError):
        guides.record_orders("op_batch", orders)
    monkeypatch.undo()
    again = guides.record_orders("op_batch", orders)
    assert all(a.replayed for a in again)
    figures, problems = guides.audit("op_batch")
    assert problems == [] and figures["orders"] == 10


def test_the_orders_of_one_turn_of_the_loop_share_one_batch_per_operator(guides, redis_client, channel):
    """The API's OrderBatcher: orders of two operators arriving together, each answered as alone."""
    names = [{v: k for k, v in shop(guides, redis_client, op, channel).items()} for op in OPS]
    batcher = OrderBatcher(guides, StoreCalls(timeout_s=5.0))
    sent = [(op, NewOrder(f"o-{i}", channel, f"u-{i % 12}", 1_000 + i, "store", now())) for i in range(20)
            for op in OPS]
    sent.append(("op_batch", NewOrder("o-0", channel, "u-0", 999, "store", now())))  # another body: 409

    async def main():
        return await asyncio.gather(*(batcher.record(op, o) for op, o in sent), return_exceptions=True)

    answers = asyncio.run(main())
    assert (batcher.batches, batcher.rows) == (1, len(sent))
    assert isinstance(answers[-1], ConflictError) and answers[-1].code == "order_conflict"
    for (op, o), a in zip(sent[:-1], answers):
        assert a.order_id == o.order_id and not a.replayed
        # u-0, u-3, ... are Ann's; the others Bob's, Cai's too since he left for Bob.
        assert names[list(OPS).index(op)][a.guide_id] == ("Ann", "Bob", "Bob")[int(o.user_id[2:]) % 3]
    assert guides.audit("op_batch")[1] == [] and guides.audit("op_single")[1] == []


def test_a_batch_reads_its_members_gift_times_in_one_round_trip_and_converts_their_orders(redis_client, channel,
                                                                                             monkeypatch):
    engine = Engine(redis_client)
    engine.districts.put(SANLITUN, "op_batch")
    t = now()
    campaign = engine.campaigns.create("op_batch", district_id=SANLITUN.id, kind="campaign", title="Double 11",
                                      body="50% off", starts_at=t - timedelta(minutes=5), ends_at=t + timedelta(days=1))
    users = [f"{channel}:u-{i}" for i in range(6)]
    engine.channel.locate_many([check_ping(u, 39.9300, 116.4470) for u in users[:3]])  # given the offer
    engine.stores.deliveries.gifts_many(users[:1])  # the script is loaded
    trips = RoundTrips(monkeypatch)
    given = engine.stores.deliveries.gifts_many(users)
    assert trips.count <= (len(redis_client.get_primaries()) if is_cluster(redis_client) else 1)  # one per node
    assert given == [engine.stores.deliveries.gifts(u) for u in users] and [bool(g) for g in given] == [True] * 3 + [False] * 3
    guides = engine.guides
    answers = guides.record_orders("op_batch", [NewOrder(f"o-{i}", channel, f"u-{i}", 1_000, "store", now())
                                                for i in range(6)])
    assert [a.campaign_id for a in answers] == [campaign.id] * 3 + [None] * 3
    assert guides.campaign_conversions("op_batch", campaign.id) == (3, 3_000)


def test_one_script_call_answers_new_replayed_conflicting_and_stale_orders_each_as_alone(guides, redis_client,
                                                                                          channel, monkeypatch):
    """The orders of one write (record_orders.lua): new ones written, one recorded before replayed,
    another body under its id refused, an id twice in the call, and an order whose member a guide
    served between the read and the write decided again: each answered as record_order answers it
    alone after the same events, and the ledger reconciles."""
    shops = {op: shop(guides, redis_client, op, channel) for op in OPS}
    t, served = now(), now() - timedelta(minutes=1)
    for op in OPS:
        guides.record_order(op, "o-seen", channel, "u-0", 4_000, "flagship", t)
    orders = [NewOrder("o-new", channel, "u-4", 10_000, "store", t),
              NewOrder("o-seen", channel, "u-0", 4_000, "flagship", t),
              NewOrder("o-seen", channel, "u-0", 4_001, "flagship", t),
              NewOrder("o-late", channel, "u-13", 7_000, "cloud_store", t),  # nobody's member when read
              NewOrder("o-new", channel, "u-4", 10_000, "store", t)]
    read, reads = guides.store.order_states, []

    def read_then_ann_serves_u13(operator_id, pairs):
        reads.append([o for o, _ in pairs])
        state = read(operator_id, pairs)
        if len(reads) == 1:
            guides.record_service(shops["op_batch"]["Ann"], "op_batch", channel, "u-13", served)
        return state

    monkeypatch.setattr(guides.store, "order_states", read_then_ann_serves_u13)
    batch = guides.record_orders("op_batch", orders)
    monkeypatch.undo()
    assert reads == [[o.order_id for o in orders], ["o-late"]]  # only the stale order was decided again
    guides.record_service(shops["op_single"]["Ann"], "op_single", channel, "u-13", served)
    alone = one_at_a_time(guides, "op_single", orders)

    def seen(answer, op):
        if isinstance(answer, Exception):
            return type(answer).__name__, answer.code
        names = {v: k for k, v in shops[op].items()}
        return answer.order_id, names.get(answer.guide_id), answer.commission_cents, answer.replayed

    assert [seen(a, "op_batch") for a in batch] == [seen(a, "op_single") for a in alone] == [
        ("o-new", "Bob", 500, False), ("o-seen", "Ann", 120, True), ("ConflictError", "order_conflict"),
        ("o-late", "Ann", 210, False), ("o-new", "Bob", 500, True)]
    for op in OPS:
        figures, problems = guides.audit(op)
        assert problems == [] and figures["orders"] == 3
    assert guides.audit("op_batch")[0] == guides.audit("op_single")[0]
