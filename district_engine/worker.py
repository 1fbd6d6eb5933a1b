"""The worker of one process: the webhook sender (and its retries), the job scheduler
(broadcasts at go-live, rain refunds at the end, parking charges that failed), the fan-out of
broadcasts and the matchers of bulk location updates, each
on its own thread. Any number of workers share the work through Redis: consumer groups for the
streams, leases for the jobs. ``district-engine serve`` runs one in-process;
``district-engine worker`` runs one alone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid

from district_engine.delivery.sender import Sender
from district_engine.channel import Ping
from district_engine.engine import Engine
from district_engine.errors import StoreUnavailableError

__all__ = ["Worker"]

log = logging.getLogger("district_engine.worker")


def _run_async(coro):
    """Run on uvloop where it is installed (uvicorn[standard] brings it): the sender spends most of
    its CPU in the event loop and HTTP client, and uvloop's loop is the faster one."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def consumer_name() -> str:
    """Unique per process and start: a restarted worker does not inherit its old pending entries
    by name; they are claimed back by idle time like any dead consumer's."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, engine: Engine, *, consumer: str | None = None, sender_options: dict | None = None,
                 jobs_every_s: float = 0.5, match_batch: int = 1000, reclaim_idle_s: float = 60):
        self.engine = engine
        self.consumer = consumer or consumer_name()
        self.sender = Sender(engine.stores.outbox, engine.stores.endpoints, self.consumer,
                             **(sender_options or {}))
        self.jobs_every_s = jobs_every_s
        self.match_batch = match_batch
        self.reclaim_idle_ms = int(reclaim_idle_s * 1000)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._async_stop: asyncio.Event | None = None
        self.matched = self.fanned_out = 0

    def start(self) -> Worker:
        for name, target in (("sender", self._run_sender), ("jobs", self._run_jobs), ("matcher", self._run_matcher),
                             ("fanout", self._run_fanout)):
            t = threading.Thread(target=target, name=f"worker-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout_s: float = 10) -> None:
        """Stop taking work and finish what is in hand."""
        self._stop.set()
        if self._loop is not None and self._async_stop is not None:
            self._loop.call_soon_threadsafe(self._async_stop.set)
        for t in self._threads:
            t.join(timeout_s)
        # Its partitions go to the other consumers now, not once its heartbeat is stale.
        for group in (self.engine.stores.outbox.stream, self.engine.stores.locations.stream, self.engine.stores.fanout.stream):
            try:
                group.leave(self.consumer)
            except StoreUnavailableError:
                pass  # they move when the heartbeat is stale

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ the loops
    def _run_sender(self) -> None:
        async def main():
            self._loop = asyncio.get_running_loop()
            self._async_stop = asyncio.Event()
            if self._stop.is_set():
                return
            await self.sender.run(self._async_stop)

        self._guarded(lambda: _run_async(main()), "sender")

    def _run_jobs(self) -> None:
        def step():
            if not (self.engine.jobs.run_due_jobs() + self.engine.parking.retry_unpaid()):
                self._stop.wait(self.jobs_every_s)

        self._guarded(step, "jobs", loop=True)

    def _run_fanout(self) -> None:
        def consume(reclaim_idle_ms):
            self.fanned_out += self.engine.broadcasts.fan_out(self.consumer, block_ms=500, reclaim_idle_ms=reclaim_idle_ms)

        self._stream_loop("fanout", consume)

    def _run_matcher(self) -> None:
        def consume(reclaim_idle_ms):
            rows = self.engine.stores.locations.read(self.consumer, self.match_batch, 500, reclaim_idle_ms=reclaim_idle_ms)
            if rows:
                self.engine.channel.locate_many([Ping(r.user_id, r.lat, r.lng) for r in rows])
                self.engine.stores.locations.ack(rows)
                self.matched += len(rows)

        self._stream_loop("matcher", consume)

    def _stream_loop(self, name: str, consume) -> None:
        """Run ``consume(reclaim_idle_ms)`` until stopped: usually with None (new entries), and every
        half idle period with the idle time, to take back what a dead consumer left pending."""
        next_reclaim = 0.0

        def step():
            nonlocal next_reclaim
            reclaim = None
            if time.monotonic() >= next_reclaim:
                next_reclaim = time.monotonic() + self.reclaim_idle_ms / 2000
                reclaim = self.reclaim_idle_ms
            consume(reclaim)

        self._guarded(step, name, loop=True)

    def _guarded(self, step, name: str, loop: bool = False) -> None:
        """Run ``step`` (once, or until stopped), riding out a lost store and logging bugs loudly."""
        while not self._stop.is_set():
            try:
                step()
                if not loop:
                    return
            except StoreUnavailableError:
                log.warning("%s: store unavailable, retrying", name)
                self._stop.wait(0.5)
            except Exception:  # noqa: BLE001 - keep the worker alive; the lease/pending brings work back
                log.exception("%s failed; retrying", name)
                self._stop.wait(1.0)
