"""Everything Redis: the only package that imports redis.

connection (a URL, standalone/TLS/Cluster, or the embedded server), keys.py (every key name, with
per-entity hash tags), lua/*.lua run through scripts.py, and one repository per entity.
"""

import redis as _redis

from district_engine.store.connection import connect, open_redis
from district_engine.store.districts import DistrictStore, StoredDistrict
from district_engine.store.server import EmbeddedRedis

__all__ = ["connect", "open_redis", "EmbeddedRedis", "DistrictStore", "StoredDistrict", "UNAVAILABLE"]

# What a lost or slow Redis raises, for callers that map it (the API answers 503) without importing redis.
UNAVAILABLE = (_redis.ConnectionError, _redis.TimeoutError)
