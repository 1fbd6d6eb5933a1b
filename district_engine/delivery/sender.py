"""The webhook sender: reads pushed events from the outbox (a consumer group, so several sender
processes share the work), POSTs each to every push endpoint that wants it, signed per Standard
Webhooks, and retries what fails with exponential backoff and jitter for ``max_age_s`` (24 h);
an endpoint answering 410 Gone is disabled; what still fails then goes to the dead letters.

Delivery is at least once: an event is acknowledged only after each of its deliveries succeeded
or was put in the retries, and its webhook-id stays the same across retries for receivers to
dedupe. Redis calls run in a thread (one per batch); the HTTP calls are asynchronous (aiohttp).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Callable

import aiohttp

from district_engine.errors import StoreUnavailableError
from district_engine.signing import headers as signed_headers
from district_engine.store import UNAVAILABLE
from district_engine.store.endpoints import Endpoint, EndpointStore
from district_engine.store.outbox import Event, Outbox, Retry
from district_engine.store.schedule import TimedSet

__all__ = ["Sender", "retry_delay_s"]

log = logging.getLogger("district_engine.sender")

USER_AGENT = "district-engine-webhooks/1"
TRIM_EVERY_S = 10.0  # how often a sender drops the outbox entries every sender is done with
RETRY_POLL_S = 0.2  # how soon a sender looks for due retries again after finding none (doubling while idle)


def retry_delay_s(attempt: int, base_s: float = 5.0, cap_s: float = 7200.0, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): base x 4^(attempt-1),
    at most ``cap_s``, with +-20% jitter so that endpoints coming back are not hit in lockstep.
    With the defaults: 5 s, 20 s, 80 s, 5 min, 21 min, 85 min, then every 2 h."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    delay = min(base_s * 4.0 ** min(attempt - 1, 30), cap_s)
    return delay * (rng or random).uniform(0.8, 1.2)


class Sender:
    def __init__(self, outbox: Outbox, endpoints: EndpointStore, consumer: str, *, batch: int = 100,
                 concurrency: int = 256, in_flight_batches: int = 4, timeout_s: float = 5.0,
                 max_age_s: float = 86_400, retry_base_s: float = 5.0, retry_cap_s: float = 7200,
                 reclaim_idle_s: float = 60, lease_s: float = 60, linger_s: float = 0.05,
                 clock: Callable[[], float] = time.time):
        self.outbox = outbox
        self.endpoints = endpoints
        self.consumer = consumer
        self.batch = batch
        self.concurrency = concurrency
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.max_age_ms = int(max_age_s * 1000)
        self.retry_base_s, self.retry_cap_s = retry_base_s, retry_cap_s
        self.reclaim_idle_ms = int(reclaim_idle_s * 1000)
        self.lease_ms = int(lease_s * 1000)
        self.linger_s = linger_s
        self.clock = clock
        self._batches = asyncio.Semaphore(in_flight_batches)
        # POSTs in flight never exceed the connection pool: a request waiting for a connection would
        # spend its timeout waiting, time out unsent, and come back as a retry (a cascade under load).
        self._posts = asyncio.Semaphore(concurrency)
        self._cache: tuple[float, dict[str, Endpoint]] = (0.0, {})
        self._in_flight: set[tuple[int, str]] = set()  # reclaiming must not take back our own
        self.sent = self.failed = 0

    # ------------------------------------------------------------ running
    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; the batches in flight are finished first."""
        await asyncio.to_thread(self.outbox.ensure_group)
        connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=self.concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                         headers={"User-Agent": USER_AGENT}) as http:
            await asyncio.gather(self._events(http, stop), self._retries(http, stop))

    async def _events(self, http, stop: asyncio.Event) -> None:
        tasks: set[asyncio.Task] = set()
        next_reclaim = next_trim = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_trim:
                    next_trim = time.monotonic() + TRIM_EVERY_S
                    await asyncio.to_thread(self.outbox.trim, int(self.clock() * 1000), consumer=self.consumer)
                if time.monotonic() >= next_reclaim:
                    next_reclaim = time.monotonic() + self.reclaim_idle_ms / 2000
                    events = await asyncio.to_thread(self.outbox.reclaim, self.consumer, self.reclaim_idle_ms)
                    events = [e for e in events if (e.partition, e.stream_id) not in self._in_flight]
                else:
                    events = await asyncio.to_thread(self.outbox.read, self.consumer, self.batch, 500)
            except UNAVAILABLE + (StoreUnavailableError,):
                log.warning("sender: store unavailable, retrying")
                await asyncio.sleep(1)
                continue
            except Exception:
                log.exception("reading the outbox failed; retrying")
                await asyncio.sleep(1)
                continue
            if not events:
                continue
            await self._batches.acquire()
            self._in_flight.update((e.partition, e.stream_id) for e in events)
            task = asyncio.create_task(self._send_events(http, events))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if len(events) < self.batch:
                # A trickle: let it gather for a moment rather than read (and acknowledge) a few events
                # at a time; in an API process every read takes the GIL from the requests.
                await asyncio.sleep(self.linger_s)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _send_events(self, http, events: list[Event]) -> None:
        try:
            endpoints = await self._endpoints()
            jobs = [(e, ep) for e in events for ep in endpoints.values() if ep.wants(e.owner, e.user_id)]
            results = await asyncio.gather(*(self._post(http, ep, e.event_id, e.payload) for e, ep in jobs))
            now_ms = int(self.clock() * 1000)
            retries = []
            for (e, ep), (status, error) in zip(jobs, results):
                if not self._settled(ep, status):
                    r = Retry(e.event_id, ep.id, 1, now_ms, e.owner, e.user_id, e.payload.decode())
                    retries.append((r, now_ms + int(1000 * retry_delay_s(1, self.retry_base_s, self.retry_cap_s))))
            if retries:
                await asyncio.to_thread(self.outbox.schedule_retries, retries)
            await asyncio.to_thread(self.outbox.ack, events)
        except Exception:
            log.exception("a batch of %d events failed; it stays pending and will be claimed again", len(events))
        finally:
            self._in_flight.difference_update((e.partition, e.stream_id) for e in events)
            self._batches.release()

    async def _retries(self, http, stop: asyncio.Event) -> None:
        # While nothing is due, look less often: from every 0.2 s up to a fifth of the first retry's
        # delay (its jitter), so a retry is at most that late, and an idle sender of a deployment
        # with hundreds of partitions does not make a script call per partition five times a second.
        idle_s, idle_max_s = RETRY_POLL_S, max(RETRY_POLL_S, self.retry_base_s / 5)
        while not stop.is_set():
            claimed = 0
            try:
                # The due retries of this sender's partitions in one round trip (one thread hop).
                sets = await asyncio.to_thread(lambda: TimedSet.claim_each(
                    self.outbox.retries_of(self.consumer), int(self.clock() * 1000), self.lease_ms, 200))
                claimed = sum(len(members) for _, members, _ in sets)
                await asyncio.gather(*(self._retry(http, due, m, receipt) for due, members, receipt in sets
                                       for m in members))
            except UNAVAILABLE + (StoreUnavailableError,):
                log.warning("sender retries: store unavailable, retrying")
                await asyncio.sleep(1)
            except Exception:
                log.exception("retrying failed; the lease brings the deliveries back")
                await asyncio.sleep(1)
            if claimed:
                idle_s = RETRY_POLL_S
            else:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=idle_s)
                except asyncio.TimeoutError:
                    pass
                idle_s = min(2 * idle_s, idle_max_s)

    async def _retry(self, http, due, member: str, receipt: int) -> None:
        r = Retry.parse(member)
        ep = (await self._endpoints()).get(r.endpoint_id)
        if ep is None or ep.state != "active":  # deleted or disabled since: nobody to deliver to
            await asyncio.to_thread(due.finish, member, receipt)
            return
        status, error = await self._post(http, ep, r.event_id, r.payload.encode())
        now_ms = int(self.clock() * 1000)
        then = None
        if not self._settled(ep, status):
            attempt = r.attempt + 1
            due_ms = now_ms + int(1000 * retry_delay_s(attempt, self.retry_base_s, self.retry_cap_s))
            if due_ms - r.first_ms > self.max_age_ms:  # the next try would be past the retry period
                await asyncio.to_thread(self.outbox.bury, r._replace(attempt=attempt), error, now_ms)
            else:
                then = (r._replace(attempt=attempt).member(), due_ms)
        await asyncio.to_thread(due.finish, member, receipt, then)

    # ------------------------------------------------------------ one delivery
    def _settled(self, ep: Endpoint, status: int | None) -> bool:
        """True when nothing more is to be done: delivered, or the endpoint is gone (410)."""
        if status is not None and 200 <= status < 300:
            self.sent += 1
            return True
        self.failed += 1
        if status == 410:
            self.endpoints.disable(ep.id, "the receiver answered 410 Gone")
            self._cache = (0.0, {})
            return True
        return False

    async def _post(self, http, ep: Endpoint, event_id: str, body: bytes) -> tuple[int | None, str]:
        """(HTTP status or None, error text) of one signed POST."""
        async with self._posts:
            h = signed_headers(ep.secret, event_id, int(self.clock()), body)  # signed when sent: a fresh timestamp
            h["Content-Type"] = "application/json"
            try:
                async with http.post(ep.url, data=body, headers=h, allow_redirects=False) as resp:
                    await resp.read()
                    return resp.status, "" if resp.status < 300 else f"HTTP {resp.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                return None, f"{type(exc).__name__}: {exc}"[:300]

    async def _endpoints(self) -> dict[str, Endpoint]:
        """The endpoints, re-read at most every 2 s."""
        at, cached = self._cache
        if time.monotonic() - at > 2.0:
            cached = {e.id: e for e in await asyncio.to_thread(self.endpoints.all)}
            self._cache = (time.monotonic(), cached)
        return cached
