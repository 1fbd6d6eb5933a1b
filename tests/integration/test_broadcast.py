"""Scheduled jobs against a real Redis. Broadcast on go-live: exactly the users whose last position is within the
campaign's reach (geodesic truth from pyproj.Geod) get the offer, each once; a wider radius
reaches only the newly covered users; a scheduled campaign broadcasts when it starts. A rain is
refunded at its end by its job, with nobody asking."""

import json
from datetime import datetime, timedelta, timezone

import numpy as np

from district_engine import load_demo_districts
from district_engine.engine import Engine
from district_engine.geo.reference import reference_distance_m
from district_engine.store import keys
from district_engine.store.layout import DEFAULT_PARTITIONS
from helpers import offset

T0 = datetime.now(timezone.utc).replace(microsecond=0)  # near real time: Redis expiries are real time


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def _engine(redis_client, clock):
    engine = Engine(redis_client, clock=clock, max_pushes_per_hour=100)
    operator, _ = engine.stores.operators.create("Swire")
    sanlitun = next(d for d in load_demo_districts() if d.id == "sanlitun-taikoo-li")
    engine.districts.put(sanlitun, operator.id)
    return engine, operator.id, sanlitun


def _users_around(district, n, rng, radii_m):
    """n users at random points up to 5 km from the district's centre, none within 1 m of a radius
    in ``radii_m`` (the kernel and the reference agree to ~1 mm; the test must not hinge on that)."""
    lat0, lng0 = district.centre
    lats, lngs = offset(lat0, lng0, rng.uniform(0, 360, 4 * n), rng.uniform(0, 5000, 4 * n))
    d = reference_distance_m(lats, lngs, [district.geometry] * lats.size)
    ok = np.all(np.abs(d[:, None] - np.asarray(radii_m)[None, :]) > 1.0, axis=1)
    return lats[ok][:n], lngs[ok][:n], d[ok][:n]


def _fan_out(engine):
    """What a worker's fan-out would do: deliver every queued broadcast chunk."""
    while engine.broadcasts.fan_out("test-worker"):
        pass


def _pushed(redis_client):
    """(user, campaign) of every outbox entry."""
    return [(e[b"user"].decode(), json.loads(e[b"payload"])["data"]["campaign_id"])
            for p in range(DEFAULT_PARTITIONS) for _, e in redis_client.xrange(keys.outbox(p))]


def test_going_live_reaches_exactly_the_users_in_reach_once_and_a_wider_radius_only_the_new_ones(redis_client):
    clock = Clock(T0)
    engine, owner, sanlitun = _engine(redis_client, clock)
    lats, lngs, d = _users_around(sanlitun, 600, np.random.default_rng(7), [1500, 3000])
    users = [f"user-{i}" for i in range(len(lats))]
    for u, la, ln in zip(users, lats, lngs):  # last positions, before the campaign exists: nothing to offer
        assert engine.channel.locate(u, float(la), float(ln)) == []

    clock.t = T0 + timedelta(minutes=1)
    c = engine.campaigns.create(owner, district_id=sanlitun.id, kind="campaign", title="Double 11", body="-20%",
                               starts_at=T0, ends_at=T0 + timedelta(days=1), radius_m=1500)
    assert engine.jobs.run_due_jobs() == 1
    _fan_out(engine)
    in_1500 = {u for u, x in zip(users, d) if x <= 1500}
    assert 50 < len(in_1500) < len(users) - 50  # the test means something on both sides
    pushed = _pushed(redis_client)
    assert sorted(u for u, _ in pushed) == sorted(in_1500)  # each once, nobody else
    assert engine.jobs.run_due_jobs() == 0 and engine.broadcasts.broadcast(c.id).in_reach == len(in_1500)
    _fan_out(engine)  # a broadcast run again (a redelivered job or chunk) pushes nothing new
    assert len(_pushed(redis_client)) == len(pushed)

    engine.campaigns.update(c.id, owner, radius_m=3000)
    assert engine.jobs.run_due_jobs() == 1
    _fan_out(engine)
    in_3000 = {u for u, x in zip(users, d) if x <= 3000}
    pushed = _pushed(redis_client)
    assert sorted(u for u, _ in pushed) == sorted(in_3000)
    assert engine.stores.deliveries.counts(c.id).users == len(in_3000)


def test_a_scheduled_campaign_broadcasts_when_it_starts_and_a_moved_user_is_skipped(redis_client):
    clock = Clock(T0)
    engine, owner, sanlitun = _engine(redis_client, clock)
    lat, lng = sanlitun.centre
    engine.channel.locate("stays", lat, lng)
    engine.channel.locate("leaves", lat, lng)
    c = engine.campaigns.create(owner, district_id=sanlitun.id, kind="campaign", title="Tonight", body="b",
                               starts_at=T0 + timedelta(minutes=20), ends_at=T0 + timedelta(hours=4))
    assert engine.jobs.run_due_jobs() == 0  # not yet
    clock.t = T0 + timedelta(minutes=10)
    engine.channel.locate("leaves", 40.0799, 116.6031)  # now at the airport, 20 km away
    clock.t = T0 + timedelta(minutes=20, seconds=1)  # within the positions' 30 min TTL
    assert engine.jobs.run_due_jobs() == 1
    _fan_out(engine)
    assert _pushed(redis_client) == [("stays", c.id)]


def test_a_rain_is_refunded_by_the_scheduled_job_at_its_end_without_anyone_asking(redis_client):
    clock = Clock(T0)
    engine, owner, sanlitun = _engine(redis_client, clock)
    c = engine.campaigns.create(owner, district_id=sanlitun.id, kind="red_envelope", title="Rain", body="Grab!",
                               starts_at=T0, ends_at=T0 + timedelta(minutes=10), total_cents=10_000, packets=10)
    lat, lng = sanlitun.centre
    grab, _ = engine.rains.grab(c.id, "lucky", lat, lng)
    assert grab.status == "won"
    assert engine.jobs.run_due_jobs() == 1  # the go-live broadcast; the refund is not due yet
    assert engine.stores.rains.figures(c.id).state == "live"
    clock.t = T0 + timedelta(minutes=10, seconds=1)
    assert engine.jobs.run_due_jobs() == 1
    f = engine.stores.rains.figures(c.id)
    assert f.state == "ended" and f.refunded_cents == 10_000 - grab.amount_cents and f.remaining_cents == 0
    assert engine.stores.rains.audit(c.id) == []
