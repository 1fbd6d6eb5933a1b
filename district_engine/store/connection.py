"""Connecting to the Redis that holds the engine's state: a URL (standalone, TLS or a Cluster
node) or, with none, the embedded server."""

from __future__ import annotations

from contextlib import contextmanager

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from district_engine.errors import StoreUnavailableError
from district_engine.settings import Settings
from district_engine.store.server import EmbeddedRedis

__all__ = ["connect", "is_cluster", "open_redis", "routed"]


# Short timeouts and few, quick retries: a lost Redis must cost a request milliseconds and a 503,
# never a hang (the hot routes run on the event loop; see docs/api.md).
CLIENT_DEFAULTS = {
    "socket_connect_timeout": 1.0,
    "socket_timeout": 2.0,
    "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), 2),
    "health_check_interval": 30,
}


def connect(url: str, **options) -> redis.Redis | RedisCluster:
    """A client for ``url``; a Redis Cluster node gives a cluster client (checked with INFO)."""
    options = CLIENT_DEFAULTS | options
    client = redis.Redis.from_url(url, **options)
    try:
        cluster = client.info("cluster").get("cluster_enabled") == 1
    except redis.RedisError as exc:
        raise StoreUnavailableError(f"cannot reach Redis at {url}: {exc}") from exc
    if cluster:
        client.close()
        return RedisCluster.from_url(url, **options)
    return client


def is_cluster(client) -> bool:
    """Whether ``client`` talks to a Redis Cluster (``connect`` gives a cluster client for a Cluster
    node): where a script or a blocking read may touch one slot only."""
    return isinstance(client, RedisCluster)


def routed(client, key: str) -> dict:
    """Options for a pipelined command on ``key``'s slot: on a Cluster they name the node serving it.
    redis-py's cluster pipeline otherwise asks the server which keys a command with movable keys
    (EVALSHA, XREAD, XREADGROUP) takes: a COMMAND GETKEYS round trip, all its arguments again, per
    command, one after another, before the pipeline goes out. On a redirection (a moved slot) it
    routes the command again itself. A single server needs nothing."""
    return {"target_nodes": client.get_node_from_key(key)} if is_cluster(client) else {}


@contextmanager
def open_redis(settings: Settings):
    """Yield a connected client: ``settings.redis_url``; else the embedded server another engine
    process runs in ``settings.data_dir``; else a new embedded server there, stopped again on exit."""
    url = settings.redis_url or EmbeddedRedis.running_in(settings.data_dir)
    if url:
        client = connect(url)
        try:
            yield client
        finally:
            client.close()
        return
    with EmbeddedRedis(settings.data_dir, appendfsync=settings.redis_appendfsync) as server:
        client = connect(server.url)
        try:
            yield client
        finally:
            client.close()
