"""The console's Guides panel and campaign conversions in Chromium, against the real app: a guide made
in the panel, its member and commission appearing after a service and an order recorded through the
API, the API's error at its field, a guide who leaves handing its members over, and a campaign's
conversions beside its delivered count."""
# ruff: noqa: F811 - the fixtures imported from console_page are the tests' parameters

import json
from datetime import datetime, timezone

from playwright.sync_api import expect

from console_page import ARTIFACTS, browser, console, page, sign_in  # noqa: F401 - fixtures

SANLITUN = "sanlitun-taikoo-li"
NEAR_SANLITUN = (39.9300, 116.4470)  # (lat, lng), about 270 m from the footprint
# The panel polls every 5 s and a busy 2-core machine is slow: an upper bound on the wait, not a pace.
POLLED_MS = 60_000


def _now():
    return datetime.now(timezone.utc)


def _channel_id(tmp_path) -> str:
    return json.loads((tmp_path / "demo_channel.json").read_text())["id"]


def _open_sanlitun(page, console):
    sign_in(page, console)
    page.click(f'#district-list [data-district-id="{SANLITUN}"]')
    expect(page.locator("#guide-list")).to_have_attribute("data-district", SANLITUN)
    expect(page.locator("#campaign-list")).to_have_attribute("data-district", SANLITUN)


def _guide(console, name, bps=300, district_id=SANLITUN) -> dict:
    r = console.api.post("/v1/guides", json={"district_id": district_id, "name": name, "commission_bps": bps})
    assert r.status_code == 201, r.text
    return r.json()


def _serve(console, guide_id, channel_id, user_id):
    r = console.api.post(f"/v1/guides/{guide_id}/members", json={
        "channel_id": channel_id, "user_id": user_id, "served_at": _now().isoformat()})
    assert r.status_code == 200, r.text


def _order(console, order_id, channel_id, user_id, amount_cents, sales_channel="store") -> dict:
    r = console.api.post("/v1/orders", json={"order_id": order_id, "channel_id": channel_id, "user_id": user_id,
                                             "amount_cents": amount_cents, "sales_channel": sales_channel,
                                             "at": _now().isoformat()})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_guide_made_in_the_panel_shows_its_member_and_this_months_commission(page, console, tmp_path):
    channel_id = _channel_id(tmp_path)
    _open_sanlitun(page, console)
    expect(page.locator("#guide-list")).to_contain_text("No guides in this store yet")
    page.click("#new-guide")
    page.fill("#guide-form [name=name]", "Li Na")
    page.fill("#guide-form [name=commission_bps]", "300")
    page.click("#guide-form button[type=submit]")
    item = page.locator("#guide-list li[data-guide-id]", has_text="Li Na")
    expect(item.locator(".bps")).to_have_text("3.00%")
    expect(item.locator(".member-count")).to_have_text("0")
    expect(item.locator(".month-commission")).to_have_text("¥0.00")
    guide_id = item.get_attribute("data-guide-id")
    stored = console.api.get(f"/v1/guides/{guide_id}").json()
    assert (stored["district_id"], stored["name"], stored["commission_bps"], stored["active"]) == (
        SANLITUN, "Li Na", 300, True)

    _serve(console, guide_id, channel_id, "u-10086")  # the guide's digital tool records a service
    expect(item.locator(".member-count")).to_have_text("1", timeout=POLLED_MS)
    item.locator("[data-action=members]").click()
    expect(item.locator(f'[data-member="{channel_id}:u-10086"]')).to_contain_text("u-10086")

    answer = _order(console, "SLT-000042", channel_id, "u-10086", 129_900, "cloud_store")  # bought online, later
    assert (answer["guide_id"], answer["commission_cents"]) == (guide_id, 3_897)
    expect(item.locator(".month-commission")).to_have_text("¥38.97", timeout=POLLED_MS)
    expect(item.locator(".month-orders")).to_have_text("1")
    expect(item.locator(".month-revenue")).to_have_text("¥1299.00")
    _serve(console, guide_id, channel_id, "u-10087")  # the open member list follows too
    expect(item.locator(f'[data-member="{channel_id}:u-10087"]')).to_be_visible(timeout=POLLED_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#guides").screenshot(path=str(ARTIFACTS / "console-guides.png"))


def test_a_bad_field_shows_its_error_at_the_guide_forms_field_and_nothing_is_written(page, console):
    _open_sanlitun(page, console)
    page.click("#new-guide")
    page.fill("#guide-form [name=name]", "Too generous")
    page.fill("#guide-form [name=commission_bps]", "20000")
    page.click("#guide-form button[type=submit]")
    expect(page.locator('#guide-form [data-error-for="commission_bps"]')).to_contain_text("10")
    expect(page.locator("#guide-form [name=commission_bps]")).to_have_class("invalid")
    assert page.locator('#guide-form [data-error-for="name"]').inner_text() == ""
    page.fill("#guide-form [name=name]", "   ")  # blank
    page.fill("#guide-form [name=commission_bps]", "300")
    page.click("#guide-form button[type=submit]")
    expect(page.locator('#guide-form [data-error-for="name"]')).not_to_be_empty()
    assert console.api.get("/v1/guides").json()["guides"] == []


def test_a_guide_who_leaves_hands_its_members_to_the_guide_chosen(page, console, tmp_path):
    channel_id = _channel_id(tmp_path)
    ann, bob = _guide(console, "Ann"), _guide(console, "Bob", 500)
    for user in ("u-1", "u-2", "u-3"):
        _serve(console, ann["id"], channel_id, user)
    _open_sanlitun(page, console)
    ann_item = page.locator(f'#guide-list [data-guide-id="{ann["id"]}"]')
    bob_item = page.locator(f'#guide-list [data-guide-id="{bob["id"]}"]')
    expect(ann_item.locator(".member-count")).to_have_text("3")
    expect(bob_item.locator(".member-count")).to_have_text("0")
    ann_item.locator("[data-action=deactivate]").click()
    form = ann_item.locator("form.leaving")
    expect(form.locator("[name=transfer_to] option")).to_have_count(1)  # Bob, the only other active guide
    form.locator("[name=transfer_to]").select_option(bob["id"])
    form.locator("button[type=submit]").click()
    expect(ann_item.locator("[data-active]")).to_have_attribute("data-active", "false")
    expect(ann_item).to_contain_text("members went to Bob")
    expect(ann_item.locator("[data-action=deactivate]")).to_have_count(0)
    expect(bob_item.locator(".member-count")).to_have_text("3")
    expect(ann_item.locator(".member-count")).to_have_text("0")
    left = console.api.get(f"/v1/guides/{ann['id']}").json()
    assert (left["active"], left["transfer_to"]) == (False, bob["id"])


def test_a_campaigns_conversions_and_revenue_show_beside_its_delivered_count(page, console, tmp_path):
    channel_id = _channel_id(tmp_path)
    guide = _guide(console, "Ann")
    _serve(console, guide["id"], channel_id, "u-7")
    lat, lng = NEAR_SANLITUN
    r = console.channel.post("/v1/locations", json={"user_id": "u-7", "lat": lat, "lng": lng})
    offers = r.json()["new_offers"]
    assert r.status_code == 200 and len(offers) == 1, r.text  # the demo's campaign at Sanlitun
    campaign_id = offers[0]["campaign_id"]
    _open_sanlitun(page, console)
    item = page.locator(f'#campaign-list [data-campaign-id="{campaign_id}"]')
    expect(item.locator(".stats")).to_contain_text("delivered 1")
    expect(item.locator(".conversions")).to_have_text("0")

    assert _order(console, "SLT-1", channel_id, "u-7", 59_900)["campaign_id"] == campaign_id
    assert _order(console, "SLT-2", channel_id, "u-7", 10_000, "flagship")["campaign_id"] == campaign_id
    expect(item.locator(".conversions")).to_have_text("2", timeout=POLLED_MS)
    expect(item.locator(".revenue")).to_have_text("¥699.00")
    stats = console.api.get(f"/v1/campaigns/{campaign_id}/stats").json()
    assert (stats["offers_delivered"], stats["conversions"], stats["revenue_cents"]) == (1, 2, 69_900)
    ARTIFACTS.mkdir(exist_ok=True)
    item.screenshot(path=str(ARTIFACTS / "console-conversions.png"))
    page.click("#lang")
    expect(page.locator("[data-i18n=guides]")).to_have_text("专属导购")
    expect(item.locator(".stats")).to_contain_text("转化")
