"""Everything Redis: the only package that imports redis.

connection (a URL, standalone/TLS/Cluster, or the embedded server), keys.py (every key name, with
per-entity hash tags), lua/*.lua run through scripts.py, and one repository per entity. The clients
raise the engine's errors, never redis-py's (clients.py): StoreUnavailableError when Redis cannot
answer now, StoreError for any other Redis error.
"""

from district_engine.store.connection import connect, open_redis
from district_engine.store.districts import DistrictStore, StoredDistrict
from district_engine.store.server import EmbeddedRedis

__all__ = ["connect", "open_redis", "EmbeddedRedis", "DistrictStore", "StoredDistrict"]
