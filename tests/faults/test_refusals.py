"""A Redis that refuses (out of memory, a replica after a failover) is a 503 with Retry-After on
every route that needs it, never a 500, and the engine serves again once it accepts writes."""

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from district_engine.errors import StoreError, StoreUnavailableError
from district_engine.settings import Settings
from district_engine.store import EmbeddedRedis, connect
from district_engine.store.clients import store_error
from district_engine.store.rains import RainStore

sys.path.insert(0, str(Path(__file__).parent))
from seeding import ADMIN, NEAR, SANLITUN, bearer as _bearer, seed  # noqa: E402


@pytest.mark.parametrize("message, refusal", [
    ("OOM command not allowed when used memory > 'maxmemory'.", True),
    ("ERR Error running script (call to f_0123): @user_script:9: -OOM command not allowed", True),
    ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist", True),
    ("LOADING Redis is loading the dataset in memory", True),
    ("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.", True),
    ("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", True),
    ("CLUSTERDOWN The cluster is down", True),
    ("TRYAGAIN Multiple keys request during rehashing of slot", True),
    ("NOREPLICAS Not enough good replicas to write.", True),
    ("Command # 2 (SET x:BUSY 1) of pipeline caused error: NOREPLICAS Not enough good replicas", True),
    ("WRONGTYPE Operation against a key holding the wrong kind of value", False),
    ("ERR wrong number of arguments for 'hset' command", False),
    # The arguments redis-py puts before a pipelined command's reply are not the reply.
    ("Command # 2 (SET x:BUSY 1) of pipeline caused error: WRONGTYPE Operation against a key", False),
])
def test_refusals_are_told_from_bugs(message, refusal):
    assert type(store_error(redis.ResponseError(message))) is (StoreUnavailableError if refusal else StoreError)


@pytest.mark.parametrize("exc", [
    redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
    redis.TimeoutError("Timeout reading from socket"),
    redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
    redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
    redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
    redis.exceptions.ClusterDownError("The cluster is down"),
    redis.exceptions.ClusterError("TTL exhausted."),
    redis.exceptions.MovedError("3999 127.0.0.1:6381"),
    redis.exceptions.SlotNotCoveredError('Slot "3999" is not covered by the cluster.'),
    redis.exceptions.RedisClusterException("Redis Cluster cannot be connected. Please provide at least one reachable node"),
], ids=lambda e: type(e).__name__)
def test_a_lost_slow_or_moving_redis_is_unavailable(exc):
    err = store_error(exc)
    assert isinstance(err, StoreUnavailableError) and err.__cause__ is exc


@pytest.mark.parametrize("exc", [
    redis.exceptions.NoScriptError("No matching script. Please use EVAL."),
    redis.exceptions.DataError("Invalid input of type: 'NoneType'."),
    redis.exceptions.RedisClusterException("No way to dispatch this command to Redis Cluster. Missing key."),
], ids=lambda e: type(e).__name__)
def test_any_other_redis_error_is_a_store_error(exc):
    err = store_error(exc)
    assert isinstance(err, StoreError) and err.__cause__ is exc and err.code == "internal"


@pytest.fixture
def engine_on_own_redis(tmp_path):
    """The app on a redis-server of its own (the test changes its configuration): (client, admin
    connection, operator key, channel key, rain id)."""
    server = EmbeddedRedis(tmp_path, persistent=False).start()
    admin = connect(server.url)
    try:
        with TestClient(create_app(Settings(admin_token=ADMIN, worker=False), client=connect(server.url))) as client:
            op, channel, rain, _ = seed(client)
            yield client, admin, op, channel, rain
    finally:
        admin.close()
        server.stop()


def _writes(client, op, channel, rain, user):
    """One write of each kind a client makes: a location, a grab, a campaign."""
    now = datetime.now(timezone.utc)
    return [
        client.post("/v1/locations", json={"user_id": user} | NEAR, headers=_bearer(channel)),
        client.post(f"/v1/red-envelopes/{rain}/grab", json={"user_id": user} | NEAR, headers=_bearer(channel)),
        client.post("/v1/campaigns", headers=_bearer(op), json={
            "district_id": SANLITUN.id, "title": "t", "body": "b", "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat()}),
    ]


@pytest.mark.parametrize("refuse, accept", [
    (lambda r: r.config_set("maxmemory", "1"), lambda r: r.config_set("maxmemory", "0")),
    # A replica, as a primary becomes one after a failover: READONLY to every write.
    (lambda r: r.execute_command("REPLICAOF", "127.0.0.1", "1"), lambda r: r.execute_command("REPLICAOF", "NO", "ONE")),
], ids=["out-of-memory", "read-only"])
def test_a_refusing_redis_is_a_503_with_retry_after_then_service_again(engine_on_own_redis, refuse, accept):
    client, admin, op, channel, rain = engine_on_own_redis
    refuse(admin)
    try:
        during = _writes(client, op, channel, rain, "during")
    finally:
        accept(admin)
    for r in during:  # refused (503, come back), or, for a script Redis 6 lets run once started, done whole
        assert r.status_code in (200, 201, 503), r.text
        if r.status_code == 503:
            assert r.headers["Retry-After"] == "1" and r.json()["error"]["code"] == "store_unavailable"
    assert during[2].status_code == 503  # a plain write is always refused
    codes = [r.status_code for r in _writes(client, op, channel, rain, "after")]
    assert codes == [200, 200, 201]
    figures = client.get(f"/v1/red-envelopes/{rain}", headers=_bearer(op)).json()
    assert figures["won_packets"] == 1 + (during[1].status_code == 200)  # nothing half-written
    assert RainStore(admin).audit(rain) == []
