"""Bulk location updates in Redis: a stream per partition, consumed by the matchers' group."""

from __future__ import annotations

from typing import NamedTuple

from district_engine.store import keys
from district_engine.store.layout import partition_count
from district_engine.store.streams import Entry, StreamGroup

__all__ = ["LocationQueue", "Located", "GROUP"]

GROUP = "matchers"
_MAXLEN = 1_000_000  # per partition: a bound against a backlog with no matcher running


class Located(NamedTuple):
    """One queued location update (WGS-84)."""

    partition: int
    stream_id: str
    user_id: str
    lat: float
    lng: float


class LocationQueue:
    def __init__(self, client, partitions: int | None = None):
        """``partitions``: the deployment's count (``layout.partition_count``), read when None."""
        self.partitions = partitions or partition_count(client)
        self._client = client
        self.stream = StreamGroup(client, keys.location_stream, GROUP, self.partitions)

    def add(self, rows: list[tuple[str, float, float]]) -> None:
        """Queue (user id, lat, lng) rows, WGS-84, in one round trip."""
        pipe = self._client.pipeline(transaction=False)
        for user_id, lat, lng in rows:
            stream = keys.location_stream(keys.partition(user_id, self.partitions))
            pipe.xadd(stream, {"u": user_id, "lat": lat, "lng": lng}, maxlen=_MAXLEN, approximate=True)
        pipe.execute()

    def read(self, consumer: str, count: int, block_ms: int, reclaim_idle_ms: int | None = None) -> list[Located]:
        """New rows, or (with ``reclaim_idle_ms``) rows a dead matcher left unacknowledged."""
        return [_located(e) for e in self.stream.take(consumer, count, block_ms, reclaim_idle_ms)]

    def ack(self, rows: list[Located]) -> None:
        self.stream.ack(rows)


def _located(e: Entry) -> Located:
    f = e.fields
    return Located(e.partition, e.stream_id, f[b"u"].decode(), float(f[b"lat"]), float(f[b"lng"]))
