"""HTTP methods at every path: a 405 names in ``Allow`` every method served there (several routes
share a path), and HEAD is answered wherever GET is, with the GET's status and headers and no body
(api/errors.py ``allowed_methods``, api/middleware.py)."""

import re
import time

import httpx
import pytest

from api.main import create_app
from conftest import ADMIN, bearer, make_channel
from district_engine.settings import Settings
from helpers import serving

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
VARIABLE_HEADERS = {"date", "x-request-id"}


def served(app_client) -> dict[str, set[str]]:
    """Every documented path, with its path parameters filled in -> the methods documented at every
    path that matches it (``/v1/push-endpoints/x:enable`` is also ``/v1/push-endpoints/{id}``)."""
    doc = app_client.get("/openapi.json").json()
    templates = {path: {m.upper() for m in ops} for path, ops in doc["paths"].items()}
    patterns = {path: re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$") for path in templates}
    filled = {re.sub(r"\{[^}]+\}", "x", path) for path in templates}
    return {p: set().union(*(templates[t] for t, pattern in patterns.items() if pattern.match(p))) for p in filled}


def test_a_405_lists_every_method_served_at_the_path(app_client):
    paths = served(app_client)
    assert paths["/v1/districts/x"] >= {"GET", "DELETE"}  # two routes, one path: the case that was wrong
    for path, methods in paths.items():
        for method in sorted(METHODS - methods):
            r = app_client.request(method, path)
            assert r.status_code == 405, (method, path, r.text)
            expected = methods | ({"HEAD"} if "GET" in methods else set())
            assert set(r.headers["allow"].split(", ")) == expected, (method, path)
            assert r.json()["error"]["code"] == "method_not_allowed"


def test_the_console_and_docs_assets_name_get_and_head(app_client):
    for path in ("/console/", "/console/console.js", "/docs", "/openapi.json"):
        r = app_client.post(path)
        assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD"), path


@pytest.mark.parametrize("who", ["nobody", "admin"])
def test_head_answers_what_get_answers_without_the_body(app_client, who):
    headers = bearer(ADMIN) if who == "admin" else {}
    paths = [p for p, methods in served(app_client).items() if "GET" in methods and not p.endswith("/stream")]
    paths += ["/console/", "/docs", "/redoc", "/openapi.json", "/v1/feed?lat=39.9310&lng=116.4600&coord=gcj02"]
    for path in paths:
        get, head = app_client.get(path, headers=headers), app_client.head(path, headers=headers)
        assert head.status_code == get.status_code != 405, path
        assert head.content == b"", path
        variable = VARIABLE_HEADERS | ({"content-length"} if path == "/metrics" else set())  # counts move
        same = {k: v for k, v in get.headers.items() if k not in variable}
        assert {k: v for k, v in head.headers.items() if k not in variable} == same, path


def test_head_on_a_stream_answers_at_once_and_the_stream_ends(redis_client):
    app = create_app(Settings(admin_token=ADMIN, worker=False), client=redis_client)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        channel = make_channel(http)
        r = http.head("/v1/users/u-1/stream", headers=bearer(channel["api_key"]))
        assert (r.status_code, r.headers["content-type"], r.content) == (200, "text/event-stream; charset=utf-8", b"")
        deadline = time.monotonic() + 30
        while app.state.hub.following() and time.monotonic() < deadline:  # the stream's subscription ends
            time.sleep(0.05)
        assert app.state.hub.following() == set()


def test_head_where_only_post_is_served_is_405(app_client):
    r = app_client.head("/v1/locations")
    assert (r.status_code, r.headers["allow"]) == (405, "POST")
