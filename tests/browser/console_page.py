"""Fixtures and helpers for the console's browser tests: Debian's Chromium driven by Playwright,
against the real app on a real Redis (the single server; the console is an HTTP client, the Cluster
runs are elsewhere). Not a conftest.py: the api tests import their conftest by that name.

`make test` installs Chromium when it is missing; a machine without it fails these tests, loudly.
"""

import json
import re
import shutil
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from api.main import create_app
from district_engine.demo import seed_demo
from district_engine.engine import Engine
from district_engine.settings import Settings
from district_engine.parking.gate_client import gate_event_request
from district_engine.store import connect
from helpers import serving

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
EXPECTED_REFUSAL = re.compile(r"Failed to load resource: the server responded with a status of (401|422)")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Every wait is for a condition; these are only the bounds past which a condition is taken to be
# false. They are generous: on a busy machine (a whole suite beside another CPU-heavy run) a page
# may take seconds to do what takes it milliseconds alone, and a wait that ends early is a flake.
WAIT_MS = 60_000
expect.set_options(timeout=WAIT_MS)  # Playwright's own default for expect() is 5 s


@pytest.fixture(scope="module")  # not the session: Playwright's sync API holds an event loop in this
def browser():                    # thread while it runs, and later asyncio.run() calls would fail
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: `make test` installs Debian's chromium package"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


class Console:
    """A served engine with the demo loaded: its URL, the demo operator's key, an API client."""

    def __init__(self, url: str, key: str, data_dir: Path):
        self.url = url
        self.key = key
        self.api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        channel_key = (data_dir / "demo_channel_key").read_text().strip()
        self.channel = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {channel_key}"}, timeout=10)
        self.lot_secrets = json.loads((data_dir / "demo_lot_secrets.json").read_text())

    def gate(self, lot_id: str, event: str, plate: str) -> dict:
        """A signed plate event from the lot's gate, as a gate controller sends it."""
        body, h = gate_event_request(self.lot_secrets[lot_id], event, plate, datetime.now(timezone.utc))
        r = self.api.post(f"/v1/parking/lots/{lot_id}/gate-events", content=body, headers=h)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def console(single_redis_url, tmp_path):
    client = connect(single_redis_url)
    client.flushall()
    key = seed_demo(Engine(client), tmp_path)
    with serving(create_app(Settings(admin_token="admin", worker=False), client=client)) as url:
        c = Console(url, key, tmp_path)
        yield c
        c.api.close()
        c.channel.close()
    client.close()


@contextmanager
def opened(browser, width=1400, height=900, timezone_id=None):
    """A page at a viewport's size (and in a time zone, else the machine's) that fails on any error the
    page reports, closed on leaving."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB",
                                  timezone_id=timezone_id)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The API refusing a wrong key (401) or a bad field (422) is what some tests do; anything else is a bug.
    page.on("console", lambda m: m.type == "error" and not EXPECTED_REFUSAL.search(m.text) and errors.append(m.text))
    page.set_default_timeout(WAIT_MS)  # an upper bound on waits for conditions, not a pace
    yield page
    context.close()
    assert not errors, f"the page reported errors: {errors}"


@pytest.fixture
def page(browser, console):  # after the server starts, closed before it stops
    with opened(browser) as page:
        yield page


def sign_in(page, console, key=None):
    page.goto(f"{console.url}/console/")
    page.fill("#api-key", key or console.key)
    page.click("#signin-form button[type=submit]")
