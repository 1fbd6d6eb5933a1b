"""Broadcast fan-out in Redis: the users a broadcast found in a campaign's reach, queued in chunks
on their partitions' streams, and delivered by the workers' fan-out group. Finding and queueing
is a few writes per thousand users; the per-user delivery (the at-most-once check, the cap, the
events) then runs in as many workers, and on as many Cluster shards, as there are."""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np

from district_engine.store import keys
from district_engine.store.layout import partition_count
from district_engine.store.streams import StreamGroup

__all__ = ["FanoutQueue", "Chunk", "GROUP"]

GROUP = "fanout"
CHUNK = 500  # users per entry: one delivery script call each


class Chunk(NamedTuple):
    partition: int
    stream_id: str
    campaign_id: str
    users: list  # [user id, position time found (ms), distance (m)]


class FanoutQueue:
    def __init__(self, client, partitions: int | None = None):
        """``partitions``: the deployment's count (``layout.partition_count``), read when None."""
        self._client = client
        self.partitions = partitions or partition_count(client)
        self.stream = StreamGroup(client, keys.fanout_stream, GROUP, self.partitions)

    def add(self, campaign_id: str, users: list[str], found_ms, distance_m, partitions=None) -> int:
        """Queue the users found in a campaign's reach (parallel arrays; ``partitions`` as
        ``keys.partition`` gives them, computed when None; a distance NaN is unknown: null), by
        partition in chunks; the chunks written."""
        distances = [None if d != d else d for d in np.round(distance_m, 1).tolist()]
        rows = list(zip(users, found_ms.tolist(), distances))
        if partitions is None:
            partitions = [keys.partition(u, self.partitions) for u in users]
        partitions = np.asarray(partitions)
        pipe = self._client.pipeline(transaction=False)
        n = 0
        for p in np.unique(partitions).tolist():
            mine = [rows[i] for i in np.flatnonzero(partitions == p).tolist()]
            for s in range(0, len(mine), CHUNK):
                pipe.xadd(keys.fanout_stream(p), {"c": campaign_id,
                                                  "u": json.dumps(mine[s:s + CHUNK], ensure_ascii=False)})
                n += 1
        pipe.execute()
        return n

    def read(self, consumer: str, count: int, block_ms: int, reclaim_idle_ms: int | None = None) -> list[Chunk]:
        """New chunks, or (with ``reclaim_idle_ms``) chunks a dead worker left unacknowledged."""
        return [Chunk(e.partition, e.stream_id, e.fields[b"c"].decode(), json.loads(e.fields[b"u"]))
                for e in self.stream.take(consumer, count, block_ms, reclaim_idle_ms)]

    def ack(self, chunks: list[Chunk]) -> None:
        self.stream.ack(chunks)
