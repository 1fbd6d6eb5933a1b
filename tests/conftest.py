"""Session-wide fixtures. Integration and API tests get a real Redis, twice: a single server
(DE_TEST_REDIS_URL if given, else an embedded redis-server this session starts on a free port, never
the machine's 6379) and a local Redis Cluster of 3 primaries and 3 replicas that this session
starts from the same binary (marked ``cluster``: `make test-fast` leaves those runs out)."""

import os

import pytest
from hypothesis import settings

# The apps and servers the tests start wait up to 5 s for Redis, not the 500 ms a service is given:
# several pytest workers, a Cluster each, share the cores, and a setup call must not be a 503 of a
# busy machine. The fault tests, which are about that bound, set theirs.
os.environ.setdefault("DE_REDIS_TIMEOUT_MS", "5000")

# Compiled kernels are built on first use (numba); a time limit per example would make whichever
# property test runs first flaky. Property tests bound their own work by example counts instead.
settings.register_profile("district-engine", deadline=None)
settings.load_profile("district-engine")


@pytest.fixture(scope="session")
def single_redis_url(tmp_path_factory):
    url = os.environ.get("DE_TEST_REDIS_URL")
    if url:
        yield url
        return
    from district_engine.store import EmbeddedRedis

    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), persistent=False) as server:
        yield server.url


@pytest.fixture(scope="session")
def cluster_redis_url(tmp_path_factory):
    from district_engine.store.server import EmbeddedCluster

    with EmbeddedCluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster.url


@pytest.fixture(scope="session", params=["single", pytest.param("cluster", marks=pytest.mark.cluster)])
def redis_url(request):
    """Every test that talks to Redis runs on a single server and on a Cluster."""
    return request.getfixturevalue(f"{request.param}_redis_url")


@pytest.fixture
def redis_client(redis_url):
    from district_engine.store import connect

    client = connect(redis_url)
    client.flushall()
    yield client
    client.close()
