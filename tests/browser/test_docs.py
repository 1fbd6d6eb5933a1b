"""/docs (Swagger UI) and /redoc in Chromium with the network cut: every request that leaves the
machine is aborted, and the pages still show every operation, from the engine's own assets."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from console_page import ARTIFACTS, browser, console  # noqa: F401 - fixtures

LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}
# ReDoc's sidebar shows Redocly's logo from its CDN, and hides it when it fails to load.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def offline(browser, console):  # noqa: F811 - fixtures
    """A page whose requests beyond loopback are aborted (and recorded), and its page errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-GB")
    cut, errors = [], []

    def only_loopback(route):
        if urlsplit(route.request.url).hostname in LOOPBACK or route.request.url.startswith("data:"):
            return route.continue_()
        cut.append(route.request.url)
        return route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(60_000)  # an upper bound on waits for conditions: a busy machine is slow
    yield page, cut, errors
    context.close()


def operations(console) -> int:  # noqa: F811 - fixtures
    doc = console.api.get("/openapi.json").json()
    return sum(1 for ops in doc["paths"].values() for method in ops if method != "parameters")


def test_swagger_ui_shows_every_operation_with_the_network_cut(offline, console):  # noqa: F811 - fixtures
    page, cut, errors = offline
    page.goto(f"{console.url}/docs")
    expect(page.locator(".opblock")).to_have_count(operations(console), timeout=60_000)
    expect(page.locator(".opblock-summary-path", has_text="/v1/feed").first).to_be_visible()  # GET and HEAD
    page.locator(".opblock-summary-path", has_text="/v1/feed").first.click()  # an operation opens
    expect(page.locator(".opblock.is-open .parameters")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs-offline.png"))
    assert cut == [] and errors == []


def test_redoc_shows_every_operation_with_the_network_cut(offline, console):  # noqa: F811 - fixtures
    page, cut, errors = offline
    page.goto(f"{console.url}/redoc")
    expect(page.locator("[data-section-id^='operation/']")).to_have_count(operations(console), timeout=60_000)
    expect(page.locator("h2", has_text="All districts").first).to_be_visible()  # GET and HEAD
    page.screenshot(path=str(ARTIFACTS / "redoc-offline.png"))
    assert set(cut) <= {REDOC_LOGO} and errors == []
