"""The push outbox in Redis, from the senders' side: the partitions' outbox streams read through
one consumer group (several sender processes share the work; what a dead sender held is claimed
back), the webhook retries (timed sets under a lease) and each endpoint's dead letters."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple

from district_engine.errors import InvalidInputError
from district_engine.store import keys
from district_engine.store.layout import partition_count
from district_engine.store.schedule import TimedSet
from district_engine.store.streams import STREAM_ID, ClusterPoll, Entry, StreamGroup, read_streams, stream_id_key

__all__ = ["Event", "Retry", "Outbox", "GROUP"]

GROUP = "senders"
_DEAD_KEEP = 100_000  # dead letters kept per endpoint (the oldest go first)


class Event(NamedTuple):
    """One pushed event as read from the outbox."""

    partition: int
    stream_id: str
    event_id: str
    owner: str
    user_id: str
    payload: bytes
    user_stream_id: str  # the same event's id in the user's own stream (server-sent events resume by it)


class Retry(NamedTuple):
    """A webhook delivery to try again: ``attempt`` made so far, the first at ``first_ms``."""

    event_id: str
    endpoint_id: str
    attempt: int
    first_ms: int
    owner: str
    user_id: str
    payload: str

    def member(self) -> str:
        return json.dumps(self._asdict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def parse(cls, member: str) -> Retry:
        return cls(**json.loads(member))


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _event(e: Entry) -> Event:
    f = e.fields
    return Event(e.partition, e.stream_id, f[b"id"].decode(), f[b"owner"].decode(), f[b"user"].decode(), f[b"payload"],
                 f[b"sid"].decode())


class Outbox:
    def __init__(self, client, group: str = GROUP, partitions: int | None = None):
        """``partitions``: the deployment's count (``layout.partition_count``), read when None."""
        self._client = client
        self.partitions = partitions or partition_count(client)
        self.stream = StreamGroup(client, keys.outbox, group, self.partitions)
        self._follow_poll = ClusterPoll()  # the SSE hub's reads (one hub per process follows)
        self.retries = [TimedSet(client, keys.retries(p)) for p in range(self.partitions)]

    def ensure_group(self) -> None:
        self.stream.ensure_group()

    def read(self, consumer: str, count: int, block_ms: int) -> list[Event]:
        return [_event(e) for e in self.stream.read(consumer, count, block_ms)]

    def reclaim(self, consumer: str, min_idle_ms: int, count: int = 500) -> list[Event]:
        return [_event(e) for e in self.stream.reclaim(consumer, min_idle_ms, count)]

    def ack(self, events: list[Event]) -> None:
        self.stream.ack(events)

    def latest_ids(self, partitions: Iterable[int] | None = None) -> dict[int, str]:
        """The last entry id of these partitions' streams (None: all; "0-0" when empty): where to
        follow them from."""
        partitions = range(self.partitions) if partitions is None else list(partitions)
        pipe = self._client.pipeline(transaction=False)
        for p in partitions:
            pipe.xrevrange(self.stream.keys[p], count=1)
        return {p: rows[0][0].decode() if rows else "0-0" for p, rows in zip(partitions, pipe.execute())}

    def follow(self, cursors: dict[int, str], count: int, block_ms: int) -> tuple[list[Event], dict[int, str]]:
        """Events after ``cursors`` (partition -> stream id; only these partitions are read), outside
        the group (every follower sees every event); the events and the moved cursors."""
        streams = {self.stream.keys[p]: cursor for p, cursor in cursors.items()}
        if not streams:
            return [], {}
        moved = dict(cursors)
        events = []
        for key, entries in read_streams(self._client, streams, count, block_ms, self._follow_poll):
            p = self.stream.partition_of(key)
            events += [_event(Entry(p, sid.decode(), f)) for sid, f in entries]
            if entries:
                moved[p] = entries[-1][0].decode()
        return events, moved

    def length(self) -> int:
        """Entries in the outbox streams (acknowledged ones included, until trimmed)."""
        pipe = self._client.pipeline(transaction=False)
        for key in self.stream.keys:
            pipe.xlen(key)
        return sum(pipe.execute())

    def trim(self, now_ms: int, keep_ms: int = 300_000, consumer: str | None = None) -> int:
        """Drop what the senders are done with: entries older than both the oldest one still
        pending and the group's read position, and older than ``keep_ms`` (followers such as the
        server-sent-event hubs read a little behind). Returns the entries dropped. Without it the
        outbox would hold a day of events (the delivery script's own cap), gigabytes at thousands
        of events a second. Two round trips (one per node each on a Cluster), whatever the number
        of partitions: where each stands, then the trims. With ``consumer``, only its share of the
        partitions (each sender trims its own)."""
        keys = self.stream.keys if consumer is None else self.stream.share(consumer)
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.xinfo_groups(key)
            pipe.xpending(key, self.stream.group)
        found = pipe.execute(raise_on_error=False)
        floor_ids = {}
        for key, groups, pending in zip(keys, found[::2], found[1::2]):
            group = next((g for g in ([] if isinstance(groups, Exception) else groups)
                          if _s(g["name"]) == self.stream.group), None)
            if group is None or isinstance(pending, Exception):
                continue  # no sender has read this partition yet: keep everything
            read_ms, read_seq = stream_id_key(_s(group["last-delivered-id"]))
            floor = [(read_ms, read_seq + 1), stream_id_key(f"{max(0, now_ms - keep_ms)}-0")]
            if pending["pending"]:
                floor.append(stream_id_key(_s(pending["min"])))
            floor_ids[key] = "%d-%d" % min(floor)
        if not floor_ids:
            return 0
        pipe = self._client.pipeline(transaction=False)
        for key, floor_id in floor_ids.items():
            pipe.xtrim(key, minid=floor_id, approximate=False)
        return sum(pipe.execute())

    def retries_of(self, consumer: str) -> list[TimedSet]:
        """The retry sets of ``consumer``'s share of the partitions (``StreamGroup.share``): the
        senders split the due retries as they split the outbox, so a poll for them costs each its
        share (a script call per partition on a Cluster), not every partition."""
        return [self.retries[self.stream.partition_of(key)] for key in self.stream.share(consumer)]

    def schedule_retries(self, retries: list[tuple[Retry, int]]) -> None:
        """Put (retry, due ms) pairs, in one round trip."""
        pipe = self._client.pipeline(transaction=False)
        for r, due_ms in retries:
            pipe.zadd(keys.retries(keys.partition(r.user_id, self.partitions)), {r.member(): due_ms})
        pipe.execute()

    def bury(self, r: Retry, error: str, status: int | None, now_ms: int) -> None:
        """Park a delivery that failed for good in its endpoint's dead letters, with the class of
        its last error (``timeout``, ``http_5xx``, ...: sender.error_class) and HTTP status."""
        self._client.xadd(keys.dead_letters(r.endpoint_id),
                          {**{k: str(v) for k, v in r._asdict().items()}, "error": error,
                           "status": "" if status is None else str(status), "at_ms": now_ms},
                          maxlen=_DEAD_KEEP, approximate=True)

    def dead_letters(self, endpoint_id: str, cursor: str | None = None, limit: int = 100) -> tuple[list[dict], str | None]:
        """One page of an endpoint's dead letters, newest first, after ``cursor`` (the last id of
        the page before; None: from the newest); and the cursor of the next page (None: no more)."""
        if cursor is not None and not STREAM_ID.fullmatch(cursor):
            raise InvalidInputError("must be the next_cursor of the page before", field="cursor")
        rows = self._client.xrevrange(keys.dead_letters(endpoint_id), max="+" if cursor is None else f"({cursor}",
                                      count=limit)
        page = [{"id": sid.decode(), **{k.decode(): v.decode() for k, v in f.items()}} for sid, f in rows]
        return page, (page[-1]["id"] if len(page) == limit else None)

    def replay(self, endpoint_id: str, now_ms: int, limit: int = 1000) -> tuple[int, int]:
        """Queue up to ``limit`` of an endpoint's dead letters (oldest first) for delivery again, as
        new deliveries with a fresh retry period and the same webhook-ids; each leaves the dead
        letters once queued. (queued, left). Queued before removed: a replay cut in between may
        queue a letter twice (receivers dedupe by webhook-id); none is lost. A replay sent again
        finds only what the first did not take."""
        key = keys.dead_letters(endpoint_id)
        rows = self._client.xrange(key, count=limit)
        if not rows:
            return 0, 0
        pipe = self._client.pipeline(transaction=False)
        for _, f in rows:
            d = {k.decode(): v.decode() for k, v in f.items()}
            r = Retry(d["event_id"], endpoint_id, 0, now_ms, d["owner"], d["user_id"], d["payload"])
            pipe.zadd(keys.retries(keys.partition(r.user_id, self.partitions)), {r.member(): now_ms})
        pipe.execute()
        self._client.xdel(key, *[sid for sid, _ in rows])
        return len(rows), self._client.xlen(key)
