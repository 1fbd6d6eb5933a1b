"""The console at 800 px and at 1400 px wide: nothing runs off the page, the legend folds away when
narrow, every form's fields fit their panel, all of a form's field errors show at once (and the API's
at its field), times carry their zone and counts their plural, and density is not the footprints'
colour."""
# ruff: noqa: F811 - the fixtures imported from console_page are the tests' parameters

from datetime import UTC, datetime, timedelta

import h3
import pytest
from console_page import ARTIFACTS, browser, console, opened, sign_in  # noqa: F401 - fixtures
from helpers import offset
from playwright.sync_api import expect

SANLITUN = "sanlitun-taikoo-li"
NEAR_SANLITUN = (39.9300, 116.4470)  # (lat, lng), about 270 m from the footprint
ZONE = "Asia/Shanghai"  # UTC+8 all year: the times shown are known


@pytest.fixture(params=[800, 1400], ids=lambda w: f"{w}px")
def page(request, browser, console):
    with opened(browser, width=request.param, height=900, timezone_id=ZONE) as page:
        yield page


def _open_sanlitun(page, console):
    sign_in(page, console)
    page.click(f'#district-list [data-district-id="{SANLITUN}"]')
    expect(page.locator("#map [data-outline]")).to_have_attribute("data-outline", SANLITUN)
    expect(page.locator("#campaign-list")).to_have_attribute("data-district", SANLITUN)
    expect(page.locator("#guide-list")).to_have_attribute("data-district", SANLITUN)


def _width(page) -> int:
    return page.viewport_size["width"]


def _assert_no_horizontal_overflow(page):
    sizes = page.evaluate("""() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,
        document.querySelector('aside').scrollWidth, document.querySelector('aside').clientWidth]""")
    page_scroll, page_client, aside_scroll, aside_client = sizes
    assert page_scroll <= page_client, f"the page scrolls sideways: {sizes}"
    assert aside_scroll <= aside_client, f"the side panel scrolls sideways: {sizes}"


def _assert_fields_fit(page, form_selector):
    """Every shown field of the form (or list), its labels and its buttons lie inside its box, which lies
    inside the side panel and the viewport."""
    clipped = page.evaluate("""([sel, width]) => {
        const form = document.querySelector(sel), panel = form.closest('aside');
        const f = form.getBoundingClientRect(), p = panel.getBoundingClientRect(), bad = [];
        if (f.left < p.left || f.right > p.right || f.right > width) bad.push(['form', f.left, f.right]);
        for (const node of form.querySelectorAll('input, select, textarea, button, label')) {
            const r = node.getBoundingClientRect();
            if (!r.width) continue; // hidden with its fieldset
            if (r.left < f.left - 0.5 || r.right > f.right + 0.5) bad.push([node.name || node.textContent, r.left, r.right]);
            if (node.scrollWidth > node.clientWidth + 1 && node.tagName === 'LABEL') bad.push([node.textContent, 'cut']);
        }
        return bad;
    }""", [form_selector, _width(page)])
    assert clipped == [], f"clipped in {form_selector}: {clipped}"


def test_nothing_runs_off_the_page_and_every_field_fits(page, console):
    r = console.api.post("/v1/guides", json={"district_id": SANLITUN, "name": "Li Na", "commission_bps": 300})
    assert r.status_code == 201, r.text
    _open_sanlitun(page, console)
    _assert_no_horizontal_overflow(page)
    page.click("#new-campaign")
    for kind in ("campaign", "red_envelope", "parking"):  # each kind shows its own row of fields
        page.select_option("#campaign-form [name=kind]", kind)
        expect(page.locator(f'#campaign-form fieldset[data-kind="{kind}"]')).to_have_count(
            0 if kind == "campaign" else 1)
        _assert_fields_fit(page, "#campaign-form")
        _assert_no_horizontal_overflow(page)
    page.select_option("#campaign-form [name=kind]", "red_envelope")
    page.screenshot(path=str(ARTIFACTS / f"console-{_width(page)}.png"))
    page.click("#new-guide")
    _assert_fields_fit(page, "#guide-form")
    page.click("#guide-list [data-action=members]")  # a guide's row, its buttons and its open member list
    expect(page.locator("#guide-list ul.members")).to_have_count(1)
    _assert_fields_fit(page, "#guide-list")
    _assert_no_horizontal_overflow(page)
    page.locator("#guides").screenshot(path=str(ARTIFACTS / f"console-guides-{_width(page)}.png"))


def test_the_legend_folds_away_at_800_px_and_opens_on_demand(page, console):
    _open_sanlitun(page, console)
    legend = page.locator("#legend")
    density_box = page.locator('#legend input[data-layer="density"]')
    if _width(page) < 1000:
        expect(density_box).to_be_hidden()
        page.click("#legend summary")
        expect(density_box).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "console-800-legend.png"))
        page.click("#legend summary")
        expect(density_box).to_be_hidden()
    else:
        expect(density_box).to_be_visible()
    # Open or folded, the legend stays within the map.
    inside = page.evaluate("""() => { const l = document.querySelector('#legend').getBoundingClientRect(),
        m = document.querySelector('#map-wrap').getBoundingClientRect();
        return l.left >= m.left && l.right <= m.right && l.top >= m.top && l.bottom <= m.bottom; }""")
    assert inside
    expect(legend).to_be_visible()


def test_every_field_error_shows_at_its_field_at_once_and_nothing_is_sent(page, console):
    _open_sanlitun(page, console)
    before = console.api.get("/v1/campaigns").json()["campaigns"]
    page.click("#new-campaign")
    page.select_option("#campaign-form [name=kind]", "red_envelope")
    page.fill("#campaign-form [name=title]", "")
    page.fill("#campaign-form [name=body]", "   ")
    page.fill("#campaign-form [name=starts_at]", "2026-12-01T20:00")
    page.fill("#campaign-form [name=ends_at]", "2026-12-01T19:00")
    page.fill("#campaign-form [name=radius_m]", "5000")
    page.fill("#campaign-form [name=total_cents]", "")
    page.fill("#campaign-form [name=packets]", "0")
    requests = []
    page.on("request", lambda r: r.method == "POST" and requests.append(r.url))
    page.click("#campaign-form button[type=submit]")
    for field in ("title", "body", "ends_at", "radius_m", "total_cents", "packets"):
        expect(page.locator(f'#campaign-form [data-error-for="{field}"]')).not_to_be_empty()
        expect(page.locator(f"#campaign-form [name={field}]")).to_have_class("invalid")
    expect(page.locator('#campaign-form [data-error-for="radius_m"]')).to_contain_text("3000")
    expect(page.locator('#campaign-form [data-error-for="ends_at"]')).to_contain_text("after")
    assert page.locator('#campaign-form [data-error-for="min_cents"]').inner_text() == ""
    _assert_fields_fit(page, "#campaign-form")  # the messages too fit
    page.locator("#campaign-form").screenshot(path=str(ARTIFACTS / f"console-errors-{_width(page)}.png"))
    assert requests == []  # the form's own checks: nothing was sent

    # All the form's own checks pass; the API alone knows a rain lasts at most a day: its error at its field.
    page.fill("#campaign-form [name=title]", "Two-day rain")
    page.fill("#campaign-form [name=body]", "Grab!")
    page.fill("#campaign-form [name=starts_at]", "2026-12-01T20:00")
    page.fill("#campaign-form [name=ends_at]", "2026-12-03T20:00")
    page.fill("#campaign-form [name=radius_m]", "1000")
    page.fill("#campaign-form [name=total_cents]", "10000")
    page.fill("#campaign-form [name=packets]", "10")
    page.click("#campaign-form button[type=submit]")
    expect(page.locator('#campaign-form [data-error-for="ends_at"]')).to_contain_text("24 hours")
    expect(page.locator("#campaign-form [name=ends_at]")).to_have_class("invalid")
    for field in ("title", "body", "radius_m", "packets"):
        assert page.locator(f'#campaign-form [data-error-for="{field}"]').inner_text() == ""
    assert len(requests) == 1
    assert console.api.get("/v1/campaigns").json()["campaigns"] == before  # nothing written


def test_the_guide_forms_errors_show_together(page, console):
    _open_sanlitun(page, console)
    page.click("#new-guide")
    page.fill("#guide-form [name=name]", " ")
    page.fill("#guide-form [name=commission_bps]", "20000")
    page.click("#guide-form button[type=submit]")
    expect(page.locator('#guide-form [data-error-for="name"]')).not_to_be_empty()
    expect(page.locator('#guide-form [data-error-for="commission_bps"]')).to_contain_text("10,000")
    _assert_fields_fit(page, "#guide-form")
    assert console.api.get("/v1/guides").json()["guides"] == []


def test_times_show_their_zone(page, console):
    starts = datetime(2026, 12, 24, 12, 15, tzinfo=UTC)  # 20:15 in Beijing
    r = console.api.post("/v1/campaigns", json={
        "district_id": SANLITUN, "kind": "campaign", "title": "Christmas Eve", "body": "Mulled wine",
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(), "radius_m": 800})
    assert r.status_code == 201, r.text
    _open_sanlitun(page, console)
    times = page.locator(f'#campaign-list [data-campaign-id="{r.json()["id"]}"] .when')
    expect(times).to_have_text("24 Dec 20:15 – 22:15 UTC+8")
    expect(times).to_have_attribute("title", f"{ZONE} (UTC+8)")
    page.click("#new-campaign")  # the form's times are in the same zone, and say so
    expect(page.locator("#campaign-form .zone").first).to_have_text("UTC+8")


def test_counts_take_their_plural_in_both_languages(page, console):
    # 24 users in one H3 cell by Sanlitun: "24 users ... in 1 cell".
    spot = h3.cell_to_latlng(h3.latlng_to_cell(*NEAR_SANLITUN, 8))
    for i in range(24):
        lat, lng = offset(*spot, i * 15, 20 + i)
        assert console.channel.post("/v1/locations", json={"user_id": f"u{i}", "lat": lat, "lng": lng}).status_code == 200
    _open_sanlitun(page, console)
    status = page.locator("#map-status")
    expect(status).to_contain_text("24 users in reach, in 1 cell")
    # 25 in a second cell: "in 2 cells".
    other = h3.cell_to_latlng(h3.grid_ring(h3.latlng_to_cell(*NEAR_SANLITUN, 8), 2)[0])
    for i in range(5):
        lat, lng = offset(*other, i * 60, 20 + i)
        assert console.channel.post("/v1/locations", json={"user_id": f"v{i}", "lat": lat, "lng": lng}).status_code == 200
    expect(status).to_contain_text("29 users in reach, in 2 cells")  # the density polls every 5 s
    page.click("#lang")
    expect(status).to_contain_text("29 位用户")
    expect(status).to_contain_text("2 个网格")
    page.screenshot(path=str(ARTIFACTS / f"console-zh-{_width(page)}.png"))


def test_density_and_footprints_have_distinct_colours(page, console):
    spot = h3.cell_to_latlng(h3.latlng_to_cell(*NEAR_SANLITUN, 8))
    for i in range(6):
        lat, lng = offset(*spot, i * 40, 30 + i)
        assert console.channel.post("/v1/locations", json={"user_id": f"u{i}", "lat": lat, "lng": lng}).status_code == 200
    _open_sanlitun(page, console)
    expect(page.locator("#map [data-layer=density] [data-users]")).to_have_count(1)
    fills = page.evaluate("""() => Object.fromEntries(['.density', '.footprint.selected', '.footprint:not(.selected)']
        .map((s) => [s, getComputedStyle(document.querySelector('#map ' + s)).fill.match(/\\d+/g).slice(0, 3).map(Number)]))""")
    density = fills.pop(".density")
    for name, rgb in fills.items():
        distance = sum((a - b) ** 2 for a, b in zip(density, rgb)) ** 0.5
        assert distance > 120, f"density {density} is too near {name} {rgb}"
