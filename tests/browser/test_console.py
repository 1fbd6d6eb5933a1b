"""The operator console in Chromium: sign in, the map, campaigns, live panels, uploads."""

import json
from datetime import datetime, timedelta, timezone

import h3
import shapely
from playwright.sync_api import expect

from console_page import ARTIFACTS, browser, console, page, sign_in  # noqa: F401 - fixtures
from helpers import feature, offset, square

SANLITUN = "sanlitun-taikoo-li"
NEAR_SANLITUN = (39.9300, 116.4470)  # (lat, lng), about 270 m from the footprint


def _now():
    return datetime.now(timezone.utc)


def click_inside(page, selector):
    """Click a point of the shape that the shape itself receives (a MultiPolygon's bbox centre may be
    outside it, a lot marker may cover its middle)."""
    x, y = page.evaluate("""(sel) => {
        const shape = document.querySelector(sel), box = shape.getBBox(), svg = shape.ownerSVGElement;
        const r = svg.getBoundingClientRect();
        for (let i = 1; i < 20; i++) for (let j = 1; j < 20; j++) {
            const x = box.x + box.width * i / 20, y = box.y + box.height * j / 20;
            if (shape.isPointInFill(new DOMPoint(x, y)) && document.elementFromPoint(r.left + x, r.top + y) === shape)
                return [r.left + x, r.top + y];
        }
        throw new Error("no visible point inside " + sel);
    }""", selector)
    page.mouse.click(x, y)


def _select(page, district_id):
    """Select a district in the list; wait for its reach and its campaigns."""
    page.click(f'#district-list [data-district-id="{district_id}"]')
    expect(page.locator("#map [data-outline]")).to_have_attribute("data-outline", district_id)
    expect(page.locator("#campaign-list")).to_have_attribute("data-district", district_id)


def test_sign_in_draws_the_operators_districts_reach_lots_and_density(page, console):
    # 24 users in one H3 cell by Sanlitun (shown), 3 in another (withheld: fewer than 5).
    spot = h3.cell_to_latlng(h3.latlng_to_cell(*NEAR_SANLITUN, 8))
    for i in range(24):
        lat, lng = offset(*spot, i * 15, 20 + i)
        assert console.channel.post("/v1/locations", json={"user_id": f"u{i}", "lat": lat, "lng": lng}).status_code == 200
    for i in range(3):
        lat, lng = offset(*NEAR_SANLITUN, 90, 1800 + i)
        assert console.channel.post("/v1/locations", json={"user_id": f"q{i}", "lat": lat, "lng": lng}).status_code == 200

    sign_in(page, console)
    expect(page.locator("#operator-name")).to_have_text("Demo operator (Swire Properties)")
    expect(page.locator("#district-list li")).to_have_count(5)
    expect(page.locator("#map [data-layer=footprints] [data-district-id]")).to_have_count(5)
    expect(page.locator("#map [data-layer=lots] [data-lot-id]")).to_have_count(6)
    _select(page, SANLITUN)
    assert page.locator("#map [data-layer=cells] [data-cell]").count() > 40
    expect(page.locator("#map [data-layer=density] [data-users]")).to_have_count(1)
    expect(page.locator("#map [data-layer=density] [data-users]")).to_have_attribute("data-users", "24")
    expect(page.locator("#map [data-layer=campaigns] [data-campaign-id]")).to_have_count(1)  # the demo's
    expect(page.locator("#lot-list li")).to_have_count(2)  # Sanlitun's two demo lots
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-map.png"))


def test_a_wrong_key_gets_a_clear_message_and_no_console(page, console):
    sign_in(page, console, key="de_live_not-a-real-key")
    expect(page.locator("#signin-error")).to_contain_text("This API key was not accepted")
    expect(page.locator("#app")).to_be_hidden()


def test_the_map_zooms_at_the_wheel_and_clicking_a_footprint_selects_its_district(page, console):
    sign_in(page, console)
    _select(page, "indigo-beijing")  # the map fits INDIGO's reach; Sanlitun, 2.5 km west, is in view
    indigo = '#map [data-layer=footprints] [data-district-id="indigo-beijing"]'
    box = "(s) => { const r = document.querySelector(s).getBoundingClientRect(); return [r.x, r.y, r.width, r.height] }"
    x, y, width, height = page.evaluate(box, indigo)  # the shape's own box (Playwright's adds the stroke)
    page.mouse.move(x + width / 2, y + height / 2)
    page.mouse.wheel(0, -600)  # 4x at the cursor: INDIGO grows and stays under it
    # Wait for the whole zoom, not a part of it (a wheel may arrive as several events).
    page.wait_for_function("([sel, w]) => document.querySelector(sel).getBoundingClientRect().width > 3.5 * w",
                           arg=[indigo, width])
    x2, _, width2, _ = page.evaluate(box, indigo)
    assert 3.9 < width2 / width < 4.1
    assert abs((x2 + width2 / 2) - (x + width / 2)) < 2
    for _ in range(3):  # back out to half the first scale: Sanlitun comes well into view
        page.click("#zoom-out")
    click_inside(page, f'#map [data-layer=footprints] [data-district-id="{SANLITUN}"]')
    expect(page.locator("#map [data-outline]")).to_have_attribute("data-outline", SANLITUN)
    expect(page.locator(f'#district-list [data-district-id="{SANLITUN}"]')).to_have_class("selected")


def test_a_campaign_made_in_the_form_is_listed_and_drawn_at_its_radius(page, console):
    sign_in(page, console)
    _select(page, SANLITUN)
    page.click("#new-campaign")
    page.fill("#campaign-form [name=title]", "Late-night noodles")
    page.fill("#campaign-form [name=body]", "Half price after 21:00")
    page.fill("#campaign-form [name=radius_m]", "1500")
    page.click("#campaign-form button[type=submit]")
    item = page.locator("#campaign-list li", has_text="Late-night noodles")
    expect(item).to_be_visible()
    expect(item.locator("[data-state]")).to_have_attribute("data-state", "live")
    campaign_id = item.get_attribute("data-campaign-id")
    expect(page.locator(f'#map [data-layer=campaigns] [data-campaign-id="{campaign_id}"]')).to_have_count(1)
    stored = console.api.get(f"/v1/campaigns/{campaign_id}").json()
    assert (stored["radius_m"], stored["district_id"], stored["body"]) == (1500, SANLITUN, "Half price after 21:00")


def test_a_radius_of_5000_is_refused_beside_the_radius_field(page, console):
    sign_in(page, console)
    _select(page, SANLITUN)
    before = console.api.get("/v1/campaigns").json()["campaigns"]
    page.click("#new-campaign")
    page.fill("#campaign-form [name=title]", "Too far")
    page.fill("#campaign-form [name=body]", "Everywhere")
    page.fill("#campaign-form [name=radius_m]", "5000")
    page.click("#campaign-form button[type=submit]")
    error = page.locator('#campaign-form [data-error-for="radius_m"]')
    expect(error).to_contain_text("3000")
    expect(page.locator("#campaign-form [name=radius_m]")).to_have_class("invalid")
    assert page.locator('#campaign-form [data-error-for="title"]').inner_text() == ""
    assert console.api.get("/v1/campaigns").json()["campaigns"] == before  # nothing written


def test_a_rains_counters_move_after_grabs_made_through_the_api(page, console):
    rain = console.api.post("/v1/campaigns", json={
        "district_id": SANLITUN, "kind": "red_envelope", "title": "Double 11 rain", "body": "Grab!",
        "starts_at": (_now() - timedelta(minutes=1)).isoformat(), "ends_at": (_now() + timedelta(hours=1)).isoformat(),
        "total_cents": 100_000, "packets": 100, "min_cents": 10}).json()
    sign_in(page, console)
    _select(page, SANLITUN)
    block = page.locator(f'[data-rain="{rain["id"]}"]')
    expect(block.locator(".won-packets")).to_have_text("0")
    lat, lng = NEAR_SANLITUN
    won = 0
    for i in range(7):
        r = console.channel.post(f"/v1/red-envelopes/{rain['id']}/grab", json={"user_id": f"g{i}", "lat": lat, "lng": lng})
        assert r.json()["status"] == "won", r.text
        won += r.json()["amount_cents"]
    expect(block.locator(".won-packets")).to_have_text("7")  # polled every second
    expect(block.locator(".remaining-packets")).to_have_text("93")
    left = 100_000 - won
    expect(block.locator(".remaining-cents")).to_have_text(f"¥{left // 100}.{left % 100:02d}")


def test_lot_occupancy_follows_the_gates(page, console):
    lot = console.api.get("/v1/parking/lots/sanlitun-south-p").json()
    sign_in(page, console)
    _select(page, SANLITUN)
    row = page.locator('#lot-list [data-lot-id="sanlitun-south-p"]')
    expect(row.locator(".free")).to_have_text(str(lot["free_spaces"]))
    for plate in ("京A12345", "京B23456", "京C34567"):
        assert console.gate("sanlitun-south-p", "entry", plate)["decision"] == "open"
    expect(row.locator(".free")).to_have_text(str(lot["free_spaces"] - 3))
    expect(row.locator(".occupied")).to_have_text("3")


def test_ending_a_campaign_early(page, console):
    sign_in(page, console)
    _select(page, SANLITUN)
    page.on("dialog", lambda d: d.accept())
    item = page.locator("#campaign-list li").first
    campaign_id = item.get_attribute("data-campaign-id")
    item.locator("[data-action=end]").click()
    expect(page.locator(f'#campaign-list [data-campaign-id="{campaign_id}"] [data-state]')).to_have_attribute(
        "data-state", "ended")
    expect(page.locator(f'#map [data-campaign-id="{campaign_id}"]')).to_have_count(0)
    assert console.api.get(f"/v1/campaigns/{campaign_id}").json()["state"] == "ended"


def test_an_upload_is_drawn_before_saving_and_the_apis_error_is_shown(page, console):
    sign_in(page, console)
    expect(page.locator("#district-list li")).to_have_count(5)
    bowtie = {"type": "Feature", "properties": {"id": "bad-mall", "name": "Bad", "city": "Hangzhou"},
              "geometry": {"type": "Polygon", "coordinates": [[[120.16, 30.25], [120.17, 30.26], [120.17, 30.25],
                                                               [120.16, 30.26], [120.16, 30.25]]]}}
    page.fill("#upload-text", json.dumps(bowtie))
    expect(page.locator("#map [data-layer=preview] [data-preview]")).to_have_count(1)
    page.click("#upload-save")
    expect(page.locator("#upload-error")).to_contain_text("geometry")  # the API's message, with its field

    page.fill("#upload-text", "{not json")
    expect(page.locator("#upload-error")).to_contain_text("Not valid JSON")
    expect(page.locator("#upload-save")).to_be_disabled()

    good = feature("west-lake-mall", shapely.geometry.shape(square(30.2500, 120.1600, 120)), name="West Lake Mall",
                   city="Hangzhou")
    page.fill("#upload-text", json.dumps(good))
    expect(page.locator("#map [data-layer=preview] [data-preview]")).to_have_count(1)
    page.click("#upload-save")
    expect(page.locator("#upload-ok")).to_contain_text("west-lake-mall")
    expect(page.locator("#district-list li")).to_have_count(6)
    expect(page.locator("#map [data-outline]")).to_have_attribute("data-outline", "west-lake-mall")
    expect(page.locator("#map [data-layer=preview] [data-preview]")).to_have_count(0)


def test_chinese_labels(page, console):
    sign_in(page, console)
    expect(page.locator("#district-list li")).to_have_count(5)
    page.click("#lang")
    expect(page.locator("[data-i18n=districts]")).to_have_text("商圈")
    expect(page.locator('#district-list [data-district-id="sanlitun-taikoo-li"]')).to_contain_text("三里屯太古里")
    page.screenshot(path=str(ARTIFACTS / "console-zh.png"))


def test_editing_a_campaign_changes_only_what_was_edited(page, console):
    sign_in(page, console)
    _select(page, SANLITUN)
    item = page.locator("#campaign-list li").first
    campaign_id = item.get_attribute("data-campaign-id")
    before = console.api.get(f"/v1/campaigns/{campaign_id}").json()
    item.locator("[data-action=edit]").click()
    expect(page.locator("#campaign-form [name=title]")).to_have_value(before["title"])
    page.fill("#campaign-form [name=title]", "Double 11 night: 30% off")
    page.click("#campaign-form button[type=submit]")
    expect(page.locator(f'#campaign-list [data-campaign-id="{campaign_id}"] b').first).to_have_text("Double 11 night: 30% off")
    after = console.api.get(f"/v1/campaigns/{campaign_id}").json()
    assert after == before | {"title": "Double 11 night: 30% off"}  # times kept to the microsecond


def test_ending_a_rain_early_refunds_what_is_left(page, console):
    rain = console.api.post("/v1/campaigns", json={
        "district_id": SANLITUN, "kind": "red_envelope", "title": "Short rain", "body": "Grab!",
        "starts_at": (_now() - timedelta(minutes=1)).isoformat(), "ends_at": (_now() + timedelta(hours=1)).isoformat(),
        "total_cents": 10_000, "packets": 10, "min_cents": 10}).json()
    lat, lng = NEAR_SANLITUN
    won = console.channel.post(f"/v1/red-envelopes/{rain['id']}/grab", json={"user_id": "g1", "lat": lat, "lng": lng}).json()
    sign_in(page, console)
    _select(page, SANLITUN)
    page.on("dialog", lambda d: d.accept())
    item = page.locator(f'#campaign-list [data-campaign-id="{rain["id"]}"]')
    item.locator("[data-action=end]").click()
    expect(item.locator("[data-state]")).to_have_attribute("data-state", "ended")
    left = 10_000 - won["amount_cents"]
    expect(item.locator(".remaining-cents")).to_have_text("¥0.00")
    expect(item).to_contain_text(f"¥{left // 100}.{left % 100:02d}")  # refunded, shown
    figures = console.api.get(f"/v1/red-envelopes/{rain['id']}").json()
    assert figures["refunded_cents"] == 10_000 - won["amount_cents"] and figures["state"] == "ended"


def test_a_dropped_geojson_file_is_previewed(page, console):
    sign_in(page, console)
    expect(page.locator("#district-list li")).to_have_count(5)
    good = feature("dropped-mall", shapely.geometry.shape(square(22.5400, 114.0580, 100)), name="Dropped Mall",
                   city="Shenzhen")
    page.evaluate("""(text) => {
        const data = new DataTransfer();
        data.items.add(new File([text], "mall.geojson", {type: "application/geo+json"}));
        document.querySelector("#drop").dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
    }""", json.dumps(good))
    expect(page.locator("#upload-text")).to_have_value(json.dumps(good))
    expect(page.locator("#map [data-layer=preview] [data-preview]")).to_have_count(1)
    expect(page.locator("#upload-save")).to_be_enabled()
