"""The guides service on a real Redis: what it gives the rest of the engine (a batch of members'
guides in one round trip, a guide by its id, a district's members in pages), writes racing each
other (two guides serving one member, orders racing a deactivation), and the audit catching what a
resent or tampered write would leave."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from district_engine import load_demo_districts
from district_engine.guides import Guides
from district_engine.guides.model import OrderRecord
from district_engine.guides.rules import decode_history, guide_at
from district_engine.store import keys
from district_engine.store.campaigns import CampaignStore
from district_engine.store.channels import ChannelStore
from district_engine.store.districts import DistrictStore
from district_engine.store.guides import GuideStore
from helpers import RoundTrips

SANLITUN, INDIGO = (next(d for d in load_demo_districts() if d.id == i)
                    for i in ("sanlitun-taikoo-li", "indigo-beijing"))
OP = "op_1"


@pytest.fixture
def guides(redis_client):
    for d in (SANLITUN, INDIGO):
        DistrictStore(redis_client).put(d, OP)
    return Guides(GuideStore(redis_client), clock=lambda: datetime.now(timezone.utc),
                  districts=DistrictStore(redis_client), channels=ChannelStore(redis_client),
                  campaigns=CampaignStore(redis_client), gifts_of=lambda user: {})


@pytest.fixture
def channel(redis_client):
    return ChannelStore(redis_client).create("City")[0].id


def now():
    return datetime.now(timezone.utc)


def test_what_the_rest_of_the_engine_reads(guides, channel, monkeypatch):
    ann, bob = guides.create_guide(OP, SANLITUN.id, "Ann", 100), guides.create_guide(OP, SANLITUN.id, "Bob", 100)
    cai = guides.create_guide(OP, INDIGO.id, "Cai", 100)
    for i in range(5):
        guides.record_service(ann.id, OP, channel, f"a-{i}", now())
    for i in range(3):
        guides.record_service(bob.id, OP, channel, f"b-{i}", now())
    guides.record_service(cai.id, OP, channel, "c-0", now())
    users = [f"{channel}:a-0", f"{channel}:b-2", f"{channel}:nobody", f"{channel}:c-0"]
    trips = RoundTrips(monkeypatch)
    assert guides.current_guides(OP, users) == [ann.id, bob.id, None, cai.id]
    assert trips.count == 1
    found = guides.guide(ann.id)  # by its id alone
    assert (found.owner, found.district_id, found.active) == (OP, SANLITUN.id, True)
    with pytest.raises(LookupError):
        guides.guide(ann.id, owner="op_other")
    pages = list(guides.district_members(OP, SANLITUN.id, page=2))
    assert all(1 <= len(p) <= 2 for p in pages)
    assert sorted(m for p in pages for m in p) == sorted([f"{channel}:a-{i}" for i in range(5)] +
                                                         [f"{channel}:b-{i}" for i in range(3)])
    # Ann leaves for Cai, in another district: her members are INDIGO's now, and nobody's at Sanlitun.
    guides.deactivate(ann.id, OP, cai.id)
    assert guides.current_guides(OP, users) == [cai.id, bob.id, None, cai.id]
    assert sorted(m for p in guides.district_members(OP, SANLITUN.id) for m in p) == [
        f"{channel}:b-{i}" for i in range(3)]
    assert len([m for p in guides.district_members(OP, INDIGO.id) for m in p]) == 6


def test_two_guides_serving_one_member_at_once_bind_it_to_one(guides, channel):
    team = [guides.create_guide(OP, SANLITUN.id, f"G{i}", 100) for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda g: guides.record_service(g.id, OP, channel, "u-1", now()), team * 3))
    bound = [r for r in results if r.outcome == "bound"]
    assert len(bound) == 1
    winner = bound[0].guide_id
    assert all(r.guide_id == winner for r in results)  # renewed by the winner, held for the others
    assert guides.current_guides(OP, [f"{channel}:u-1"]) == [winner]
    assert [len(guides.members(g.id, OP)[0]) for g in team].count(1) == 1


def test_orders_racing_a_deactivation_go_to_the_guide_who_held_the_member_at_their_time(guides, channel,
                                                                                         redis_client):
    ann, bob = guides.create_guide(OP, SANLITUN.id, "Ann", 1000), guides.create_guide(OP, SANLITUN.id, "Bob", 10)
    members = [f"u-{i}" for i in range(40)]
    for m in members:
        guides.record_service(ann.id, OP, channel, m, now() - timedelta(hours=1))

    def sell(i):
        return guides.record_order(OP, f"o-{i}", channel, members[i % 40], 1000, "store", now())

    with ThreadPoolExecutor(8) as pool:
        sold = pool.map(sell, range(200))
        guides.deactivate(ann.id, OP, bob.id)
        sold = list(sold)
    store = GuideStore(redis_client)
    state = store.member_state(OP, [f"{channel}:{m}" for m in members])
    histories = dict(zip(members, state.histories))
    for outcome in sold:
        record = OrderRecord.from_json(store._client.hget(keys.guide_keys(OP)["orders"], outcome.order_id))
        want = guide_at(decode_history(histories[record.user_id]), record.at_ms, state.inactive)
        assert outcome.guide_id == record.guide_id == want
        assert outcome.commission_cents == (100 if want == ann.id else 1)
    assert {o.guide_id for o in sold} <= {ann.id, bob.id}
    assert guides.audit(OP)[1] == []


def test_the_audit_catches_an_order_booked_twice_and_a_record_changed(guides, channel, redis_client):
    ann = guides.create_guide(OP, SANLITUN.id, "Ann", 500)
    guides.record_service(ann.id, OP, channel, "u-1", now())
    guides.record_order(OP, "o-1", channel, "u-1", 10_000, "store", now())
    guides.refund(OP, "o-1", "r-1", 3_333)
    assert guides.audit(OP)[1] == []
    k = keys.guide_keys(OP)
    entry = next(e for _, e in redis_client.xrange(k["ledger"]) if e[b"type"] == b"order")
    redis_client.xadd(k["ledger"], entry)  # what resending the order without its check would leave
    assert any("booked more than once" in p for p in guides.audit(OP)[1])
    redis_client.xdel(k["ledger"], redis_client.xrevrange(k["ledger"], count=1)[0][0])
    assert guides.audit(OP)[1] == []
    record = redis_client.hget(k["orders"], "o-1").replace(b'"reversed_cents":166', b'"reversed_cents":160')
    redis_client.hset(k["orders"], "o-1", record)
    assert any("o-1" in p and "recorded" in p for p in guides.audit(OP)[1])
