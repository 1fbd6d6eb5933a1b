"""Exclusive guides through the HTTP API on a real Redis (a single server and a Cluster): guides,
the members they serve and the window that protects a binding, deactivation with a transfer,
orders and refunds (idempotent, exact), attribution at the order's time, commission reports,
campaign conversions, the audit, and strict input."""

from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from conftest import FAR, NEAR_SANLITUN, SANLITUN, bearer, campaign_body, make_operator, now, user_token
from district_engine import load_demo_districts
from district_engine.cli import app as cli
from district_engine.identity import scoped_user

INDIGO = next(d for d in load_demo_districts() if d.id == "indigo-beijing")


@pytest.fixture
def op(app_client, sanlitun):
    """The operator owning Sanlitun (and INDIGO): the test client calls with its key."""
    assert app_client.post("/v1/districts", json=INDIGO.to_geojson(), headers=bearer(sanlitun)).status_code == 201
    app_client.headers["Authorization"] = f"Bearer {sanlitun}"
    return sanlitun


@pytest.fixture
def operator_id(app_client, op):
    return app_client.get("/v1/operators/me").json()["id"]


@pytest.fixture
def clock(app_client):
    """Moves the guides service's clock: ``clock(days=...)`` shifts it from the real one; returns now."""
    shift = [timedelta(0)]
    guides = app_client.app.state.engine.guides
    guides.clock = lambda: datetime.now(timezone.utc) + shift[0]

    def move(**delta) -> datetime:
        shift[0] = timedelta(**delta)
        return guides.clock()
    return move


def guide(client, name="Ann", bps=300, district_id=SANLITUN.id) -> dict:
    r = client.post("/v1/guides", json={"district_id": district_id, "name": name, "commission_bps": bps})
    assert r.status_code == 201, r.text
    return r.json()


def serve(client, guide_id, channel_id, user_id, at=None):
    return client.post(f"/v1/guides/{guide_id}/members", json={
        "channel_id": channel_id, "user_id": user_id, "served_at": (at or now()).isoformat()})


def order(client, order_id, channel_id, user_id, amount_cents=10_000, sales_channel="store", at=None, **more):
    return client.post("/v1/orders", json={"order_id": order_id, "channel_id": channel_id, "user_id": user_id,
                                           "amount_cents": amount_cents, "sales_channel": sales_channel,
                                           "at": (at or now()).isoformat()} | more)


def refund(client, order_id, refund_id, amount_cents):
    return client.post(f"/v1/orders/{order_id}/refunds", json={"refund_id": refund_id, "amount_cents": amount_cents})


def audit(client, operator_id) -> list[str]:
    return client.app.state.engine.guides.audit(operator_id)[1]


def test_create_get_patch_and_list_guides(app_client, op):
    ann, bob = guide(app_client, "Ann", 300), guide(app_client, "Bob", 500)
    other = guide(app_client, "Cai", 0, INDIGO.id)
    assert ann["id"].startswith("gd_") and ann["active"] is True and ann["deactivated_at"] is None
    assert {k: ann[k] for k in ("district_id", "name", "commission_bps")} == {
        "district_id": SANLITUN.id, "name": "Ann", "commission_bps": 300}
    assert app_client.get(f"/v1/guides/{ann['id']}").json() == ann
    patched = app_client.patch(f"/v1/guides/{ann['id']}", json={"name": "Ann Li", "commission_bps": 450}).json()
    assert (patched["name"], patched["commission_bps"]) == ("Ann Li", 450)
    assert app_client.patch(f"/v1/guides/{ann['id']}", json={}).json() == patched
    listed = app_client.get("/v1/guides", params={"district_id": SANLITUN.id}).json()
    assert sorted(g["id"] for g in listed["guides"]) == sorted([ann["id"], bob["id"]]) and listed["next_cursor"] is None
    pages, cursor = [], None
    while True:
        page = app_client.get("/v1/guides", params={"limit": 1} | ({"cursor": cursor} if cursor else {})).json()
        pages += [g["id"] for g in page["guides"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(pages) == sorted([ann["id"], bob["id"], other["id"]]) and len(pages) == 3
    again = app_client.post("/v1/guides", json={"district_id": SANLITUN.id, "name": "Dee", "commission_bps": 1},
                            headers={"Idempotency-Key": "k-1"})
    replay = app_client.post("/v1/guides", json={"district_id": SANLITUN.id, "name": "Dee", "commission_bps": 1},
                             headers={"Idempotency-Key": "k-1"})
    assert replay.json() == again.json() and replay.headers["idempotent-replayed"] == "true"


def test_a_guide_belongs_to_one_of_the_operators_districts(app_client, op):
    for district_id in ("nope", "hkri-taikoo-hui"):  # unknown; not uploaded by this operator
        r = app_client.post("/v1/guides", json={"district_id": district_id, "name": "Ann", "commission_bps": 1})
        assert r.status_code == 404 and r.json()["error"]["field"] == "district_id"
    other = make_operator(app_client, "Other")
    r = app_client.post("/v1/guides", json={"district_id": SANLITUN.id, "name": "X", "commission_bps": 1},
                        headers=bearer(other))
    assert r.status_code == 404 and r.json()["error"]["field"] == "district_id"


def test_another_operators_guides_and_orders_are_not_found(app_client, op, city):
    ann, bob = guide(app_client), guide(app_client, "Bob")
    assert order(app_client, "o-1", city["id"], "u-1").status_code == 201
    other = bearer(make_operator(app_client, "Other"))
    for method, path, body in [("GET", f"/v1/guides/{ann['id']}", None),
                               ("PATCH", f"/v1/guides/{ann['id']}", {"name": "Mine"}),
                               ("POST", f"/v1/guides/{ann['id']}:deactivate", {"transfer_to": bob["id"]}),
                               ("POST", f"/v1/guides/{ann['id']}/members", {
                                   "channel_id": city["id"], "user_id": "u-1", "served_at": now().isoformat()}),
                               ("GET", f"/v1/guides/{ann['id']}/members", None),
                               ("GET", f"/v1/guides/{ann['id']}/commissions", None),
                               ("POST", "/v1/orders/o-1/refunds", {"refund_id": "r-1", "amount_cents": 1})]:
        r = app_client.request(method, path, json=body, headers=other)
        assert r.status_code == 404, (method, path, r.text)
    assert app_client.get("/v1/guides", headers=other).json()["guides"] == []
    # Order ids are per operator: the other's o-1 is its own order, and changes nothing of ours.
    assert order(app_client, "o-1", city["id"], "u-1", amount_cents=7).status_code == 409
    mine = app_client.post("/v1/orders", headers=other, json={
        "order_id": "o-1", "channel_id": city["id"], "user_id": "u-9", "amount_cents": 7, "sales_channel": "store",
        "at": now().isoformat()})
    assert mine.status_code == 201 and mine.json()["guide_id"] is None
    assert app_client.get(f"/v1/guides/{ann['id']}").json()["name"] == "Ann"


def test_a_member_is_one_guides_and_another_guide_gets_a_409_naming_it(app_client, op, city):
    ann, bob = guide(app_client, "Ann"), guide(app_client, "Bob")
    first = serve(app_client, ann["id"], city["id"], "u-1")
    assert first.status_code == 200 and first.json()["outcome"] == "bound" and first.json()["guide_id"] == ann["id"]
    taken = serve(app_client, bob["id"], city["id"], "u-1")
    assert taken.status_code == 409, taken.text
    assert taken.json()["guide_id"] == ann["id"] and taken.json()["error"]["code"] == "member_bound"
    assert serve(app_client, ann["id"], city["id"], "u-1").json()["outcome"] == "renewed"
    assert serve(app_client, bob["id"], city["id"], "u-2").json()["outcome"] == "bound"
    members = app_client.get(f"/v1/guides/{ann['id']}/members").json()
    assert [(m["channel_id"], m["user_id"]) for m in members["members"]] == [(city["id"], "u-1")]
    assert [m["user_id"] for m in app_client.get(f"/v1/guides/{bob['id']}/members").json()["members"]] == ["u-2"]
    # The same user id of another channel is another member.
    other_channel = app_client.post("/v1/channels", json={"name": "Other"}, headers=bearer("test-admin-token")).json()
    assert serve(app_client, bob["id"], other_channel["id"], "u-1").json()["outcome"] == "bound"
    missing = serve(app_client, ann["id"], "ch_nope", "u-1")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "channel_id"
    for at in (now() + timedelta(minutes=6), now() - timedelta(days=366)):
        r = serve(app_client, ann["id"], city["id"], "u-3", at)
        assert r.status_code == 422 and r.json()["error"]["field"] == "served_at", r.text


def test_members_are_paged(app_client, op, city):
    ann = guide(app_client)
    for i in range(7):
        assert serve(app_client, ann["id"], city["id"], f"u-{i}").status_code == 200
    seen, cursor = [], None
    while True:
        page = app_client.get(f"/v1/guides/{ann['id']}/members",
                              params={"limit": 3} | ({"cursor": cursor} if cursor else {})).json()
        seen += [m["user_id"] for m in page["members"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(seen) == [f"u-{i}" for i in range(7)]
    assert app_client.get(f"/v1/guides/{ann['id']}/members", params={"limit": 0}).status_code == 422


def test_a_binding_moves_once_its_guide_has_not_served_the_member_for_the_window(app_client, op, city, clock):
    ann, bob = guide(app_client, "Ann"), guide(app_client, "Bob")
    assert serve(app_client, ann["id"], city["id"], "u-1", clock(days=0)).json()["outcome"] == "bound"
    later = clock(days=300)  # Ann's last service: 300 days ago; Bob is refused
    assert serve(app_client, bob["id"], city["id"], "u-1", later).status_code == 409
    moved = serve(app_client, bob["id"], city["id"], "u-1", clock(days=366))
    assert moved.status_code == 200 and moved.json()["outcome"] == "moved", moved.text
    assert app_client.get(f"/v1/guides/{ann['id']}/members").json()["members"] == []
    assert app_client.app.state.engine.guides.current_guides(
        app_client.get("/v1/operators/me").json()["id"], [scoped_user(city["id"], "u-1")]) == [bob["id"]]


def test_a_late_reported_order_goes_to_the_guide_who_held_the_member_then(app_client, op, city, clock, operator_id):
    ann, bob = guide(app_client, "Ann", 1000), guide(app_client, "Bob", 2000)
    serve(app_client, ann["id"], city["id"], "u-1", clock(days=0))
    taken_at = clock(days=370)
    assert serve(app_client, bob["id"], city["id"], "u-1", taken_at).json()["outcome"] == "moved"
    before = order(app_client, "o-before", city["id"], "u-1", 10_000, at=taken_at - timedelta(hours=1)).json()
    after = order(app_client, "o-after", city["id"], "u-1", 10_000, at=taken_at + timedelta(minutes=1)).json()
    assert (before["guide_id"], before["commission_cents"]) == (ann["id"], 1000)
    assert (after["guide_id"], after["commission_cents"]) == (bob["id"], 2000)
    # A member bound after the order's time earns nobody anything for it.
    serve(app_client, ann["id"], city["id"], "u-2", taken_at)
    early = order(app_client, "o-early", city["id"], "u-2", 10_000, at=taken_at - timedelta(hours=2)).json()
    assert (early["guide_id"], early["commission_cents"]) == (None, 0)
    # Commission is earned on every sales channel.
    for i, channel in enumerate(("store", "cloud_store", "flagship")):
        r = order(app_client, f"o-{channel}", city["id"], "u-1", 999, channel, at=taken_at).json()
        assert (r["guide_id"], r["commission_cents"]) == (bob["id"], 199)
    # Older than DE_ORDER_MAX_AGE_DAYS (30), or ahead of the clock: refused, naming `at`.
    for at in (taken_at - timedelta(days=31), taken_at + timedelta(minutes=6)):
        r = order(app_client, "o-odd", city["id"], "u-1", 100, at=at)
        assert r.status_code == 422 and r.json()["error"]["field"] == "at", r.text
    assert audit(app_client, operator_id) == []


def test_a_guide_who_leaves_hands_every_member_to_its_successor_and_keeps_its_commissions(
        app_client, op, city, operator_id):
    ann, bob, cai = guide(app_client, "Ann", 1000), guide(app_client, "Bob", 500), guide(app_client, "Cai", 100)
    served = now() - timedelta(days=1)
    for user in ("u-1", "u-2", "u-3"):
        serve(app_client, ann["id"], city["id"], user, served)
    sold = order(app_client, "o-1", city["id"], "u-1", 10_000, at=now() - timedelta(hours=2)).json()
    assert sold["guide_id"] == ann["id"]
    for body, status, field in [({"transfer_to": ann["id"]}, 422, "transfer_to"),
                                ({"transfer_to": "gd_nope"}, 404, "transfer_to")]:
        r = app_client.post(f"/v1/guides/{ann['id']}:deactivate", json=body)
        assert r.status_code == status and r.json()["error"]["field"] == field, r.text
    gone = app_client.post(f"/v1/guides/{ann['id']}:deactivate", json={"transfer_to": bob["id"]})
    assert gone.status_code == 200, gone.text
    assert gone.json()["active"] is False and gone.json()["transfer_to"] == bob["id"] and gone.json()["deactivated_at"]
    again = app_client.post(f"/v1/guides/{ann['id']}:deactivate", json={"transfer_to": bob["id"]})
    assert again.status_code == 200 and again.json() == gone.json()
    assert app_client.post(f"/v1/guides/{ann['id']}:deactivate", json={"transfer_to": cai["id"]}).status_code == 409
    assert app_client.get(f"/v1/guides/{ann['id']}/members").json()["members"] == []
    assert sorted(m["user_id"] for m in app_client.get(f"/v1/guides/{bob['id']}/members").json()["members"]) == [
        "u-1", "u-2", "u-3"]
    # Orders from now on are Bob's; one dated before Ann left (reported late) is still Ann's.
    assert order(app_client, "o-2", city["id"], "u-2", 10_000).json()["guide_id"] == bob["id"]
    late = order(app_client, "o-3", city["id"], "u-3", 10_000, at=now() - timedelta(hours=1)).json()
    assert (late["guide_id"], late["commission_cents"]) == (ann["id"], 1000)
    report = app_client.get(f"/v1/guides/{ann['id']}/commissions").json()
    assert (report["orders"], report["commission_cents"]) == (2, 2000)
    # Ann takes nobody any more, and cannot be changed; Bob's members are protected from Cai.
    r = serve(app_client, ann["id"], city["id"], "u-9")
    assert r.status_code == 409 and r.json()["error"]["code"] == "guide_inactive"
    assert app_client.patch(f"/v1/guides/{ann['id']}", json={"commission_bps": 1}).status_code == 409
    assert serve(app_client, cai["id"], city["id"], "u-1").json()["guide_id"] == bob["id"]
    # Nobody may go to a guide who left.
    r = app_client.post(f"/v1/guides/{cai['id']}:deactivate", json={"transfer_to": ann["id"]})
    assert r.status_code == 409 and r.json()["error"]["field"] == "transfer_to"
    assert audit(app_client, operator_id) == []


def test_an_order_sent_again_answers_the_same_and_another_body_is_a_409(app_client, op, city, operator_id):
    ann = guide(app_client, "Ann", 250)
    serve(app_client, ann["id"], city["id"], "u-1")
    at = now()
    first = order(app_client, "o-1", city["id"], "u-1", 12_345, "flagship", at=at)
    again = order(app_client, "o-1", city["id"], "u-1", 12_345, "flagship", at=at.astimezone(timezone(timedelta(
        hours=8))))  # the same instant in another offset is the same body
    assert first.status_code == again.status_code == 201 and first.json() == again.json() == {
        "order_id": "o-1", "guide_id": ann["id"], "commission_cents": 308, "campaign_id": None}
    for change in ({"amount_cents": 12_346}, {"sales_channel": "store"}, {"user_id": "u-2"},
                   {"at": (at - timedelta(seconds=1)).isoformat()}, {"district_id": SANLITUN.id}):
        body = {"order_id": "o-1", "channel_id": city["id"], "user_id": "u-1", "amount_cents": 12_345,
                "sales_channel": "flagship", "at": at.isoformat()} | change
        r = app_client.post("/v1/orders", json=body)
        assert r.status_code == 409 and r.json()["error"]["code"] == "order_conflict", (change, r.text)
    figures, problems = app_client.app.state.engine.guides.audit(operator_id)
    assert problems == [] and figures["orders"] == 1 and figures["commission_cents"] == 308
    missing = order(app_client, "o-2", "ch_nope", "u-1")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "channel_id"
    bad_store = order(app_client, "o-3", city["id"], "u-1", district_id="hkri-taikoo-hui")
    assert bad_store.status_code == 404 and bad_store.json()["error"]["field"] == "district_id"
    assert order(app_client, "o-4", city["id"], "u-1", district_id=SANLITUN.id).status_code == 201


def test_refunds_reverse_commission_in_proportion_exactly_and_once(app_client, op, city, operator_id):
    ann = guide(app_client, "Ann", 500)
    serve(app_client, ann["id"], city["id"], "u-1")
    assert order(app_client, "o-1", city["id"], "u-1", 10_001).json()["commission_cents"] == 500
    half = refund(app_client, "o-1", "r-1", 5_000)
    assert half.status_code == 201 and half.json() == {
        "refund_id": "r-1", "order_id": "o-1", "amount_cents": 5_000, "commission_reversed_cents": 249,
        "order_refunded_cents": 5_000, "order_commission_cents": 251}
    assert refund(app_client, "o-1", "r-1", 5_000).json() == half.json()  # sent again: the same, once
    conflict = refund(app_client, "o-1", "r-1", 4_000)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "refund_conflict"
    over = refund(app_client, "o-1", "r-2", 5_002)
    assert over.status_code == 422 and over.json()["error"]["field"] == "amount_cents"
    rest = refund(app_client, "o-1", "r-3", 5_001).json()
    assert (rest["commission_reversed_cents"], rest["order_commission_cents"]) == (251, 0)  # exactly all of it
    assert refund(app_client, "o-1", "r-4", 1).status_code == 422
    missing = refund(app_client, "o-nope", "r-5", 1)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "order_id"
    report = app_client.get(f"/v1/guides/{ann['id']}/commissions").json()
    assert (report["orders"], report["revenue_cents"], report["commission_cents"]) == (0, 0, 0)
    figures, problems = app_client.app.state.engine.guides.audit(operator_id)
    assert problems == [] and (figures["commission_cents"], figures["reversed_cents"]) == (500, 500)


def test_the_commission_report_counts_orders_of_its_range_net_of_refunds(app_client, op, city):
    ann = guide(app_client, "Ann", 1000)
    start = now() - timedelta(days=10)
    serve(app_client, ann["id"], city["id"], "u-1", start)
    sales = [("o-1", 10_000, "store", 9), ("o-2", 20_000, "cloud_store", 5), ("o-3", 30_000, "flagship", 5),
             ("o-4", 40_000, "flagship", 1)]
    for order_id, amount, channel, days_ago in sales:
        assert order(app_client, order_id, city["id"], "u-1", amount, channel,
                     at=now() - timedelta(days=days_ago)).status_code == 201
    refund(app_client, "o-2", "r-1", 20_000)  # in full: no longer counted as an order
    refund(app_client, "o-3", "r-2", 10_000)
    report = app_client.get(f"/v1/guides/{ann['id']}/commissions").json()
    assert (report["orders"], report["revenue_cents"], report["commission_cents"]) == (3, 70_000, 7_000)
    span = datetime.fromisoformat(report["to"]) - datetime.fromisoformat(report["from"])
    assert span == timedelta(days=30) and report["guide_id"] == ann["id"]
    assert report["by_sales_channel"] == {
        "store": {"orders": 1, "revenue_cents": 10_000, "commission_cents": 1_000},
        "cloud_store": {"orders": 0, "revenue_cents": 0, "commission_cents": 0},
        "flagship": {"orders": 2, "revenue_cents": 60_000, "commission_cents": 6_000}}
    window = {"from": (now() - timedelta(days=6)).isoformat(), "to": (now() - timedelta(days=2)).isoformat()}
    ranged = app_client.get(f"/v1/guides/{ann['id']}/commissions", params=window).json()
    assert (ranged["orders"], ranged["revenue_cents"], ranged["commission_cents"]) == (1, 20_000, 2_000)
    for params, field in [({"from": now().isoformat(), "to": (now() - timedelta(days=1)).isoformat()}, "from"),
                          ({"from": (now() - timedelta(days=400)).isoformat(), "to": now().isoformat()}, "to"),
                          ({"from": "2026-11-01T00:00:00"}, "from")]:
        r = app_client.get(f"/v1/guides/{ann['id']}/commissions", params=params)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


def test_campaign_stats_count_the_orders_the_campaign_converted(app_client, op, city, operator_id):
    campaign = app_client.post("/v1/campaigns", json=campaign_body()).json()
    other_op = make_operator(app_client, "Other")
    assert app_client.post("/v1/districts", json=INDIGO.to_geojson() | {"properties": INDIGO.to_geojson()[
        "properties"] | {"id": "elsewhere"}}, headers=bearer(other_op)).status_code == 201
    foreign = app_client.post("/v1/campaigns", json=campaign_body(district_id="elsewhere"),
                              headers=bearer(other_op)).json()
    longer = app_client.post("/v1/campaigns", json=campaign_body(title="Ten days", attribution_days=10)).json()
    given_ms = int((now() - timedelta(hours=1)).timestamp() * 1000)
    eight_days_before = given_ms - 8 * 86_400_000
    gifts = {scoped_user(city["id"], "u-1"): {campaign["id"]: given_ms, foreign["id"]: given_ms + 1000},
             scoped_user(city["id"], "u-2"): {campaign["id"]: eight_days_before},  # beyond its 7 days
             scoped_user(city["id"], "u-3"): {campaign["id"]: eight_days_before + 1, longer["id"]: eight_days_before}}
    app_client.app.state.engine.guides.gifts_of = lambda user: gifts.get(user, {})
    converted = order(app_client, "o-1", city["id"], "u-1", 10_000).json()
    assert converted["campaign_id"] == campaign["id"]  # the other operator's later offer is not ours
    assert order(app_client, "o-2", city["id"], "u-1", 5_000).json()["campaign_id"] == campaign["id"]
    assert order(app_client, "o-3", city["id"], "u-2", 5_000).json()["campaign_id"] is None
    assert order(app_client, "o-5", city["id"], "u-3", 5_000).json()["campaign_id"] == longer["id"]
    early = order(app_client, "o-4", city["id"], "u-1", 5_000, at=now() - timedelta(hours=2)).json()
    assert early["campaign_id"] is None  # sold before the offer was given

    def stats():
        s = app_client.get(f"/v1/campaigns/{campaign['id']}/stats").json()
        return s["conversions"], s["revenue_cents"]
    assert stats() == (2, 15_000)
    refund(app_client, "o-1", "r-1", 4_000)
    assert stats() == (2, 11_000)
    refund(app_client, "o-2", "r-2", 5_000)
    assert stats() == (1, 6_000)
    foreign_stats = app_client.get(f"/v1/campaigns/{foreign['id']}/stats", headers=bearer(other_op)).json()
    assert (foreign_stats["conversions"], foreign_stats["revenue_cents"]) == (0, 0)
    assert audit(app_client, operator_id) == []


def test_the_audit_is_clean_after_a_day_of_business_and_finds_a_tampered_total(
        app_client, op, city, operator_id, redis_url, redis_client):
    ann, bob = guide(app_client, "Ann", 700), guide(app_client, "Bob", 300)
    for i in range(6):
        serve(app_client, (ann, bob)[i % 2]["id"], city["id"], f"u-{i}")
        order(app_client, f"o-{i}", city["id"], f"u-{i}", 1_000 + i * 333, ("store", "cloud_store", "flagship")[i % 3])
    refund(app_client, "o-1", "r-1", 500)
    refund(app_client, "o-2", "r-2", 1_666)
    app_client.post(f"/v1/guides/{ann['id']}:deactivate", json={"transfer_to": bob["id"]})
    order(app_client, "o-9", city["id"], "u-0", 999)
    env = {"DE_REDIS_URL": redis_url, "COLUMNS": "200"}
    ok = CliRunner().invoke(cli, ["guides", "audit", operator_id], env=env)
    assert ok.exit_code == 0 and "reconciles" in ok.output, ok.output
    assert CliRunner().invoke(cli, ["guides", "audit"], env=env).exit_code == 0  # every operator
    redis_client.hincrby(f"{{gd:{operator_id}}}:totals", f"g:{bob['id']}:commission_cents", 1)
    bad = CliRunner().invoke(cli, ["guides", "audit", operator_id], env=env)
    assert bad.exit_code == 1 and "commission_cents" in bad.output, bad.output
    assert any(f"g:{bob['id']}:commission_cents" in p for p in audit(app_client, operator_id))


@pytest.mark.parametrize("field, value", [
    ("amount_cents", True), ("amount_cents", "100"), ("amount_cents", 1.5), ("amount_cents", 0),
    ("amount_cents", 1_000_000_001), ("sales_channel", "online"), ("order_id", "a/b"), ("order_id", ""),
    ("at", "2026-11-11T20:00:00"), ("user_id", "u\x00"), ("surprise", 1)])
def test_an_order_is_taken_as_sent_or_refused_naming_the_field(app_client, op, city, field, value):
    body = {"order_id": "o-1", "channel_id": city["id"], "user_id": "u-1", "amount_cents": 100,
            "sales_channel": "store", "at": now().isoformat()} | {field: value}
    r = app_client.post("/v1/orders", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    if field == "sales_channel":
        assert all(c in r.json()["error"]["message"] for c in ("store", "cloud_store", "flagship"))


@pytest.mark.parametrize("body, field", [
    ({"commission_bps": True}, "commission_bps"), ({"commission_bps": "300"}, "commission_bps"),
    ({"commission_bps": 10_001}, "commission_bps"), ({"commission_bps": -1}, "commission_bps"),
    ({"name": ""}, "name"), ({"name": "Ann\x1b"}, "name")])
def test_a_guide_is_taken_as_sent_or_refused_naming_the_field(app_client, op, body, field):
    r = app_client.post("/v1/guides", json={"district_id": SANLITUN.id, "name": "Ann", "commission_bps": 300} | body)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    ann = guide(app_client)
    r = app_client.patch(f"/v1/guides/{ann['id']}", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


def test_a_refund_is_taken_as_sent(app_client, op, city):
    order(app_client, "o-1", city["id"], "u-1", 100)
    for body, field in [({"refund_id": "r-1", "amount_cents": False}, "amount_cents"),
                        ({"refund_id": "r-1", "amount_cents": "5"}, "amount_cents"),
                        ({"refund_id": "r-1", "amount_cents": 0}, "amount_cents"),
                        ({"refund_id": "r 1", "amount_cents": 1}, "refund_id")]:
        r = app_client.post("/v1/orders/o-1/refunds", json=body)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)


def test_an_offer_delivered_on_a_location_update_converts_the_order_that_follows(app_client, op, city):
    """The gift times are the deliveries' own (DeliveryStore.gifts): no stand-in."""
    campaign = app_client.post("/v1/campaigns", json=campaign_body()).json()
    offered = app_client.post("/v1/locations", headers=bearer(city["api_key"]),
                              json={"user_id": "u-7", "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}).json()
    assert [o["campaign_id"] for o in offered["new_offers"]] == [campaign["id"]]
    assert order(app_client, "o-1", city["id"], "u-7", 2_000).json()["campaign_id"] == campaign["id"]
    assert order(app_client, "o-2", city["id"], "u-8", 2_000).json()["campaign_id"] is None  # never offered
    assert app_client.get(f"/v1/campaigns/{campaign['id']}/stats").json()["conversions"] == 1


def test_a_members_only_campaign_reaches_its_stores_members_wherever_they_are(app_client, op, city):
    """The guides service is the member directory of the channel and broadcast services (engine.py)."""
    ann = guide(app_client)
    serve(app_client, ann["id"], city["id"], "member")
    campaign = app_client.post("/v1/campaigns", json=campaign_body(audience="members")).json()

    def offers(user, lat, lng):
        r = app_client.post("/v1/locations", headers=bearer(city["api_key"]),
                            json={"user_id": user, "lat": lat, "lng": lng})
        assert r.status_code == 200, r.text
        return [o["campaign_id"] for o in r.json()["new_offers"]]
    assert offers("member", *FAR) == [campaign["id"]]
    assert offers("stranger", *FAR) == [] and offers("stranger", *NEAR_SANLITUN) == []


def test_a_members_only_campaign_goes_live_to_every_member_of_its_store_and_is_in_their_feed_only(
        app_client, op, city):
    """Go-live pushes it to each member of the store's guides, with the distance from the member's
    last position (null when none is known); the feed lists it first for a member asking with a
    credential for that user, and never for anyone else."""
    import json

    engine = app_client.app.state.engine
    ann, cai = guide(app_client), guide(app_client, "Cai", 100, INDIGO.id)
    for user in ("near", "far", "unseen"):
        assert serve(app_client, ann["id"], city["id"], user).status_code == 200
    assert serve(app_client, cai["id"], city["id"], "indigo-member").status_code == 200
    for user, (lat, lng) in (("near", NEAR_SANLITUN), ("far", FAR), ("indigo-member", NEAR_SANLITUN),
                             ("stranger", NEAR_SANLITUN)):
        app_client.post("/v1/locations", headers=bearer(city["api_key"]), json={"user_id": user, "lat": lat, "lng": lng})
    campaign = app_client.post("/v1/campaigns", json=campaign_body(audience="members")).json()
    assert engine.jobs.run_due_jobs() == 1
    while engine.broadcasts.fan_out("test-worker"):
        pass

    def pushed(user):
        events = [json.loads(p)["data"] for _, p in engine.stores.deliveries.events_after(scoped_user(city["id"], user), None)]
        return [(e["campaign_id"], e["reason"], e["distance_m"]) for e in events]
    assert pushed("near") == [(campaign["id"], "member", pytest.approx(270, abs=30))]
    assert pushed("far") == [(campaign["id"], "member", pytest.approx(1_066_000, rel=0.01))]
    assert pushed("unseen") == [(campaign["id"], "member", None)]
    assert pushed("indigo-member") == pushed("stranger") == []
    assert app_client.get(f"/v1/campaigns/{campaign['id']}/stats").json()["unique_users"] == 3
    # Given at go-live: a location update does not give it again.
    again = app_client.post("/v1/locations", headers=bearer(city["api_key"]),
                            json={"user_id": "near", "lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]})
    assert again.json()["new_offers"] == []

    del app_client.headers["Authorization"]  # the operator's, until here

    def feed(user=None, key=None):
        params = {"lat": FAR[0], "lng": FAR[1]} | ({"user_id": user} if user else {})
        r = app_client.get("/v1/feed", params=params, headers={"Authorization": f"Bearer {key}"} if key else {})
        return r.status_code, [o["campaign_id"] for o in r.json().get("offers", [])]
    assert feed("far", city["api_key"]) == (200, [campaign["id"]])
    assert feed("stranger", city["api_key"]) == feed("far") == feed() == (200, [])  # no credential: public
    assert feed("far", "made-up")[0] == 401 and feed("far", op)[0] == 403
    member_token = user_token(city, "far")
    assert feed("far", member_token) == (200, [campaign["id"]]) and feed("near", member_token)[0] == 403
    near = app_client.get("/v1/feed", params={"lat": NEAR_SANLITUN[0], "lng": NEAR_SANLITUN[1]}).json()["offers"]
    assert near == []  # by place, nobody sees it


@pytest.mark.parametrize("field, value", [("at", 1796034184), ("at", "1796034184"), ("at", 1796034184.5),
                                          ("served_at", 1796034184)])
def test_times_are_rfc_3339_text_never_a_number_of_seconds(app_client, op, city, field, value):
    ann = guide(app_client)
    if field == "at":
        r = app_client.post("/v1/orders", json={"order_id": "o-1", "channel_id": city["id"], "user_id": "u",
                                                "amount_cents": 100, "sales_channel": "store", "at": value})
    else:
        r = app_client.post(f"/v1/guides/{ann['id']}/members",
                            json={"channel_id": city["id"], "user_id": "u", "served_at": value})
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


@pytest.mark.parametrize("params, field", [({"to": "0001-01-10T00:00:00Z"}, "to"),
                                           ({"to": "0001-01-01T00:00:00+14:00"}, "to"),
                                           ({"to": "9999-12-31T23:59:59-14:00"}, "to"),
                                           ({"from": "1796034191"}, "from"),
                                           ({"from": "2020-01-01T00:00:00Z"}, "from")])
def test_a_commission_report_out_of_any_calendar_is_a_422_naming_its_field(app_client, op, params, field):
    r = app_client.get(f"/v1/guides/{guide(app_client)['id']}/commissions", params=params)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


@pytest.mark.parametrize("order_id", [".", "..", "...", "-x"])
def test_an_order_id_is_a_path_segment_of_its_own(app_client, op, city, order_id):
    r = order(app_client, order_id, city["id"], "u")
    assert r.status_code == 422 and r.json()["error"]["field"] == "order_id", r.text


def test_members_reach_reads_an_operators_inactive_guides_only_when_they_changed(app_client, op, city):
    """Every location update reads the members' guides while a members-only campaign is live: the
    operator's inactive guides (every guide who ever left) are read again only after a change."""
    guides = app_client.app.state.engine.guides
    ann, bob = guide(app_client, "Ann"), guide(app_client, "Bob")
    serve(app_client, ann["id"], city["id"], "m")
    operator_id = app_client.get("/v1/operators/me").json()["id"]
    member = scoped_user(city["id"], "m")
    assert guides.current_guides(operator_id, [member]) == [ann["id"]]
    client = guides.store._client
    calls = []
    original = client.hgetall
    client.hgetall = lambda *a, **kw: calls.append(a) or original(*a, **kw)
    try:
        for _ in range(3):
            assert guides.current_guides(operator_id, [member]) == [ann["id"]]
        assert calls == []
        assert app_client.post(f"/v1/guides/{ann['id']}:deactivate", json={"transfer_to": bob["id"]}).status_code == 200
        assert guides.current_guides(operator_id, [member]) == [bob["id"]] and len(calls) == 1
    finally:
        client.hgetall = original
