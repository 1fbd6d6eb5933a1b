"""Partitioned Redis Streams read through one consumer group: several processes share the
entries, each entry is acknowledged once handled, and what a dead consumer held is claimed back
after it has been idle a while (at-least-once processing)."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Callable, NamedTuple

import redis

from district_engine.store.connection import is_cluster, routed

__all__ = ["Entry", "StreamGroup", "ClusterPoll", "stream_id_key"]


class ClusterPoll:
    """How long an empty read waits on a Cluster, where one BLOCK cannot span the partitions' slots:
    ``first_ms`` after the first empty read, doubling while reads stay empty up to ``max_ms``, and
    back to ``first_ms`` once a read brings something. A busy stream is read without a pause; an
    idle one costs a few reads of every partition a second, not twenty (each API process polls
    four streams: pushes, broadcast chunks, bulk locations, and the SSE hub's)."""

    def __init__(self, first_ms: int = 50, max_ms: int = 400, sleep=time.sleep):
        self.first_ms, self.max_ms, self._sleep = first_ms, max_ms, sleep
        self.next_ms = first_ms

    def after(self, found: bool, block_ms: int | None) -> None:
        """Call after each read: what it found decides the next wait; an empty one waits now (at
        most ``block_ms``, as a blocking read would)."""
        if found:
            self.next_ms = self.first_ms
        elif block_ms:
            self._sleep(min(block_ms, self.next_ms) / 1000)
            self.next_ms = min(2 * self.next_ms, self.max_ms)


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """A Redis stream id ("<ms>-<seq>") as a sortable pair."""
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


class Entry(NamedTuple):
    partition: int
    stream_id: str
    fields: dict  # bytes -> bytes


class StreamGroup:
    def __init__(self, client, stream_key: Callable[[int], str], group: str, partitions: int):
        self._client = client
        self._cluster = is_cluster(client)
        self._poll = ClusterPoll()
        self.keys = [stream_key(p) for p in range(partitions)]
        self._partition = {k: p for p, k in enumerate(self.keys)}
        self.group = group
        self._ready = False

    def partition_of(self, key: str) -> int:
        """The partition whose stream ``key`` is."""
        return self._partition[key]

    def ensure_group(self) -> None:
        """Create the group on every partition's stream (from its start), once."""
        if self._ready:
            return
        for key in self.keys:
            try:
                self._client.xgroup_create(key, self.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._ready = True

    def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """New entries for this consumer, up to ``count`` per partition, waiting up to ``block_ms``."""
        self.ensure_group()
        if self._cluster:  # a slot per partition: one read each, pipelined (routed node by node)
            pipe = self._client.pipeline(transaction=False)
            for key in self.keys:
                pipe.execute_command("XREADGROUP", "GROUP", self.group, consumer, "COUNT", count, "STREAMS", key, ">",
                                     **routed(self._client, key))
            rows = [row for result in pipe.execute() for row in (result or [])]
            self._poll.after(bool(rows), block_ms)  # no BLOCK across slots: poll, gently
        else:
            rows = self._client.xreadgroup(self.group, consumer, {k: ">" for k in self.keys}, count=count,
                                           block=block_ms or None) or []  # BLOCK 0 would wait for ever
        return [Entry(self._partition[key.decode() if isinstance(key, bytes) else key], sid.decode(), f)
                for key, entries in rows for sid, f in entries if f]

    def reclaim(self, consumer: str, min_idle_ms: int, count: int = 500) -> list[Entry]:
        """Entries another consumer read and never acknowledged (it died), now this consumer's."""
        self.ensure_group()
        out = []
        for p, key in enumerate(self.keys):
            _, entries, *_ = self._client.xautoclaim(key, self.group, consumer, min_idle_ms, start_id="0-0",
                                                     count=count)
            out += [Entry(p, sid.decode(), f) for sid, f in entries if f]
        return out

    def take(self, consumer: str, count: int, block_ms: int, reclaim_idle_ms: int | None = None) -> list[Entry]:
        """New entries (``read``), or with ``reclaim_idle_ms`` those a dead consumer left (``reclaim``)."""
        if reclaim_idle_ms is not None:
            return self.reclaim(consumer, reclaim_idle_ms, count)
        return self.read(consumer, count, block_ms)

    def ack(self, entries) -> None:
        """Acknowledge entries (anything with ``partition`` and ``stream_id``) in one round trip: one
        XACK per partition, not per entry (a first contact pushes about five events)."""
        ids = defaultdict(list)
        for e in entries:
            ids[e.partition].append(e.stream_id)
        if not ids:
            return
        pipe = self._client.pipeline(transaction=False)
        for p, stream_ids in ids.items():
            pipe.xack(self.keys[p], self.group, *stream_ids)
        pipe.execute()

    def pending(self) -> int:
        """Entries read and not yet acknowledged, all partitions."""
        return sum(self._client.xpending(key, self.group)["pending"] for key in self.keys)
