from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from district_engine import load_demo_districts
from district_engine.settings import Settings
from helpers import serving

ADMIN = "test-admin-token"
SANLITUN = next(d for d in load_demo_districts() if d.id == "sanlitun-taikoo-li")
NEAR_SANLITUN = (39.9300, 116.4470)  # (lat, lng), about 270 m from the footprint
FAR = (31.2400, 121.4900)  # Shanghai


def now():
    return datetime.now(timezone.utc)


def campaign_body(**over) -> dict:
    """A live Sanlitun campaign's POST body."""
    body = {"district_id": SANLITUN.id, "kind": "campaign", "title": "Double 11", "body": "20% off tonight",
            "starts_at": (now() - timedelta(hours=1)).isoformat(), "ends_at": (now() + timedelta(hours=5)).isoformat()}
    return body | over


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def app_client(redis_client):
    app = create_app(Settings(admin_token=ADMIN, worker=False), client=redis_client)
    with TestClient(app) as client:
        yield client


def make_operator(client, name="Swire") -> str:
    r = client.post("/v1/operators", json={"name": name}, headers=bearer(ADMIN))
    assert r.status_code == 201, r.text
    return r.json()["api_key"]


def make_channel(client, name="City channel") -> dict:
    """A channel: {id, name, api_key, token_secret}."""
    r = client.post("/v1/channels", json={"name": name}, headers=bearer(ADMIN))
    assert r.status_code == 201, r.text
    return r.json()


def user_token(channel: dict, user_id: str, ttl_s: int = 3600, **claims) -> str:
    """A user token the channel signs for one of its users (claims override the standard ones)."""
    import jwt

    t = int(now().timestamp())
    body = {"iss": channel["id"], "sub": user_id, "aud": "district-engine", "iat": t, "exp": t + ttl_s} | claims
    return jwt.encode({k: v for k, v in body.items() if v is not None}, channel["token_secret"], algorithm="HS256")


@pytest.fixture
def city(app_client):
    """The city channel: {id, name, api_key, token_secret}."""
    return make_channel(app_client)


@pytest.fixture
def as_city(app_client, city):
    """The test client calls as the city channel (its key) unless a request sends its own
    Authorization: for tests about what a channel's calls do, not about who may make them."""
    app_client.headers["Authorization"] = f"Bearer {city['api_key']}"
    return city


@pytest.fixture
def sanlitun(app_client):
    """An operator that owns Sanlitun: its API key."""
    key = make_operator(app_client)
    r = app_client.post("/v1/districts", json=SANLITUN.to_geojson(), headers=bearer(key))
    assert r.status_code == 201, r.text
    return key


@pytest.fixture
def live_server(redis_client):
    """The app under a real uvicorn server on a free port (streams need a real server)."""
    with serving(create_app(Settings(admin_token=ADMIN, worker=False), client=redis_client)) as url:
        yield url
