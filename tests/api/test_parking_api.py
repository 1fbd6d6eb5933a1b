"""Smart parking through the HTTP API on a real Redis: lots, signed gate events (open / pay / full),
pricing with discounts, idempotency, misreads, bad input, and a real HTTP payment gateway that
fails and then recovers."""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from district_engine.identity import unscoped_user
from conftest import ADMIN, SANLITUN, bearer, campaign_body, make_channel, now
from district_engine.settings import Settings
from district_engine.signing import headers as signed_headers, new_secret
from district_engine.store import keys

TARIFF = {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000, "daily_cap_cents": 8000}
LOT_AT = {"lat": 39.9325, "lng": 116.4474}  # Taikoo Li South car park


@pytest.fixture
def lot(app_client, sanlitun):
    """(operator key, lot) with 3 spaces, its webhook secret in lot["webhook_secret"]."""
    r = app_client.post("/v1/parking/lots", headers=bearer(sanlitun), json={
        "district_id": SANLITUN.id, "name": "South car park", "capacity": 3, "location": LOT_AT, "tariff": TARIFF})
    assert r.status_code == 201, r.text
    return sanlitun, r.json()


def gate(client, lot, type_, plate, at, lane="lane-1", webhook_id=None, secret=None, confidence=0.97,
         clock_skew_s=0, raw=None):
    body = raw if raw is not None else json.dumps(
        {"type": type_, "plate": plate, "confidence": confidence, "captured_at": at.isoformat(), "lane": lane},
        ensure_ascii=False).encode()
    h = signed_headers(secret or lot["webhook_secret"], webhook_id or f"msg_{uuid.uuid4().hex}",
                       int(time.time()) + clock_skew_s, body)
    return client.post(f"/v1/parking/lots/{lot['id']}/gate-events", content=body,
                       headers=h | {"Content-Type": "application/json"})


def bind(client, plate, user="u1", token="agr_1"):
    r = client.post("/v1/parking/plates", json={"user_id": user, "plate": plate, "payment_token": token})
    assert r.status_code == 201, r.text
    return r.json()


def ledger(client, lot):
    return client.app.state.engine.parking.store.ledger(lot["id"])


def test_a_lot_is_created_in_reach_of_its_district_and_shows_live_occupancy(app_client, lot):
    key, created = lot
    assert created["webhook_secret"].startswith("whsec_") and created["free_spaces"] == 3
    got = app_client.get(f"/v1/parking/lots/{created['id']}", headers=bearer(key)).json()
    assert "webhook_secret" not in got and got["tariff"] == TARIFF and got["location"] == LOT_AT
    gate(app_client, created, "vehicle.entry", "京A12345", now())
    got = app_client.get(f"/v1/parking/lots/{created['id']}", headers=bearer(key)).json()
    assert (got["occupied"], got["free_spaces"]) == (1, 2)
    other = app_client.post("/v1/operators", json={"name": "x"}, headers=bearer(ADMIN)).json()["api_key"]
    assert app_client.get(f"/v1/parking/lots/{created['id']}", headers=bearer(other)).status_code == 404


@pytest.mark.parametrize("change, field", [
    ({"capacity": 0}, "capacity"),
    ({"tariff": TARIFF | {"unit_minutes": 0}}, "tariff.unit_minutes"),
    ({"tariff": TARIFF | {"per_hour": 5}}, "tariff"),
    ({"location": {"lat": 31.23, "lng": 121.47}}, "location"),  # Shanghai: not near Sanlitun
    ({"location": {"lat": 95, "lng": 116.4}}, "location.lat"),
    ({"district_id": "nowhere"}, "district_id"),
    ({"max_auto_charge_cents": -1}, "max_auto_charge_cents"),
    ({"max_auto_charge_cents": "5000"}, "max_auto_charge_cents"),
    ({"max_backfill_hours": 0}, "max_backfill_hours"),
    ({"max_backfill_hours": 10_000}, "max_backfill_hours"),
])
def test_a_bad_lot_names_its_field(app_client, sanlitun, change, field):
    body = {"district_id": SANLITUN.id, "name": "P", "capacity": 3, "location": LOT_AT, "tariff": TARIFF} | change
    r = app_client.post("/v1/parking/lots", json=body, headers=bearer(sanlitun))
    assert r.status_code in (404, 422) and r.json()["error"]["field"] == field, r.text


def test_entry_then_exit_is_priced_charged_to_the_bound_account_and_booked_once(app_client, lot, as_city):
    _, lot_ = lot
    bind(app_client, "京A12345")
    t0 = now() - timedelta(minutes=125)
    entry = gate(app_client, lot_, "vehicle.entry", "京A·12345", t0).json()  # normalised: same plate
    assert entry["decision"] == "open" and entry["session_id"] and "Welcome" in entry["message"]
    out = gate(app_client, lot_, "vehicle.exit", "京A12345", t0 + timedelta(minutes=125), lane="exit-1").json()
    assert out == {"decision": "open", "session_id": entry["session_id"], "fee_cents": 3000, "charged_cents": 3000,
                   "message": "已自动扣费 ¥30.00，一路顺风 Paid ¥30.00, goodbye"}  # 125 min = 3 started hours
    assert [(e["type"], e["amount"], e["session"]) for e in ledger(app_client, lot_)] == [
        ("charge", "3000", entry["session_id"])]
    session = app_client.get(f"/v1/parking/sessions/{entry['session_id']}", headers=bearer(lot[0])).json()
    assert session["state"] == "paid" and session["charged_cents"] == 3000


def test_a_repeated_webhook_id_and_a_second_read_on_the_lane_get_the_first_answer_byte_for_byte(app_client, lot):
    _, lot_ = lot
    t0 = now()
    first = gate(app_client, lot_, "vehicle.entry", "京B12345", t0, webhook_id="msg_same")
    again = gate(app_client, lot_, "vehicle.entry", "京B12345", t0, webhook_id="msg_same")
    reread = gate(app_client, lot_, "vehicle.entry", "京B12345", t0 + timedelta(seconds=2))  # new id, same lane
    assert first.content == again.content == reread.content
    assert app_client.app.state.engine.parking.lot(lot_["id"]).occupied == 1


def test_twenty_concurrent_deliveries_of_one_exit_charge_once(app_client, lot, as_city):
    _, lot_ = lot
    bind(app_client, "京C12345")
    t0 = now() - timedelta(hours=3)
    gate(app_client, lot_, "vehicle.entry", "京C12345", t0)
    body = json.dumps({"type": "vehicle.exit", "plate": "京C12345", "confidence": 0.9,
                       "captured_at": (t0 + timedelta(hours=3)).isoformat(), "lane": "exit-1"}).encode()
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: gate(app_client, lot_, None, None, None, webhook_id="msg_exit", raw=body),
                                range(20)))
    assert {a.status_code for a in answers} == {200} and len({a.content for a in answers}) == 1
    assert json.loads(answers[0].content)["charged_cents"] == 3000
    assert [e["type"] for e in ledger(app_client, lot_)] == ["charge"]
    store = app_client.app.state.engine.parking.store
    assert store.audit(lot_["id"]) == []
    store._client.xadd(keys.lot_keys(lot_["id"])["ledger"], {"type": "charge", "session": json.loads(answers[0].content)[
        "session_id"], "amount": "3000", "gateway": "ledger"})  # booked twice: the audit says so
    assert store.audit(lot_["id"]) == [f"session {json.loads(answers[0].content)['session_id']} charged 3000 but "
                                       f"booked [3000, 3000]"]


def test_no_bound_account_means_pay_the_session_stays_open_until_paid_at_the_gate(app_client, lot):
    _, lot_ = lot
    t0 = now() - timedelta(minutes=61)
    entry = gate(app_client, lot_, "vehicle.entry", "京D12345", t0).json()
    out = gate(app_client, lot_, "vehicle.exit", "京D12345", t0 + timedelta(minutes=61)).json()
    assert out["decision"] == "pay" and out["fee_cents"] == 2000 and out["charged_cents"] == 0
    assert out["session_id"] == entry["session_id"] and "¥20.00" in out["message"]
    assert app_client.app.state.engine.parking.lot(lot_["id"]).occupied == 1 and ledger(app_client, lot_) == []
    key = lot[0]
    paid = app_client.post(f"/v1/parking/sessions/{entry['session_id']}/paid-at-gate",
                           json={"paid_cents": 2000, "method": "qr"}, headers=bearer(key))
    assert paid.status_code == 200 and paid.json()["state"] == "paid" and paid.json()["charged_cents"] == 2000
    assert app_client.app.state.engine.parking.lot(lot_["id"]).occupied == 0
    assert [(e["type"], e["amount"], e["gateway"]) for e in ledger(app_client, lot_)] == [("charge", "2000", "gate:qr")]
    again = app_client.post(f"/v1/parking/sessions/{entry['session_id']}/paid-at-gate",
                            json={"paid_cents": 2000, "method": "qr"}, headers=bearer(key))
    assert again.status_code == 409


def test_a_misread_is_matched_by_one_lookalike_and_otherwise_kept_for_review(app_client, lot):
    key, lot_ = lot
    t0 = now() - timedelta(minutes=5)
    entry = gate(app_client, lot_, "vehicle.entry", "京E12345", t0).json()
    out = gate(app_client, lot_, "vehicle.exit", "京E1234S", t0 + timedelta(minutes=5)).json()  # 5 read as S
    assert out["decision"] == "open" and out["session_id"] == entry["session_id"] and out["fee_cents"] == 0
    nobody = gate(app_client, lot_, "vehicle.exit", "京F99999", now()).json()
    assert nobody["decision"] == "pay" and nobody["session_id"] is None and "staff" in nobody["message"]
    (review,) = app_client.get(f"/v1/parking/lots/{lot_['id']}/review", headers=bearer(key)).json()["entries"]
    assert review["plate"] == "京F99999" and review["reason"] == "no_entry" and review["session_id"] is None


def test_a_full_lot_opens_nothing(app_client, lot):
    _, lot_ = lot
    for plate in ("京G11111", "京G22222", "京G33333"):
        assert gate(app_client, lot_, "vehicle.entry", plate, now()).json()["decision"] == "open"
    full = gate(app_client, lot_, "vehicle.entry", "京G44444", now()).json()
    assert full["decision"] == "full" and full["session_id"] is None
    assert app_client.app.state.engine.parking.lot(lot_["id"]).occupied == 3


def test_validations_and_a_parking_campaign_reduce_the_fee(app_client, lot, as_city):
    key, lot_ = lot
    bind(app_client, "京H12345")
    t0 = now() - timedelta(minutes=200)
    entry = gate(app_client, lot_, "vehicle.entry", "京H12345", t0).json()
    for _ in range(2):  # the merchant's retry with its own id adds nothing
        r = app_client.post(f"/v1/parking/sessions/{entry['session_id']}/validations", headers=bearer(key),
                            json={"merchant": "Apple Sanlitun", "free_minutes": 120, "validation_id": "pos-1"})
        assert r.json() == {"session_id": entry["session_id"], "validation_minutes": 120}
    c = app_client.post("/v1/campaigns", headers=bearer(key), json=campaign_body(
        kind="parking", title="1 free hour tonight", lot_id=lot_["id"], free_minutes=60))
    assert c.status_code == 201, c.text
    out = gate(app_client, lot_, "vehicle.exit", "京H12345", t0 + timedelta(minutes=200)).json()
    assert out["fee_cents"] == out["charged_cents"] == 1000  # 200 - 120 - 60 = 20 billable minutes: one hour
    assert app_client.post(f"/v1/parking/sessions/{entry['session_id']}/validations",
                           json={"merchant": "x", "free_minutes": 30}, headers=bearer(key)).status_code == 409


def test_secret_rotation_keeps_the_old_secret_valid_meanwhile(app_client, lot):
    key, lot_ = lot
    new = app_client.post(f"/v1/parking/lots/{lot_['id']}/rotate-secret", headers=bearer(key)).json()["webhook_secret"]
    assert gate(app_client, lot_, "vehicle.entry", "京J12345", now(), secret=new).status_code == 200
    assert gate(app_client, lot_, "vehicle.entry", "京J22345", now()).status_code == 200  # the old one, still valid
    assert gate(app_client, lot_, "vehicle.entry", "京J32345", now(), secret=new_secret()).status_code == 401


@pytest.mark.parametrize("mutate, status", [
    ({"secret": "whsec_" + "QUFB" * 8}, 401),
    ({"clock_skew_s": -301}, 401),
    ({"clock_skew_s": 301}, 401),
])
def test_bad_signatures_are_refused_and_record_nothing(app_client, lot, mutate, status):
    _, lot_ = lot
    r = gate(app_client, lot_, "vehicle.entry", "京K12345", now(), **mutate)
    assert r.status_code == status and r.json()["error"]["code"] == "bad_signature"
    assert app_client.app.state.engine.parking.lot(lot_["id"]).occupied == 0
    unknown = app_client.post("/v1/parking/lots/lot_nope/gate-events", content=b"{}")
    assert unknown.status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"plate": "京A1234"}, "plate"),
    ({"plate": "ABC1234"}, "plate"),
    ({"confidence": 1.5}, "confidence"),
    ({"type": "vehicle.teleport"}, "type"),
    ({"captured_at": "yesterday"}, "captured_at"),
    ({"captured_at": "2026-11-11T20:00:00"}, "captured_at"),  # no offset
    ({"lane": ""}, "lane"),
])
def test_bad_events_name_their_field_and_record_nothing(app_client, lot, body, field):
    _, lot_ = lot
    ok = {"type": "vehicle.entry", "plate": "京L12345", "confidence": 0.9, "captured_at": now().isoformat(),
          "lane": "lane-1"}
    r = gate(app_client, lot_, None, None, None, raw=json.dumps(ok | body).encode())
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert app_client.app.state.engine.parking.lot(lot_["id"]).occupied == 0


def review_list(client, key, lot_, **params):
    r = client.get(f"/v1/parking/lots/{lot_['id']}/review", headers=bearer(key), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def resolve(client, key, session_id, **body):
    return client.post(f"/v1/parking/sessions/{session_id}/resolution", headers=bearer(key), json=body)


def session_of(client, key, session_id):
    return client.get(f"/v1/parking/sessions/{session_id}", headers=bearer(key)).json()


def test_an_exit_before_its_entry_holds_the_car_for_staff_and_goes_on_the_review_list(app_client, lot, as_city):
    key, lot_ = lot
    bind(app_client, "京M12345")
    t0 = now()
    entry = gate(app_client, lot_, "vehicle.entry", "京M12345", t0).json()
    out = gate(app_client, lot_, "vehicle.exit", "京M12345", t0 - timedelta(minutes=30), webhook_id="msg_x")
    assert out.status_code == 200 and out.json()["decision"] == "pay" and "attendant" in out.json()["message"]
    assert out.json()["session_id"] == entry["session_id"] and out.json()["charged_cents"] == 0
    (item,) = review_list(app_client, key, lot_)["entries"]
    assert (item["reason"], item["session_id"], item["plate"]) == ("exit_before_entry", entry["session_id"], "京M12345")
    again = gate(app_client, lot_, "vehicle.exit", "京M12345", t0 - timedelta(minutes=29))  # a re-read: listed once
    assert again.json()["decision"] == "pay" and len(review_list(app_client, key, lot_)["entries"]) == 1
    assert ledger(app_client, lot_) == [] and session_of(app_client, key, entry["session_id"])["review"] == \
        "exit_before_entry"
    # Nobody can price it: staff set the amount, charged to the account bound at the exit.
    no_fee = resolve(app_client, key, entry["session_id"], action="charge", note="?")
    assert no_fee.status_code == 422 and no_fee.json()["error"]["field"] == "action"
    done = resolve(app_client, key, entry["session_id"], action="adjust", amount_cents=1000, note="1 h per CCTV")
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["charged_cents"], done.json()["review"]) == ("paid", 1000, None)
    assert app_client.app.state.engine.parking.lot(lot_["id"]).occupied == 0
    assert review_list(app_client, key, lot_)["entries"] == []
    assert app_client.app.state.engine.parking.store.audit(lot_["id"]) == []


@pytest.mark.parametrize("event, at", [
    ("vehicle.entry", lambda: now().replace(year=2016)),  # the 2016 camera: would have billed 31,892,000 cents
    ("vehicle.entry", lambda: now().replace(year=2031)),  # the 2031 camera: every exit was a 422
    ("vehicle.entry", lambda: now() + timedelta(minutes=5, seconds=30)),
    ("vehicle.entry", lambda: now() - timedelta(hours=48, minutes=1)),
    ("vehicle.exit", lambda: now() + timedelta(minutes=6)),
    ("vehicle.exit", lambda: now() - timedelta(hours=49)),
])
def test_a_gate_clock_out_of_bounds_is_refused_records_nothing_and_can_be_sent_again(app_client, lot, event, at):
    key, lot_ = lot
    if event == "vehicle.exit":
        gate(app_client, lot_, "vehicle.entry", "京W12345", now() - timedelta(minutes=2))
    bad = gate(app_client, lot_, event, "京W12345", at(), webhook_id="msg_clock")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "captured_at", bad.text
    assert app_client.app.state.engine.parking.lot(lot_["id"]).occupied == (1 if event == "vehicle.exit" else 0)
    assert ledger(app_client, lot_) == [] and review_list(app_client, key, lot_)["entries"] == []
    fixed = gate(app_client, lot_, event, "京W12345", now(), webhook_id="msg_clock")  # the claim was released
    assert fixed.status_code == 200 and fixed.json()["decision"] == "open"


def test_a_gate_clock_within_bounds_is_believed_and_the_backfill_bound_is_the_lots(app_client, sanlitun):
    r = app_client.post("/v1/parking/lots", headers=bearer(sanlitun), json={
        "district_id": SANLITUN.id, "name": "P", "capacity": 9, "location": LOT_AT, "tariff": TARIFF,
        "max_backfill_hours": 72})
    lot_ = r.json()
    assert r.status_code == 201 and (lot_["max_backfill_hours"], lot_["max_auto_charge_cents"]) == (72, 50_000)
    for plate, at in [("京V11111", now() + timedelta(minutes=4, seconds=50)), ("京V22222", now() - timedelta(hours=71))]:
        assert gate(app_client, lot_, "vehicle.entry", plate, at).json()["decision"] == "open"
    assert gate(app_client, lot_, "vehicle.entry", "京V33333", now() - timedelta(hours=73)).status_code == 422


@pytest.fixture
def capped_lot(app_client, sanlitun, as_city):
    """(operator key, lot) with ¥50 as its automatic-charge cap and 10 spaces."""
    r = app_client.post("/v1/parking/lots", headers=bearer(sanlitun), json={
        "district_id": SANLITUN.id, "name": "P", "capacity": 10, "location": LOT_AT, "tariff": TARIFF,
        "max_auto_charge_cents": 5000})
    assert r.status_code == 201 and r.json()["max_auto_charge_cents"] == 5000, r.text
    got = app_client.get(f"/v1/parking/lots/{r.json()['id']}", headers=bearer(sanlitun)).json()
    assert got["max_auto_charge_cents"] == 5000 and got["max_backfill_hours"] == 48
    return sanlitun, r.json()


def held(client, lot_, plate, hours=10):
    """A car bound to an account that stayed ``hours`` (¥80 for 10 h): its exit's answer."""
    bind(client, plate, user=f"u-{plate}", token=f"agr-{plate}")
    t0 = now() - timedelta(hours=hours)
    gate(client, lot_, "vehicle.entry", plate, t0)
    return gate(client, lot_, "vehicle.exit", plate, t0 + timedelta(hours=hours)).json()


def test_a_fee_above_the_lots_cap_is_not_charged_but_resolved_by_staff_each_in_the_ledger(app_client, capped_lot):
    key, lot_ = capped_lot
    parking = app_client.app.state.engine.parking
    outs = [held(app_client, lot_, p) for p in ("京R11111", "京R22222", "京R33333")]
    for out in outs:
        assert (out["decision"], out["fee_cents"], out["charged_cents"]) == ("pay", 8000, 0)
        assert "¥80.00" in out["message"] and "attendant" in out["message"]
    assert ledger(app_client, lot_) == [] and parking.lot(lot_["id"]).occupied == 3
    listed = review_list(app_client, key, lot_)["entries"]
    assert [(e["reason"], e["session_id"], e["fee_cents"]) for e in listed] == [
        ("fee_above_cap", o["session_id"], 8000) for o in reversed(outs)]  # newest first
    page = review_list(app_client, key, lot_, limit=2)
    assert len(page["entries"]) == 2 and page["next_before"] == page["entries"][1]["id"]
    rest = review_list(app_client, key, lot_, limit=2, before=page["next_before"])
    assert [e["session_id"] for e in rest["entries"]] == [outs[0]["session_id"]] and rest["next_before"] is None

    charged = resolve(app_client, key, outs[0]["session_id"], action="charge", note="long stay, checked")
    adjusted = resolve(app_client, key, outs[1]["session_id"], action="adjust", amount_cents=3000, note="complaint")
    waived = resolve(app_client, key, outs[2]["session_id"], action="waive", note="staff car")
    assert [(r.status_code, r.json()["state"], r.json()["charged_cents"]) for r in (charged, adjusted, waived)] == [
        (200, "paid", 8000), (200, "paid", 3000), (200, "waived", 0)]
    assert adjusted.json()["resolution"]["action"] == "adjust" and adjusted.json()["resolution"]["note"] == "complaint"
    booked = [(e["type"], e["session"], e["amount"], e.get("action")) for e in ledger(app_client, lot_)]
    assert booked == [("charge", outs[0]["session_id"], "8000", "charge"),
                      ("charge", outs[1]["session_id"], "3000", "adjust"),
                      ("waive", outs[2]["session_id"], "8000", "waive")]
    assert review_list(app_client, key, lot_)["entries"] == [] and parking.lot(lot_["id"]).occupied == 0
    assert parking.store.audit(lot_["id"]) == []
    store = parking.store  # a resolution booked twice: the audit says so
    store._client.xadd(keys.lot_keys(lot_["id"])["ledger"], {"type": "waive", "session": outs[2]["session_id"],
                                                              "amount": "8000", "resolution": "res_x"})
    assert len(store.audit(lot_["id"])) == 1


def test_a_resolution_sent_twice_is_applied_once(app_client, capped_lot):
    key, lot_ = capped_lot
    out = held(app_client, lot_, "京T12345")
    body = {"action": "adjust", "amount_cents": 4000, "note": "ok", "resolution_id": "desk-1-7"}
    first, again = resolve(app_client, key, out["session_id"], **body), resolve(app_client, key, out["session_id"], **body)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert [e["amount"] for e in ledger(app_client, lot_)] == ["4000"]
    other = resolve(app_client, key, out["session_id"], action="waive", note="x", resolution_id="desk-1-7")
    assert other.status_code == 409 and other.json()["error"]["field"] == "resolution_id"
    late = resolve(app_client, key, out["session_id"], action="waive", note="x")  # a new one: too late
    assert late.status_code == 409 and [e["amount"] for e in ledger(app_client, lot_)] == ["4000"]
    assert app_client.app.state.engine.parking.store.audit(lot_["id"]) == []


def test_a_car_held_for_staff_may_pay_at_the_gate_instead(app_client, capped_lot):
    key, lot_ = capped_lot
    out = held(app_client, lot_, "京U12345")
    r = app_client.post(f"/v1/parking/sessions/{out['session_id']}/paid-at-gate", headers=bearer(key),
                        json={"paid_cents": 8000, "method": "card"})
    assert r.status_code == 200 and r.json()["state"] == "paid" and r.json()["review"] is None
    assert review_list(app_client, key, lot_)["entries"] == []
    assert app_client.app.state.engine.parking.store.audit(lot_["id"]) == []


@pytest.mark.parametrize("body, status, field", [
    ({"action": "adjust", "note": "n"}, 422, "amount_cents"),
    ({"action": "adjust", "amount_cents": 8001, "note": "n"}, 422, "amount_cents"),  # more than the fee
    ({"action": "adjust", "amount_cents": 0, "note": "n"}, 422, "amount_cents"),
    ({"action": "charge", "amount_cents": 10, "note": "n"}, 422, "amount_cents"),
    ({"action": "refund", "note": "n"}, 422, "action"),
    ({"action": "waive", "note": ""}, 422, "note"),
    ({"action": "waive"}, 422, "note"),
    ({"action": "waive", "note": "n", "resolution_id": "x" * 65}, 422, "resolution_id"),
])
def test_a_bad_resolution_names_its_field_and_changes_nothing(app_client, capped_lot, body, status, field):
    key, lot_ = capped_lot
    out = held(app_client, lot_, "京X12345")
    r = resolve(app_client, key, out["session_id"], **body)
    assert r.status_code == status and r.json()["error"]["field"] == field, r.text
    assert ledger(app_client, lot_) == [] and len(review_list(app_client, key, lot_)["entries"]) == 1


def test_resolutions_are_the_lot_owners_and_only_for_sessions_awaiting_staff(app_client, capped_lot):
    key, lot_ = capped_lot
    out = held(app_client, lot_, "京Y12345")
    other = app_client.post("/v1/operators", json={"name": "x"}, headers=bearer(ADMIN)).json()["api_key"]
    assert resolve(app_client, other, out["session_id"], action="waive", note="n").status_code == 404
    assert app_client.get(f"/v1/parking/lots/{lot_['id']}/review", headers=bearer(other)).status_code == 404
    assert resolve(app_client, key, "ses_nope", action="waive", note="n").status_code == 404
    ok = held(app_client, lot_, "京Z12345", hours=2)  # ¥20: charged automatically
    assert ok["decision"] == "open" and ok["charged_cents"] == 2000
    r = resolve(app_client, key, ok["session_id"], action="waive", note="n")
    assert r.status_code == 409 and r.json()["error"]["field"] == "session_id"
    for bad in ({"limit": 0}, {"limit": 501}, {"before": "yesterday"}):
        r = app_client.get(f"/v1/parking/lots/{lot_['id']}/review", headers=bearer(key), params=bad)
        assert r.status_code == 422 and r.json()["error"]["field"] in ("limit", "before"), r.text


def test_a_fee_above_the_cap_with_no_account_is_paid_at_the_gate_or_waived(app_client, capped_lot):
    key, lot_ = capped_lot
    t0 = now() - timedelta(hours=10)
    gate(app_client, lot_, "vehicle.entry", "京S12345", t0)
    out = gate(app_client, lot_, "vehicle.exit", "京S12345", t0 + timedelta(hours=10)).json()
    assert out["decision"] == "pay" and out["fee_cents"] == 8000
    r = resolve(app_client, key, out["session_id"], action="charge", note="n")
    assert r.status_code == 409 and r.json()["error"]["field"] == "action"  # nobody to charge
    assert resolve(app_client, key, out["session_id"], action="waive", note="n").json()["state"] == "waived"


def test_a_plate_is_bound_once_and_unbound_by_its_user(app_client, as_city):
    assert bind(app_client, "粤B12345", user="u1")["plate"] == "粤B12345"
    other = app_client.post("/v1/parking/plates",
                            json={"user_id": "u2", "plate": "粤B 12345", "payment_token": "t"})
    assert other.status_code == 409 and other.json()["error"]["field"] == "plate"
    assert app_client.delete("/v1/parking/plates/粤B12345?user_id=u2").status_code == 404
    assert app_client.delete("/v1/parking/plates/粤B12345?user_id=u1").status_code == 204
    assert app_client.post("/v1/parking/plates", json={"user_id": "u", "plate": "x", "payment_token": "t"}
                           ).json()["error"]["field"] == "plate"
    assert app_client.post("/v1/parking/plates", json={"user_id": "u", "plate": "粤B12345", "payment_token": "t"},
                           headers={"Authorization": ""}).status_code == 401


def test_binding_a_plate_is_one_step_and_a_half_written_binding_is_none(app_client, as_city):
    """Two users bind one plate at once: one binding, whole, and the other told 409. A binding an
    older engine left half written (it bound in two commands, and lost its connection between
    them) is no binding: reads say so, and the next bind replaces it."""
    def attempt(i):
        r = app_client.post("/v1/parking/plates",
                            json={"user_id": f"u{i % 2}", "plate": "粤B54321", "payment_token": f"agr_{i}"})
        return r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(attempt, range(16)))
    assert {code for code, _ in answers} <= {201, 409} and all(code != 500 for code, _ in answers)
    winner = next(body["user_id"] for code, body in answers if code == 201)
    assert all(body["user_id"] == winner for code, body in answers if code == 201)
    parking = app_client.app.state.engine.parking
    held = parking.store.binding("粤B54321")
    assert unscoped_user(held.user_id) == winner and held.payment_token.startswith("agr_") and held.bound_at

    client = app_client.app.state.engine.client
    client.delete(keys.plate_binding("粤B67890"))
    client.hset(keys.plate_binding("粤B67890"), "user_id", "u-lost")  # what the two-command bind could leave
    assert parking.store.binding("粤B67890") is None
    assert bind(app_client, "粤B67890", user="u2")["user_id"] == "u2"
    assert parking.store.binding("粤B67890").payment_token == "agr_1"


class PaymentService:
    """A real local payment gateway: answers 503 while ``down``, else 201; records each request's
    Idempotency-Key and charges each key once."""

    def __init__(self):
        self.down = True
        self.attempts: list[str] = []
        self.charged: dict[str, int] = {}
        svc = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                svc.attempts.append(key)
                status = 503 if svc.down else 201
                if not svc.down:
                    svc.charged.setdefault(key, body["amount_cents"])
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/charges"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def operator_with_lot(client) -> tuple[str, dict]:
    """A new operator owning Sanlitun and a 10-space lot there: (its key, the lot); the client then
    calls as a channel unless told otherwise (plate bindings are a channel's)."""
    key = client.post("/v1/operators", json={"name": "Swire"}, headers=bearer(ADMIN)).json()["api_key"]
    client.headers["Authorization"] = f"Bearer {make_channel(client)['api_key']}"
    client.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(key))
    lot_ = client.post("/v1/parking/lots", headers=bearer(key), json={
        "district_id": SANLITUN.id, "name": "P", "capacity": 10, "location": LOT_AT, "tariff": TARIFF}).json()
    return key, lot_


def test_with_the_payment_gateway_down_cars_leave_unpaid_and_are_charged_once_it_is_back(redis_client):
    pay = PaymentService()
    settings = Settings(admin_token=ADMIN, payment_url=pay.url, payment_secret=new_secret(), parking_retry_s=0.2)
    try:
        with TestClient(create_app(settings, client=redis_client)) as client:
            key, lot_ = operator_with_lot(client)
            plates = ["京N12345", "京N22345", "京N32345"]
            t0 = now() - timedelta(hours=2)
            sessions = []
            for p in plates:
                bind(client, p, user=p)
                sessions.append(gate(client, lot_, "vehicle.entry", p, t0).json()["session_id"])
            exits = [gate(client, lot_, "vehicle.exit", p, t0 + timedelta(hours=2)).json() for p in plates]
            assert all(e["decision"] == "open" and e["charged_cents"] == 0 and "later" in e["message"] for e in exits)
            assert client.app.state.engine.parking.lot(lot_["id"]).occupied == 0  # the cars are out
            states = {client.get(f"/v1/parking/sessions/{s}", headers=bearer(key)).json()["state"] for s in sessions}
            assert states == {"unpaid"}
            pay.down = False  # the gateway recovers; the in-process worker charges again
            deadline = time.monotonic() + 10
            while len(pay.charged) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            states = {client.get(f"/v1/parking/sessions/{s}", headers=bearer(key)).json()["state"] for s in sessions}
            assert states == {"paid"}
            assert sorted(pay.charged) == sorted(sessions) and set(pay.charged.values()) == {2000}
            charges = [e for e in client.app.state.engine.parking.store.ledger(lot_["id"]) if e["type"] == "charge"]
            assert sorted(e["session"] for e in charges) == sorted(sessions)  # each booked once
    finally:
        pay.server.shutdown()


def test_pay_at_gate_policy_asks_the_car_to_pay_when_the_gateway_fails(redis_client):
    pay = PaymentService()
    settings = Settings(admin_token=ADMIN, worker=False, payment_url=pay.url, payment_secret=new_secret(),
                        parking_on_payment_failure="pay_at_gate")
    try:
        with TestClient(create_app(settings, client=redis_client)) as client:
            _, lot_ = operator_with_lot(client)
            bind(client, "京P12345")
            t0 = now() - timedelta(hours=1)
            gate(client, lot_, "vehicle.entry", "京P12345", t0)
            out = gate(client, lot_, "vehicle.exit", "京P12345", t0 + timedelta(hours=1)).json()
            assert out["decision"] == "pay" and out["fee_cents"] == 1000 and pay.attempts
            assert client.app.state.engine.parking.lot(lot_["id"]).occupied == 1
    finally:
        pay.server.shutdown()


def test_the_demo_has_its_lots_and_the_feed_shows_a_parking_offers_live_free_spaces(app_client, tmp_path):
    from district_engine.demo import seed_demo

    engine = app_client.app.state.engine
    api_key = seed_demo(engine, tmp_path)
    assert api_key and seed_demo(engine, tmp_path) is None  # once per store
    assert (tmp_path / "demo_operator_key").stat().st_mode & 0o777 == 0o600
    secrets = json.loads((tmp_path / "demo_lot_secrets.json").read_text())
    lots = app_client.get("/v1/parking/lots", headers=bearer(api_key)).json()
    assert sorted(x["id"] for x in lots) == sorted(secrets) and len(lots) == 6
    near_gz = {"lat": 23.1350, "lng": 113.3300}  # by Taikoo Hui, Guangzhou

    def free_spaces_shown(expected):
        """Wait for the feed to show ``expected`` free spaces: its table is at most a second old,
        and refreshed off the request's path."""
        deadline = time.monotonic() + 30
        while True:
            (offer,) = [o for o in app_client.get("/v1/feed", params=near_gz).json()["offers"] if o["kind"] == "parking"]
            if offer["free_spaces"] == expected or time.monotonic() > deadline:
                return offer
            time.sleep(0.2)

    offer = free_spaces_shown(718)
    assert offer["lot_id"] == "taikoo-hui-gz-p" and offer["free_spaces"] == 718
    lot_ = {"id": "taikoo-hui-gz-p", "webhook_secret": secrets["taikoo-hui-gz-p"]}
    assert gate(app_client, lot_, "vehicle.entry", "粤A12345", now()).json()["decision"] == "open"
    assert free_spaces_shown(717)["free_spaces"] == 717


def test_the_gate_command_signs_an_event_and_prints_the_decision(live_server):
    import httpx
    from typer.testing import CliRunner

    from district_engine.cli import app

    with httpx.Client(base_url=live_server) as http:
        key = http.post("/v1/operators", json={"name": "Swire"}, headers=bearer(ADMIN)).json()["api_key"]
        http.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(key))
        lot_ = http.post("/v1/parking/lots", headers=bearer(key), json={
            "district_id": SANLITUN.id, "name": "P", "capacity": 5, "location": LOT_AT, "tariff": TARIFF}).json()
    runner = CliRunner()
    args = ["gate", lot_["id"], "entry", "京Q12345", "--url", live_server, "--secret", lot_["webhook_secret"],
            "--minutes-ago", "90"]
    entered = runner.invoke(app, args)
    assert entered.exit_code == 0 and '"decision": "open"' in entered.output, entered.output
    left = runner.invoke(app, args[:2] + ["exit", "京Q12345", "--url", live_server, "--secret", lot_["webhook_secret"]])
    assert '"decision": "pay"' in left.output and '"fee_cents": 2000' in left.output  # no bound account: pay
    refused = runner.invoke(app, ["gate", lot_["id"], "entry", "京Q22345", "--url", live_server, "--secret", new_secret()])
    assert refused.exit_code == 1 and "bad_signature" in refused.output


def test_the_demo_leaves_out_a_district_whose_id_another_operator_has(app_client, sanlitun, tmp_path):
    from district_engine.demo import seed_demo

    api_key = seed_demo(app_client.app.state.engine, tmp_path)
    lots = {x["id"] for x in app_client.get("/v1/parking/lots", headers=bearer(api_key)).json()}
    assert len(lots) == 4 and not {"sanlitun-south-p", "sanlitun-north-p"} & lots
    assert app_client.get(f"/v1/districts/{SANLITUN.id}", headers=bearer(sanlitun)).status_code == 200


@pytest.mark.parametrize("before", ["18446744073709551616-0", "0-99999999999999999999"])
def test_a_review_cursor_past_what_redis_takes_is_refused_not_a_500(app_client, lot, before):
    key, lot_ = lot
    r = app_client.get(f"/v1/parking/lots/{lot_['id']}/review", headers=bearer(key), params={"before": before})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "before"), r.text
