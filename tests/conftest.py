"""Session-wide fixtures. Integration tests get a real Redis: DE_TEST_REDIS_URL if given, else an
embedded redis-server that this test session starts on a free port (never the machine's 6379)."""

import os

import pytest
from hypothesis import settings

# Compiled kernels are built on first use (numba); a time limit per example would make whichever
# property test runs first flaky. Property tests bound their own work by example counts instead.
settings.register_profile("district-engine", deadline=None)
settings.load_profile("district-engine")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("DE_TEST_REDIS_URL")
    if url:
        yield url
        return
    from district_engine.store import EmbeddedRedis

    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), persistent=False) as server:
        yield server.url


@pytest.fixture
def redis_client(redis_url):
    from district_engine.store import connect

    client = connect(redis_url)
    client.flushall()
    yield client
    client.close()
