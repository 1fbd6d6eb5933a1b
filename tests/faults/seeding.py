"""What the fault tests share (beside them, as proxy.py is): an engine seeded through its API with an operator, a channel, a
district (Sanlitun Taikoo Li), a running rain and, on request, a parking lot."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from district_engine import load_demo_districts

ADMIN = "faults-admin"
SANLITUN = next(d for d in load_demo_districts() if d.id == "sanlitun-taikoo-li")
NEAR = {"lat": 39.9300, "lng": 116.4470}  # (lat, lng), about 270 m from the footprint


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def until_answered(call):
    """What a client does after a 503: send the same request again (Retry-After: 1, shortened)."""
    deadline = time.monotonic() + 30
    while (response := call()).status_code == 503:
        assert response.headers["Retry-After"] == "1"
        assert time.monotonic() < deadline, "still 503"
        time.sleep(0.1)
    return response


class Seeded(NamedTuple):
    operator: str  # API keys
    channel: str
    rain: str  # the rain's campaign id
    lot: dict | None  # the lot as created (with its webhook secret)


def seed(http, per_user_limit: int = 1, lot: bool = False) -> Seeded:
    """Seed an engine through ``http`` (a TestClient or an httpx.Client on a live server) as the
    admin ``ADMIN``: a rain of 10,000 cents in 50 packets, live for an hour."""
    op = http.post("/v1/operators", json={"name": "Swire"}, headers=bearer(ADMIN)).json()["api_key"]
    channel = http.post("/v1/channels", json={"name": "City"}, headers=bearer(ADMIN)).json()["api_key"]
    assert http.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(op)).status_code == 201
    now = datetime.now(timezone.utc)
    rain = http.post("/v1/campaigns", headers=bearer(op), json={
        "district_id": SANLITUN.id, "kind": "red_envelope", "title": "Rain", "body": "b",
        "starts_at": (now - timedelta(minutes=1)).isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
        "total_cents": 10_000, "packets": 50, "min_cents": 1, "per_user_limit": per_user_limit}).json()["id"]
    made = None
    if lot:
        made = http.post("/v1/parking/lots", headers=bearer(op), json={
            "district_id": SANLITUN.id, "name": "South", "capacity": 10, "location": NEAR,
            "tariff": {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000}}).json()
    return Seeded(op, channel, rain, made)
