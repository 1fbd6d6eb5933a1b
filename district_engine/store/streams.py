"""Partitioned Redis Streams read through one consumer group: several processes share the
entries, each entry is acknowledged once handled, and what a dead consumer held is claimed back
after it has been idle a while (at-least-once processing).

The live consumers of a group split the partitions: each reads new entries only from its share, so
a poll costs a consumer its share of the partitions, not all of them (store/layout.py lets a
deployment have hundreds). A consumer is live while it reads: each read renews its heartbeat in the
group's member set, at most once a ``heartbeat_s``, and a member silent for ``member_ttl_ms`` has
left. A partition goes to the live member that ranks highest for it (rendezvous hashing), so a
join or a departure moves only that member's share. Views of the members can differ for a moment:
a partition may then be read by two members (the group still gives each entry to one) or by none
until the next heartbeat (a delay). A departed member's partitions wait up to ``member_ttl_ms``
for their new owner; what it had read and not acknowledged is claimed back by idle time, by any
consumer (``reclaim`` looks at every partition)."""

from __future__ import annotations

import hashlib
import re
import time
from collections import defaultdict
from typing import Callable, NamedTuple

from district_engine.errors import StoreError
from district_engine.store import keys as key_names
from district_engine.store.connection import bounded_block, is_cluster, routed

__all__ = ["Entry", "StreamGroup", "ClusterPoll", "shares", "stream_id_key", "read_all", "read_streams", "PAGE",
           "STREAM_ID"]

PAGE = 10_000
# An entry id a client hands back (a page's cursor, a Last-Event-ID): ASCII digits (\d takes any
# script's), at most 19 a part, since 20 can pass 2^64 - 1, which Redis refuses (a 500, not a 422).
STREAM_ID = re.compile(r"[0-9]{1,19}-[0-9]{1,19}")


class ClusterPoll:
    """How long to wait between reads on a Cluster, where one BLOCK cannot span the partitions'
    slots and a read of n partitions is n commands, whatever it finds. While reads find fewer
    entries than partitions read (sparse, or empty), the next waits: ``first_ms``, doubling up to
    ``max_ms``; a read finding at least one entry per partition read goes on at once and resets the
    wait. An idle stream costs a few reads a second, not twenty (each API process polls four
    streams: pushes, broadcast chunks, bulk locations, and the SSE hub's). A trickle spread over
    hundreds of partitions is read once enough has gathered, not at about one command per entry
    (and one XACK per partition of the batch after it; docs/scaling.md). What it
    costs: an entry waits up to ``max_ms`` longer on a sparse stream."""

    def __init__(self, first_ms: int = 50, max_ms: int = 400, sleep=time.sleep):
        self.first_ms, self.max_ms, self._sleep = first_ms, max_ms, sleep
        self.next_ms = first_ms

    def after(self, found: int, reads: int, block_ms: int | None) -> None:
        """Call after each read of ``reads`` partitions that found ``found`` entries: what it found
        decides the next wait; a sparse one waits now (at most ``block_ms``, as a blocking read
        would)."""
        if found >= max(1, reads):
            self.next_ms = self.first_ms
        elif block_ms:
            self._sleep(min(block_ms, self.next_ms) / 1000)
            self.next_ms = min(2 * self.next_ms, self.max_ms)


def read_all(client, key: str, page: int = PAGE):
    """Every entry (id, fields) of the stream ``key``, oldest first, a page per call: a ledger of a
    million entries in one XRANGE would hold the server, and outlast the client's timeout."""
    start = "-"
    while rows := client.xrange(key, min=start, count=page):
        yield from rows
        if len(rows) < page:
            return
        start = b"(" + rows[-1][0] if isinstance(rows[-1][0], bytes) else "(" + rows[-1][0]


def read_streams(client, streams: dict[str, str], count: int, block_ms: int | None, poll: ClusterPoll,
                 group: tuple[str, str] | None = None) -> list[tuple[str, list]]:
    """XREAD of ``streams`` (key -> the id to read after), or with ``group`` (group, consumer)
    XREADGROUP, up to ``count`` entries each, waiting up to ``block_ms``: (key, entries) of each
    stream that had some. On a single server, one command that blocks (bounded: store/connection.py);
    on a Cluster, where a command touches one slot, one read per stream, pipelined, and the poll's
    back-off where a blocking read would wait."""
    head = ("XREADGROUP", "GROUP", *group) if group else ("XREAD",)
    if is_cluster(client):
        pipe = client.pipeline(transaction=False)
        for key, after in streams.items():
            pipe.execute_command(*head, "COUNT", count, "STREAMS", key, after, **routed(client, key))
        rows = [row for result in pipe.execute() for row in (result or [])]
        poll.after(sum(len(entries) for _, entries in rows), len(streams), block_ms)
    else:
        block = bounded_block(client, block_ms)  # BLOCK 0 would wait for ever
        rows = (client.xreadgroup(group[0], group[1], streams, count=count, block=block) if group
                else client.xread(streams, count=count, block=block)) or []
    return [(key.decode() if isinstance(key, bytes) else key, entries) for key, entries in rows]


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """A Redis stream id ("<ms>-<seq>") as a sortable pair."""
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


class Entry(NamedTuple):
    partition: int
    stream_id: str
    fields: dict  # bytes -> bytes


def _rank(member: str, partition: int) -> bytes:
    return hashlib.blake2b(f"{member}/{partition}".encode(), digest_size=8).digest()


def shares(members: list[str], partitions: int) -> dict[str, list[int]]:
    """Each member's partitions: each partition goes to the member ranking highest for it."""
    out = {m: [] for m in members}
    if members:
        for p in range(partitions):
            out[max(members, key=lambda m: _rank(m, p))].append(p)
    return out


class StreamGroup:
    def __init__(self, client, stream_key: Callable[[int], str], group: str, partitions: int, *,
                 heartbeat_s: float = 1.0, member_ttl_ms: int = 10_000):
        self._client = client
        self._poll = ClusterPoll()
        self.keys = [stream_key(p) for p in range(partitions)]
        self._partition = {k: p for p, k in enumerate(self.keys)}
        self.group = group
        self._ready = False
        self._members_key = key_names.group_members(stream_key(0), group)
        self.heartbeat_s, self.member_ttl_ms = heartbeat_s, member_ttl_ms
        self._share: tuple[str, tuple[str, ...], list[str]] | None = None  # (consumer, members, its keys)
        self._beat_at = float("-inf")

    def share(self, consumer: str) -> list[str]:
        """The stream keys of ``consumer``'s partitions, among the group's live members; renews its
        heartbeat (at most once a ``heartbeat_s``)."""
        stale = time.monotonic() - self._beat_at >= self.heartbeat_s
        if self._share is None or self._share[0] != consumer or stale:
            now_ms = int(time.time() * 1000)
            pipe = self._client.pipeline(transaction=False)
            pipe.zadd(self._members_key, {consumer: now_ms})
            pipe.zremrangebyscore(self._members_key, "-inf", now_ms - self.member_ttl_ms)
            pipe.zrange(self._members_key, 0, -1)
            members = tuple(sorted(m.decode() for m in pipe.execute()[-1]))
            self._beat_at = time.monotonic()
            if self._share is None or self._share[:2] != (consumer, members):
                mine = shares(list(members), len(self.keys))[consumer]
                self._share = (consumer, members, [self.keys[p] for p in mine])
        return self._share[2]

    def leave(self, consumer: str) -> None:
        """Give ``consumer``'s partitions to the others now, not after ``member_ttl_ms``."""
        self._client.zrem(self._members_key, consumer)
        self._share = None

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
            except StoreError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._ready = True

    def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """New entries of this consumer's partitions (``share``), up to ``count`` per partition,
        waiting up to ``block_ms``."""
        self.ensure_group()
        mine = self.share(consumer)
        if not mine:  # more consumers than partitions: nothing to read, for now
            time.sleep((block_ms or 0) / 1000)
            return []
        rows = read_streams(self._client, {k: ">" for k in mine}, count, block_ms, self._poll, (self.group, consumer))
        return [Entry(self._partition[key], sid.decode(), f) for key, entries in rows for sid, f in entries if f]

    def reclaim(self, consumer: str, min_idle_ms: int, count: int = 500) -> list[Entry]:
        """Entries another consumer read and never acknowledged (it died), now this consumer's: up to
        ``count`` per partition, every partition in one round trip (one per node on a Cluster), not
        one each: with hundreds of partitions a reclaim would otherwise hold its thread for as many
        round trips."""
        self.ensure_group()
        pipe = self._client.pipeline(transaction=False)
        for key in self.keys:
            pipe.xautoclaim(key, self.group, consumer, min_idle_ms, start_id="0-0", count=count)
        return [Entry(p, sid.decode(), f) for p, (_, entries, *_) in enumerate(pipe.execute())
                for sid, f in entries if f]

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
        pipe = self._client.pipeline(transaction=False)
        for key in self.keys:
            pipe.xpending(key, self.group)
        return sum(p["pending"] for p in pipe.execute())
