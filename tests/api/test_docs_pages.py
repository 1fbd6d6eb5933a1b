"""/docs and /redoc load nothing from elsewhere: every script, style and icon they name is the
engine's own and is served (the browser test, tests/browser/test_docs.py, cuts the network)."""

import re

import pytest

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_of_the_docs_is_local_and_served(app_client, page):
    r = app_client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    assets = ASSET.findall(r.text)
    assert len(assets) >= 2, assets  # a script and the icon at least
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        served = app_client.get(url)
        assert served.status_code == 200, url
        kind = {".js": "javascript", ".css": "text/css", ".png": "image/png"}[url[url.rindex("."):]]
        assert kind in served.headers["content-type"], (url, served.headers["content-type"])
    spec = re.search(r"""(?:url: |spec-url=)["']([^"']+)["']""", r.text).group(1)
    assert spec == "/openapi.json" and app_client.get(spec).status_code == 200


def test_swagger_ui_sends_the_document_to_no_validator(app_client):
    assert '"validatorUrl": null' in app_client.get("/docs").text
