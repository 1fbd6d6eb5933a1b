import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from district_engine.settings import Settings

ADMIN = "test-admin-token"


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def app_client(redis_client):
    app = create_app(Settings(admin_token=ADMIN), client=redis_client)
    with TestClient(app) as client:
        yield client


def make_operator(client, name="Swire") -> str:
    r = client.post("/v1/operators", json={"name": name}, headers=bearer(ADMIN))
    assert r.status_code == 201, r.text
    return r.json()["api_key"]
