"""The Redis clients the engine uses (``connection.connect`` hands them out): redis-py's, with every
error they raise, or return in a pipeline's results, mapped to the engine's own at this one boundary.

A Redis that cannot answer now (the connection lost, a timeout, out of memory, a replica, loading, a
script running too long, a failover, a moving slot, a Cluster without its primaries) is
StoreUnavailableError: retry shortly (the API answers 503 with Retry-After). Any other Redis error is
StoreError: a bug of the engine's (a 500, logged). Either keeps redis-py's exception as its
``__cause__``, for the logs and for store/ itself (``caused_by``); nothing outside store/ sees a
redis-py exception class.

What redis-py handles itself stays inside it: a Cluster's MOVED and ASK redirections are followed
before an error reaches ``execute_command``; only what escapes is mapped. The mapping wraps the two
calls every round trip goes through, a client's ``execute_command`` and a pipeline's ``execute``: a
``try`` (free in Python 3.11 until something is raised) and one call frame, nothing per queued
command. The engine uses no other kind of redis-py call (no pub/sub, no asyncio client, no lock):
one would need its mapping here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import redis
import redis.client
import redis.cluster
from redis.exceptions import (
    AskError,
    ClusterError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)

from district_engine.errors import StoreError, StoreUnavailableError

__all__ = ["Redis", "RedisCluster", "Pipeline", "ClusterPipeline", "store_error", "mapped_errors", "caused_by",
           "pipeline_of"]

# What redis-py raises: its own errors, and a Cluster client's (which are not RedisErrors).
_REDIS_ERRORS = (redis.RedisError, RedisClusterException)
# Not now, by class: the connection (BusyLoadingError, a server still loading, is one), a timeout, a
# Cluster that is down or redirects for ever (ClusterError: ClusterDownError, MasterDownError, "TTL
# exhausted"), a slot moving or not served (AskError and MovedError that escape redis-py, TRYAGAIN,
# SlotNotCoveredError), a replica (READONLY) and out of memory.
_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, ClusterError, AskError, TryAgainError, ReadOnlyError,
                OutOfMemoryError, SlotNotCoveredError)
# The error codes of a server that refuses for now, as a reply and inside a script's error text,
# where Redis 6 wraps them ("ERR Error running script ...: -OOM command not allowed ...").
_REFUSAL = re.compile(r"(?:^|[\s:-])(OOM|READONLY|MISCONF|LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS)\b")
# A Cluster client that reaches none of its nodes, or finds slots that nobody serves (a failover).
_CLUSTER_AWAY = re.compile(r"cannot be connected|not covered|could not agree")
# redis-py puts a failed pipelined command, with its arguments, before the reply's own text.
_PIPELINED = "of pipeline caused error: "


def _is_refusal(exc: BaseException) -> bool:
    """Whether redis-py's ``exc`` means "not now" (retry later), not a bug in the request."""
    if isinstance(exc, _UNAVAILABLE):
        return True
    text = str(exc)
    if isinstance(exc, redis.ResponseError):  # the reply only, not the arguments of the command it answers
        return bool(_REFUSAL.search(text.rpartition(_PIPELINED)[2]))
    return isinstance(exc, RedisClusterException) and bool(_CLUSTER_AWAY.search(text))


def store_error(exc: BaseException) -> StoreUnavailableError | StoreError:
    """The engine's error for redis-py's ``exc``, with ``exc`` as its cause."""
    if _is_refusal(exc):
        err: StoreUnavailableError | StoreError = StoreUnavailableError("the state store is unavailable; retry shortly")
    else:
        err = StoreError(f"unexpected Redis error ({type(exc).__name__}): {exc}")
    err.__cause__ = exc  # also when it is a pipeline's result, never raised here
    return err


def caused_by(err: object, kinds: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
    """Whether ``err`` (raised by a client, or a pipeline's result) is the mapping of one of
    redis-py's ``kinds``: for store/ to tell the replies it handles (NOSCRIPT, a moved slot)."""
    return isinstance(err, (StoreError, StoreUnavailableError)) and isinstance(err.__cause__, kinds)


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Map what redis-py raises outside a command: building a Cluster client, refreshing its slots."""
    try:
        yield
    except _REDIS_ERRORS as exc:
        raise store_error(exc) from exc


def _mapped(results: list) -> list:
    """A pipeline's results (``raise_on_error=False``), each error in it mapped, in place."""
    for i, r in enumerate(results):
        if isinstance(r, _REDIS_ERRORS):
            results[i] = store_error(r)
    return results


class _MappedExecute:
    """A pipeline's ``execute`` (redis-py's, next in the class order), its errors mapped."""

    def execute(self, raise_on_error: bool = True) -> list:
        try:
            results = super().execute(raise_on_error)  # type: ignore[misc]
        except _REDIS_ERRORS as exc:
            raise store_error(exc) from exc
        return results if raise_on_error else _mapped(results)


class Pipeline(_MappedExecute, redis.client.Pipeline):
    """redis-py's pipeline, its errors mapped; commands are queued by redis-py untouched."""


class ClusterPipeline(_MappedExecute, redis.cluster.ClusterPipeline):
    """redis-py's Cluster pipeline (which follows MOVED and ASK per command itself), its errors mapped."""


# redis-py's own execute_command is one line that calls the implementation (``_execute_command``,
# a Cluster's ``_internal_execute_command``); the mapping calls that directly, so that a command
# costs no second frame and no second packing of its arguments (tests/integration/test_store_errors.py
# checks that the line is still all there is).
class Redis(redis.Redis):
    """A single server's client (standalone or TLS), its errors mapped."""

    def execute_command(self, *args, **options):
        try:
            return self._execute_command(*args, **options)
        except _REDIS_ERRORS as exc:
            raise store_error(exc) from exc

    def pipeline(self, transaction=True, shard_hint=None) -> Pipeline:
        return _retyped(super().pipeline(transaction, shard_hint), Pipeline)


class RedisCluster(redis.cluster.RedisCluster):
    """A Cluster's client, its errors mapped once redis-py has followed its redirections."""

    def execute_command(self, *args, **kwargs):
        try:
            return self._internal_execute_command(*args, **kwargs)
        except _REDIS_ERRORS as exc:
            raise store_error(exc) from exc

    def pipeline(self, transaction=None, shard_hint=None) -> ClusterPipeline:
        return _retyped(super().pipeline(transaction, shard_hint), ClusterPipeline)


def pipeline_of(node: redis.Redis) -> Pipeline:
    """A pipeline (no transaction) on any single-server client, its errors mapped: on a Cluster
    node's own client, which a Cluster client hands out for a command that must go down one
    connection (``Scripts.replicated``)."""
    return _retyped(node.pipeline(transaction=False), Pipeline)


def _retyped(pipe, cls):
    # redis-py builds a pipeline from its client's internals (a Cluster pipeline from a dozen of
    # them); the subclass adds only the mapping, no state, so the one redis-py built becomes it.
    pipe.__class__ = cls
    return pipe
