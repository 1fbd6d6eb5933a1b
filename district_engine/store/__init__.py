"""Everything Redis: the only package that imports redis.

connection (a URL, standalone/TLS/Cluster, or the embedded server), keys.py (every key name, with
per-entity hash tags), lua/*.lua run through scripts.py, and one repository per entity.
"""

import re

import redis as _redis

from district_engine.store.connection import connect, open_redis
from district_engine.store.districts import DistrictStore, StoredDistrict
from district_engine.store.server import EmbeddedRedis

__all__ = ["connect", "open_redis", "EmbeddedRedis", "DistrictStore", "StoredDistrict", "UNAVAILABLE",
           "STORE_ERROR", "is_refusal"]

# What a lost, slow or refusing Redis raises, for callers that map it (the API answers 503 with
# Retry-After) without importing redis: the connection, a timeout, and the refusals redis-py names.
UNAVAILABLE = (_redis.ConnectionError, _redis.TimeoutError, _redis.exceptions.BusyLoadingError,
               _redis.exceptions.ReadOnlyError, _redis.exceptions.OutOfMemoryError,
               _redis.exceptions.ClusterDownError, _redis.exceptions.TryAgainError,
               _redis.exceptions.MasterDownError)
STORE_ERROR = _redis.RedisError
# The error codes of a server that refuses for now (out of memory, a replica, a failed save, still
# loading, a script running too long, a failover, a moving slot): as replies, and inside a script's
# error text, where Redis 6 wraps them ("ERR Error running script ...: -OOM command not allowed ...").
_REFUSAL = re.compile(r"(?:^|[\s:-])(OOM|READONLY|MISCONF|LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS)\b")


def is_refusal(exc: BaseException) -> bool:
    """Whether a Redis error means "not now" (retry later: a 503), not a bug in the request."""
    return isinstance(exc, UNAVAILABLE) or (isinstance(exc, _redis.ResponseError) and bool(_REFUSAL.search(str(exc))))
