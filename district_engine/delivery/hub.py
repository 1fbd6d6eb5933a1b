"""Server-sent-event fan-out within one API process: one thread follows the outbox streams of the
partitions its listeners are in (none while nobody listens) and hands each user's events to that
user's open streams. However many streams are open, Redis sees one reader per process, and it reads
only partitions someone here listens to: with many partitions (store/layout.py), a process with a
few listeners reads a few streams, not all of them."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter, defaultdict
from contextlib import contextmanager

from district_engine.store import keys
from district_engine.store.outbox import Outbox
from district_engine.store.streams import stream_id_key

__all__ = ["Hub", "running_hub"]

log = logging.getLogger("district_engine.hub")

QUEUE_LIMIT = 1000  # events waiting for one slow stream; past it the stream is closed (it resumes by id)


class Hub:
    def __init__(self, outbox: Outbox):
        self.outbox = outbox
        self._subscribers: dict[str, set[asyncio.Queue]] = defaultdict(set)
        self._listeners: Counter[int] = Counter()  # partition -> users listening in it
        self._lock = threading.Lock()
        self._cursors: dict[int, str] = {}  # partition -> the last id read, for the listeners' partitions
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="sse-hub", daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=2)

    def subscribe(self, user_id: str) -> asyncio.Queue:
        """A queue of (user stream id, payload) for the user's events from now on (None: the stream
        fell too far behind and must close). Blocking (call in a thread): on return the hub's
        cursors are set, so any event not yet written will come."""
        q: asyncio.Queue = asyncio.Queue()  # bounded by _offer
        p = keys.partition(user_id, self.outbox.partitions)
        with self._lock:
            if user_id not in self._subscribers:
                self._listeners[p] += 1
            self._subscribers[user_id].add(q)
            if p not in self._cursors:  # a partition nobody here listened to: follow it from now
                self._cursors[p] = self.outbox.latest_ids([p])[p]
        self._wake.set()
        return q

    def unsubscribe(self, user_id: str, q: asyncio.Queue) -> None:
        with self._lock:
            subs = self._subscribers.get(user_id)
            if subs is not None:
                subs.discard(q)
                if not subs:
                    del self._subscribers[user_id]
                    p = keys.partition(user_id, self.outbox.partitions)
                    self._listeners[p] -= 1
                    if not self._listeners[p]:  # nobody left in it: stop reading it
                        del self._listeners[p]
                        del self._cursors[p]

    def following(self) -> set[int]:
        """The partitions this hub reads."""
        with self._lock:
            return set(self._cursors)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                cursors = dict(self._cursors)
            if not cursors:  # nobody listens
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                events, moved = self.outbox.follow(cursors, count=1000, block_ms=500)
            except Exception:  # noqa: BLE001 - a lost store: keep the streams open, try again
                log.warning("sse hub: reading the outbox failed; retrying", exc_info=True)
                self._stop.wait(0.5)
                continue
            with self._lock:
                for p, cursor in moved.items():
                    # Only forward, and only where someone still listens: a partition left and
                    # joined again during the read was followed afresh from its newest entry.
                    if p in self._cursors and stream_id_key(cursor) > stream_id_key(self._cursors[p]):
                        self._cursors[p] = cursor
                targets = [(q, (e.user_stream_id, e.payload.decode())) for e in events
                           for q in self._subscribers.get(e.user_id, ())]
            for q, item in targets:
                self._loop.call_soon_threadsafe(_offer, q, item)


@contextmanager
def running_hub(hub: Hub):
    """Run the hub on the calling event loop's behalf while the block runs."""
    hub.start(asyncio.get_running_loop())
    try:
        yield hub
    finally:
        hub.stop()


def _offer(q: asyncio.Queue, item) -> None:
    if q.qsize() < QUEUE_LIMIT:
        q.put_nowait(item)
    elif q.qsize() == QUEUE_LIMIT:
        q.put_nowait(None)  # too slow: the stream closes on this, and its client resumes by id
