"""Debts are owed by the account bound when the car left: a late charge goes to it whatever becomes
of the plate's binding, is tried again with growing waits a bounded number of times, then goes to
the lot's review list. Against a real Redis (single server and Cluster), with a fake payment
gateway and a clock the test moves."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from district_engine.parking.payments import Charge
from district_engine.parking.service import GateEvent, Parking
from district_engine.store.parking import ParkingStore

TARIFF = {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000, "daily_cap_cents": 8000}


class FakeGateway:
    """Declines while ``declining``; records every charge asked for: (key, cents, token, user)."""

    name = "fake"

    def __init__(self):
        self.declining = True
        self.asked: list[tuple[str, int, str, str]] = []

    def charge(self, session_id: str, amount_cents: int, payment_token: str, user_id: str) -> Charge:
        self.asked.append((session_id, amount_cents, payment_token, user_id))
        return Charge(False, "card declined") if self.declining else Charge(True)


@pytest.fixture
def world(redis_client):
    """(parking, gateway, clock, lot id, session id): a car bound to u1 (agr_1) stayed 2 h and left
    while its charge was declined: it owes 2,000 cents. Up to 3 retries."""
    clock = [datetime(2026, 11, 11, 12, 0, tzinfo=timezone.utc)]
    gateway = FakeGateway()
    parking = Parking(ParkingStore(redis_client), gateway=gateway, retry_s=30, clock=lambda: clock[0],
                      charge_attempts=3)
    lot, _ = parking.create_lot("op", "sanlitun-taikoo-li", "South", 10, 39.9325, 116.4474, tariff=TARIFF)
    parking.bind_plate("u1", "京A12345", "agr_1")
    entered = json.loads(parking.try_decide(lot, "m1", GateEvent("vehicle.entry", "京A12345", 0.9,
                                                                 clock[0] - timedelta(hours=2), "in")))
    out = json.loads(parking.try_decide(lot, "m2", GateEvent("vehicle.exit", "京A12345", 0.9, clock[0], "out")))
    assert out["decision"] == "open" and out["charged_cents"] == 0 and "later" in out["message"]
    assert parking.store.session(lot.id, entered["session_id"])["state"] == "unpaid"
    return parking, gateway, clock, lot.id, entered["session_id"]


def advance(clock, seconds):
    clock[0] += timedelta(seconds=seconds + 0.001)


def test_after_the_plate_is_rebound_the_debt_is_charged_to_the_first_driver(world):
    parking, gateway, clock, lot_id, sid = world
    parking.unbind_plate("京A12345", "u1")
    parking.bind_plate("u2", "京A12345", "agr_2")  # the car was sold
    gateway.declining = False
    advance(clock, 30)
    assert parking.retry_unpaid() == 1
    assert gateway.asked[-1] == (sid, 2000, "agr_1", "u1")  # not agr_2 / u2
    s = parking.store.session(lot_id, sid)
    assert (s["state"], s["charged_cents"], s["payer_user"]) == ("paid", "2000", "u1")
    assert "payment_token" not in s  # kept only while owed
    assert parking.store.audit(lot_id) == []


def test_after_the_plate_is_unbound_the_debt_is_still_owed_and_retried(world):
    parking, gateway, clock, lot_id, sid = world
    parking.unbind_plate("京A12345", "u1")
    advance(clock, 30)
    assert parking.retry_unpaid() == 0 and gateway.asked[-1] == (sid, 2000, "agr_1", "u1")  # declined again
    assert len(parking.store.unpaid) == 1  # still queued
    gateway.declining = False
    advance(clock, parking.retry_ms[1] / 1000)
    assert parking.retry_unpaid() == 1 and gateway.asked[-1] == (sid, 2000, "agr_1", "u1")
    assert parking.store.session(lot_id, sid)["state"] == "paid" and parking.store.audit(lot_id) == []


def test_retries_wait_longer_each_time_and_after_the_last_decline_go_to_review(world):
    parking, gateway, clock, lot_id, sid = world
    assert parking.retry_unpaid() == 0 and len(gateway.asked) == 1  # not due yet: only the exit's attempt
    waits = [d / 1000 for d in parking.retry_ms]
    assert len(waits) == 3 and waits[0] == 30 and waits[0] < waits[1] < waits[2]
    assert sum(waits) == pytest.approx(72 * 3600, rel=1e-3)
    for i, wait in enumerate(waits, start=1):
        advance(clock, wait - 1)
        parking.retry_unpaid()
        assert len(gateway.asked) == i  # not before its time
        advance(clock, 1)
        parking.retry_unpaid()
        assert len(gateway.asked) == i + 1
    s = parking.store.session(lot_id, sid)
    assert (s["state"], s["review"], s["charge_attempts"]) == ("unpaid", "charge_declined", "3")
    assert len(parking.store.unpaid) == 0
    (entry,) = parking.store.reviews(lot_id)
    assert (entry["reason"], entry["session_id"], entry["fee_cents"]) == ("charge_declined", sid, "2000")
    advance(clock, 30 * 86400)
    assert parking.retry_unpaid() == 0 and len(gateway.asked) == 4  # no more retries
    assert parking.store.audit(lot_id) == []

    # Staff try once more (a key of its own at the gateway), then waive it.
    with pytest.raises(Exception) as declined:
        parking.resolve(sid, "op", "charge", "tried by phone", resolution_id="r1")
    assert declined.value.code == "conflict" and gateway.asked[-1] == (f"{sid}.r1", 2000, "agr_1", "u1")
    assert parking.store.session(lot_id, sid)["review"] == "charge_declined"  # still awaiting staff
    s = parking.resolve(sid, "op", "waive", "customer left the country", resolution_id="r2")
    assert s["state"] == "waived" and parking.store.reviews(lot_id) == []
    assert [(e["type"], e["resolution"]) for e in parking.store.ledger(lot_id) if "resolution" in e] == [("waive", "r2")]
    assert parking.store.audit(lot_id) == []


def test_a_staff_charge_goes_to_the_account_bound_at_the_exit_once_per_resolution_id(world):
    parking, gateway, clock, lot_id, sid = world
    for wait in parking.retry_ms:
        advance(clock, wait / 1000)
        parking.retry_unpaid()
    parking.unbind_plate("京A12345", "u1")
    parking.bind_plate("u2", "京A12345", "agr_2")
    gateway.declining = False
    first = parking.resolve(sid, "op", "adjust", "goodwill", amount_cents=1500, resolution_id="r9")
    again = parking.resolve(sid, "op", "adjust", "goodwill", amount_cents=1500, resolution_id="r9")
    assert first == again and first["state"] == "paid" and first["charged_cents"] == "1500"
    assert [a for a in gateway.asked if a[0] == f"{sid}.r9"] == [(f"{sid}.r9", 1500, "agr_1", "u1")]
    assert [e["amount"] for e in parking.store.ledger(lot_id) if e["type"] == "charge"] == ["1500"]
    assert parking.store.audit(lot_id) == []


def test_a_session_closed_unpaid_before_payers_were_kept_goes_to_review_not_to_the_plates_new_owner(world):
    parking, gateway, clock, lot_id, sid = world
    key = f"lot:{{{lot_id}}}:s:{sid}"
    parking.store._client.hdel(key, "payer_user", "payment_token")  # as an older engine closed it
    parking.bind_plate("u1", "京A12345", "agr_1")
    gateway.declining = False
    advance(clock, 30)
    assert parking.retry_unpaid() == 0 and len(gateway.asked) == 1
    assert parking.store.session(lot_id, sid)["review"] == "no_payer"
    assert parking.store.audit(lot_id) == []
