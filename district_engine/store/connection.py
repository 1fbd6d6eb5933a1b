"""Connecting to the Redis that holds the engine's state: a URL (standalone, TLS or a Cluster
node) or, with none, the embedded server."""

from __future__ import annotations

from collections.abc import Hashable
from contextlib import contextmanager
from functools import cache
from typing import cast

import redis.cluster
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from district_engine.errors import StoreError, StoreUnavailableError
from district_engine.settings import Settings
from district_engine.store.clients import Redis, RedisCluster, mapped_errors, store_error
from district_engine.store.server import EmbeddedRedis

__all__ = ["connect", "is_cluster", "open_redis", "routed", "client_options", "bounded_block", "ping", "DEFAULT_TIMEOUT_S"]

# A library caller's, a command's or a benchmark's bound: an audit reads a whole ledger, a seeding
# sends large pipelines. The serving engine takes DE_REDIS_TIMEOUT_MS (500 ms) instead (open_redis).
DEFAULT_TIMEOUT_S = 5.0


def client_options(timeout_s: float = DEFAULT_TIMEOUT_S) -> dict:
    """How every engine client talks to Redis (docs/faults.md):

    - **No command is sent twice by the client.** A timeout or a broken connection does not tell
      whether Redis ran the command (a late reply means it did), so redis-py's retry is off, on a
      single server and on a Cluster alike (a Cluster's MOVED/ASK redirections, which Redis sends
      for a command it did not run, are still followed). The error reaches the caller: a 503 for
      an HTTP client, which may send the request again, and every write that moves money or
      once-only state is idempotent on an id the request carries (a grab id, a validation id, a
      rain's offsets, a delivery id, an Idempotency-Key), so the second run changes nothing.
    - **Every call is bounded by ``timeout_s``** (``DE_REDIS_TIMEOUT_MS``): connecting, and each
      read of a reply. A blocking read (XREAD BLOCK) must block for less (``bounded_block``).
    """
    return {
        "socket_connect_timeout": timeout_s,
        "socket_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 30,  # an idle pooled connection is checked before it is used again
    }


def bounded_block(client, block_ms: int | None) -> int | None:
    """The BLOCK of a blocking read on ``client`` that waits up to ``block_ms`` (None or 0: not
    at all; BLOCK 0 would wait for ever): at most half the socket timeout, so that a quiet stream
    is never taken for a stalled server."""
    if not block_ms:
        return None
    kwargs = client.nodes_manager.connection_kwargs if is_cluster(client) else client.connection_pool.connection_kwargs
    timeout = kwargs.get("socket_timeout")
    return min(block_ms, max(5, int(timeout * 500))) if timeout else block_ms


def connect(url: str, timeout_s: float = DEFAULT_TIMEOUT_S, **options) -> Redis | RedisCluster:
    """A client for ``url``; a Redis Cluster node gives a cluster client (checked with INFO).
    ``options`` override ``client_options(timeout_s)``. Its errors are the engine's (store/clients.py):
    StoreUnavailableError for a Redis that cannot answer now, StoreError for any other."""
    options = client_options(timeout_s) | options
    client = cast(Redis, Redis.from_url(url, **options))  # from_url builds the class it is called on
    try:
        cluster = client.info("cluster").get("cluster_enabled") == 1
    except (StoreUnavailableError, StoreError) as exc:
        raise StoreUnavailableError(f"cannot reach Redis at {url}: {exc.__cause__}") from exc.__cause__
    if cluster:
        client.close()
        with mapped_errors():  # it asks a node for the slot map at once
            return cast(RedisCluster, RedisCluster.from_url(url, **options))
    return client


def ping(client) -> None:
    """Whether Redis answers: every primary of a Cluster (a replica answering is not enough: the
    engine's writes go to the primaries). Raises the client's error."""
    if is_cluster(client):
        client.ping(target_nodes=RedisCluster.PRIMARIES)
    else:
        client.ping()


def is_cluster(client) -> bool:
    """Whether ``client`` talks to a Redis Cluster (``connect`` gives a cluster client for a Cluster
    node): where a script or a blocking read may touch one slot only."""
    return _cluster_class(cast(Hashable, type(client)))


@cache
def _cluster_class(cls: Hashable) -> bool:
    # Asked once per pipelined script call (``routed``): redis-py's client classes derive from
    # typing Protocols, whose isinstance check cost a batch of orders 7% of its time.
    return isinstance(cls, type) and issubclass(cls, redis.cluster.RedisCluster)


def routed(client, key: str) -> dict:
    """Options for a pipelined command on ``key``'s slot: on a Cluster they name the node serving it.
    redis-py's cluster pipeline otherwise asks the server which keys a command with movable keys
    (EVALSHA, XREAD, XREADGROUP) takes: a COMMAND GETKEYS round trip, all its arguments again, per
    command, one after another, before the pipeline goes out. On a redirection (a moved slot) it
    routes the command again itself. A single server needs nothing."""
    if not is_cluster(client):
        return {}
    try:
        return {"target_nodes": client.get_node_from_key(key)}
    except RedisClusterException as exc:  # a slot no node serves (a failover): SlotNotCoveredError
        raise store_error(exc) from exc


@contextmanager
def open_redis(settings: Settings, timeout_s: float | None = None):
    """Yield a connected client: ``settings.redis_url``; else the embedded server another engine
    process runs in ``settings.data_dir``; else a new embedded server there, stopped again on exit.
    Its calls are bounded by ``timeout_s``, by default ``settings.redis_timeout_ms`` (serving)."""
    url = settings.redis_url or EmbeddedRedis.running_in(settings.data_dir)
    timeout_s = timeout_s or settings.redis_timeout_ms / 1000
    if url:
        client = connect(url, timeout_s)
        try:
            yield client
        finally:
            client.close()
        return
    with EmbeddedRedis(settings.data_dir, appendfsync=settings.redis_appendfsync) as server:
        client = connect(server.url, timeout_s)
        try:
            yield client
        finally:
            client.close()
