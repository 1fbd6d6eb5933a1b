"""Settings that cannot work together are refused at start-up, not found out under load."""

import pytest
from pydantic import ValidationError

from district_engine.settings import Settings
from district_engine.store.connection import client_options


def test_a_replica_wait_must_end_before_the_redis_timeout():
    """WAIT blocks on the server: a wait as long as the client's timeout would turn every money
    answer into a timeout, then a 503."""
    assert Settings(wait_replicas=1, wait_ms=200, redis_timeout_ms=500).wait_ms == 200
    with pytest.raises(ValidationError, match="DE_WAIT_MS"):
        Settings(wait_replicas=1, wait_ms=500, redis_timeout_ms=500)
    assert Settings(wait_replicas=0, wait_ms=900, redis_timeout_ms=500)  # no WAIT, no conflict


def test_every_client_is_bounded_by_the_timeout_and_never_resends():
    options = client_options(0.25)
    assert options["socket_timeout"] == options["socket_connect_timeout"] == 0.25
    assert options["retry"].get_retries() == 0


def test_a_blocking_read_blocks_for_less_than_the_socket_timeout():
    """A quiet stream must not look like a stalled server: BLOCK is at most half the timeout."""
    import redis

    from district_engine.store.connection import bounded_block

    client = redis.Redis(socket_timeout=0.5)  # no connection is made here
    assert bounded_block(client, 500) == 250 and bounded_block(client, 100) == 100
    assert bounded_block(client, 0) is None and bounded_block(client, None) is None  # BLOCK 0 waits for ever
