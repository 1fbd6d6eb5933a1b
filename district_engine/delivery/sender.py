"""The webhook sender: reads pushed events from the outbox (a consumer group, so several sender
processes share the work), POSTs each to every push endpoint that wants it, signed per Standard
Webhooks, and retries what fails with exponential backoff and jitter for ``max_age_s`` (24 h);
an endpoint answering 410 Gone is disabled; what still fails then goes to the endpoint's dead
letters, and an endpoint none of whose deliveries succeeded in that time is disabled.

One endpoint's slowness is its own. Each endpoint has a lane: its own in-flight limit, circuit
breaker (breaker.py) and pace. A delivery queues for a slot of its lane; when its breaker is open,
when the lane is stalled (every slot taken, nothing completed for ``stall_s``), when the lane is
slow (its POSTs take over half of ``max_wait_s``) and a round of deliveries is queued already,
it is not tried now but put in the retries (durable, so the event can be acknowledged), without
counting as an attempt. So a dead or slow endpoint holds at most its lane's slots and a moment of its own
backlog, and the reading of the outbox, bounded by the events in hand rather than by batches,
goes on for everyone else. A fast endpoint that is merely busy pauses the reading instead
(``_backlogged``) while it drains a round, under half of ``max_wait_s``: sending its deliveries to
the retries would cost more than the pause. Breakers are per process (see
docs/push.md): their input is this process's own outcomes, and asking Redis on every delivery would
cost more than the k probes per cool-down that k sender processes make.

Every connection goes to an address checked just before (resolver.py: no DNS rebinding), replies
are read up to 64 KiB, and what fails is recorded as a coarse class (``timeout``, ``tls``,
``http_5xx``...), never a raw socket error, as an endpoint's owner sees it.

Delivery is at least once: an event is acknowledged only after each of its deliveries succeeded
or was put in the retries, and its webhook-id stays the same across retries for receivers to
dedupe. Redis calls run in a thread; the HTTP calls are asynchronous (aiohttp).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections import Counter
from typing import Callable, NamedTuple

import aiohttp
from yarl import URL

from district_engine.delivery.addresses import BlockedAddressError, host_ip
from district_engine.delivery.breaker import Breaker
from district_engine.delivery.resolver import CheckedResolver, UnresolvedError, checked_addresses
from district_engine.errors import StoreUnavailableError
from district_engine.signing import headers as signed_headers
from district_engine.store.endpoints import Endpoint, EndpointStore
from district_engine.store.outbox import Event, Outbox, Retry
from district_engine.store.schedule import TimedSet

__all__ = ["Sender", "Outcome", "retry_delay_s", "MAX_REPLY_BYTES"]

log = logging.getLogger("district_engine.sender")

USER_AGENT = "district-engine-webhooks/1"
TRIM_EVERY_S = 10.0  # how often a sender drops the outbox entries every sender is done with
RETRY_POLL_S = 0.2  # how soon a sender looks for due retries again after finding none (doubling while idle)
MAX_REPLY_BYTES = 64 * 1024  # a receiver has nothing to tell us that needs more; more is a failure
SUCCESS_EVERY_S = 60.0  # how often a lane records, at most, that its endpoint still answers


class Outcome(NamedTuple):
    """One POST's result: the HTTP status (None without one) and the error class ("" when it
    succeeded)."""

    status: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.error


class _TooLarge(Exception):
    pass


def retry_delay_s(attempt: int, base_s: float = 5.0, cap_s: float = 7200.0, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): base x 4^(attempt-1),
    at most ``cap_s``, with +-20% jitter so that endpoints coming back are not hit in lockstep.
    With the defaults: 5 s, 20 s, 80 s, 5 min, 21 min, 85 min, then every 2 h."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    delay = min(base_s * 4.0 ** min(attempt - 1, 30), cap_s)
    return delay * (rng or random).uniform(0.8, 1.2)


def error_class(exc: BaseException) -> str:
    """The coarse class of a failed POST that an endpoint's owner sees: enough to act on, and
    nothing that maps the network behind it (no addresses, ports or socket messages)."""
    if isinstance(exc, BlockedAddressError):
        return "blocked_address"
    if isinstance(exc, _TooLarge):
        return "too_large"
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
        return "timeout"
    if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError)):
        return "tls"
    if isinstance(exc, (aiohttp.ClientConnectorDNSError, UnresolvedError)):
        return "dns"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection_refused" if isinstance(exc.os_error, ConnectionRefusedError) else "connection_failed"
    return "connection_error"  # reset, closed mid-reply, a malformed reply


def _status_class(status: int) -> str:
    return "" if 200 <= status < 300 else f"http_{status // 100}xx"


class _Lane:
    """One endpoint's share of the sender: its in-flight slots, its breaker, how fast it answers."""

    def __init__(self, limit: int, breaker: Breaker):
        self.limit = limit
        self.slots = asyncio.Semaphore(limit)
        self.breaker = breaker
        self.in_flight = self.waiting = 0
        self.latency_s = 0.0  # moving average of its POSTs' durations: how long a round of slots takes
        self.progress_at = float("-inf")  # when a POST last completed, or the lane became busy (monotonic)
        self.last_error = ""
        self.success_recorded_at = float("-inf")

    def stalled(self, now: float, stall_s: float) -> bool:
        """Every slot taken and nothing completed for ``stall_s`` (or twice its usual answer time,
        if longer: a loaded receiver is not a hung one): the endpoint hangs."""
        return self.in_flight >= self.limit and now - self.progress_at >= max(stall_s, 2 * self.latency_s)

    def started(self, now: float) -> None:
        if self.in_flight == 0:
            self.progress_at = now
        self.in_flight += 1

    def finished(self, started_at: float, now: float) -> None:
        self.in_flight -= 1
        self.progress_at = now
        self.latency_s += 0.2 * ((now - started_at) - self.latency_s)


class Sender:
    def __init__(self, outbox: Outbox, endpoints: EndpointStore, consumer: str, *, batch: int = 100,
                 concurrency: int = 512, endpoint_concurrency: int = 128, events_in_hand: int = 2000,
                 stall_s: float = 0.5, max_wait_s: float = 1.0,
                 breaker_failures: int = 5, breaker_cooldown_s: float = 10.0,
                 allow_private: bool = False, timeout_s: float = 5.0,
                 max_age_s: float = 86_400, retry_base_s: float = 5.0, retry_cap_s: float = 7200,
                 reclaim_idle_s: float = 60, lease_s: float = 60, linger_s: float = 0.05,
                 clock: Callable[[], float] = time.time):
        self.outbox = outbox
        self.endpoints = endpoints
        self.consumer = consumer
        self.batch = batch
        self.concurrency = concurrency
        self.endpoint_concurrency = endpoint_concurrency
        self.events_in_hand = events_in_hand
        self.stall_s, self.max_wait_s = stall_s, max_wait_s
        self.breaker_failures, self.breaker_cooldown_s = breaker_failures, breaker_cooldown_s
        self.allow_private = allow_private
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.max_age_ms = int(max_age_s * 1000)
        self.retry_base_s, self.retry_cap_s = retry_base_s, retry_cap_s
        self.reclaim_idle_ms = int(reclaim_idle_s * 1000)
        self.lease_ms = int(lease_s * 1000)
        self.linger_s = linger_s
        self.clock = clock
        # POSTs in flight never exceed the connection pool: a request waiting for a connection would
        # spend its timeout waiting, time out unsent, and come back as a retry (a cascade under load).
        # Each lane takes at most endpoint_concurrency of them, so it takes concurrency /
        # endpoint_concurrency endpoints hanging at once (4 by default), for one timeout before
        # their breakers open, to make the others wait for this pool.
        self._posts = asyncio.Semaphore(concurrency)
        self._retrying = asyncio.Semaphore(events_in_hand)  # due retries in hand
        self._lanes: dict[str, _Lane] = {}
        self._cache: tuple[float, dict[str, Endpoint]] = (0.0, {})
        self._in_flight: set[tuple[int, str]] = set()  # the events in hand; reclaiming must not take back our own
        self._room = asyncio.Event()  # set when events in hand were let go
        self.sent = self.failed = 0
        self.deferred: Counter[str] = Counter()  # deliveries not tried at once, by why: open, stalled, slow

    # ------------------------------------------------------------ running
    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; the deliveries in hand are finished first."""
        await asyncio.to_thread(self.outbox.ensure_group)
        # No per-host limit: the lanes limit each endpoint, and two tenants' endpoints on one host
        # (a shared push gateway) must not wait for each other's connections.
        connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=0,
                                         resolver=CheckedResolver(self.allow_private), use_dns_cache=False)
        # auto_decompress off: the reply is only read to be bounded, and a compressed one could
        # inflate far past the bound within a single chunk.
        async with aiohttp.ClientSession(connector=connector, timeout=self.timeout, auto_decompress=False,
                                         headers={"User-Agent": USER_AGENT}) as http:
            await asyncio.gather(self._events(http, stop), self._retries(http, stop))

    async def _events(self, http, stop: asyncio.Event) -> None:
        tasks: set[asyncio.Task] = set()
        next_reclaim = next_trim = 0.0
        while not stop.is_set():
            room = self.events_in_hand - len(self._in_flight)
            if room <= 0 or self._backlogged():  # wait for deliveries in hand to end
                self._room.clear()
                try:
                    await asyncio.wait_for(self._room.wait(), timeout=0.05)
                except asyncio.TimeoutError:
                    pass
                continue
            try:
                if time.monotonic() >= next_trim:
                    next_trim = time.monotonic() + TRIM_EVERY_S
                    await asyncio.to_thread(self.outbox.trim, int(self.clock() * 1000), consumer=self.consumer)
                if time.monotonic() >= next_reclaim:
                    next_reclaim = time.monotonic() + self.reclaim_idle_ms / 2000
                    # Ours are left alone, including those in hand when the claim was sent: one
                    # acknowledged and let go while it ran came back claimed, and was sent twice.
                    in_hand = set(self._in_flight)
                    events = await asyncio.to_thread(self.outbox.reclaim, self.consumer, self.reclaim_idle_ms,
                                                     min(room, 500))
                    ours = in_hand | self._in_flight
                    events = [e for e in events if (e.partition, e.stream_id) not in ours]
                else:
                    # A read takes up to its count from each partition: a batch in all, so that one
                    # read cannot queue far more than a lane's round behind a busy endpoint.
                    per_partition = max(1, min(room, self.batch) // self.outbox.partitions)
                    events = await asyncio.to_thread(self.outbox.read, self.consumer, per_partition, 500)
            except StoreUnavailableError:
                log.warning("sender: store unavailable, retrying")
                await asyncio.sleep(1)
                continue
            except Exception:
                log.exception("reading the outbox failed; retrying")
                await asyncio.sleep(1)
                continue
            if not events:
                continue
            self._in_flight.update((e.partition, e.stream_id) for e in events)
            task = asyncio.create_task(self._send_events(http, events))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if len(events) < self.batch // 4:
                # A trickle: let it gather for a moment rather than read (and acknowledge) a few events
                # at a time; in an API process every read takes the GIL from the requests.
                await asyncio.sleep(self.linger_s)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _send_events(self, http, events: list[Event]) -> None:
        try:
            endpoints = await self._endpoints()
            jobs = [(e, ep) for e in events for ep in endpoints.values() if ep.wants(e.owner, e.user_id)]
            results = await asyncio.gather(*(self._attempt(http, ep, e.event_id, e.payload) for e, ep in jobs))
            now_ms = int(self.clock() * 1000)
            retries = []
            for (e, ep), outcome in zip(jobs, results):
                r = Retry(e.event_id, ep.id, 0, now_ms, e.owner, e.user_id, e.payload.decode())
                if outcome is None:  # not tried: its lane is busy or its breaker open
                    retries.append((r, self._resume_ms(ep.id, now_ms)))
                elif not await self._settled(ep, outcome):
                    retries.append((r._replace(attempt=1), self._next_ms(1, now_ms)))
            if retries:
                await asyncio.to_thread(self.outbox.schedule_retries, retries)
            await asyncio.to_thread(self.outbox.ack, events)
        except Exception:
            log.exception("a batch of %d events failed; it stays pending and will be claimed again", len(events))
        finally:
            self._in_flight.difference_update((e.partition, e.stream_id) for e in events)
            self._room.set()

    async def _retries(self, http, stop: asyncio.Event) -> None:
        # While nothing is due, look less often: from every 0.2 s up to a fifth of the first retry's
        # delay (its jitter), so a retry is at most that late, and an idle sender of a deployment
        # with hundreds of partitions does not make a script call per partition five times a second.
        idle_s, idle_max_s = RETRY_POLL_S, max(RETRY_POLL_S, self.retry_base_s / 5)
        tasks: set[asyncio.Task] = set()
        while not stop.is_set():
            claimed = 0
            if self._backlogged():  # as for reading: a busy endpoint's retries would only come back
                await asyncio.sleep(0.05)
                continue
            try:
                # The due retries of this sender's partitions in one round trip (one thread hop), a
                # batch's worth in all: a burst claimed at once would queue past the lanes' pace
                # and go straight back to the retries.
                def claim():
                    shares = self.outbox.retries_of(self.consumer)
                    per_set = max(1, self.batch // max(1, len(shares)))
                    return TimedSet.claim_each(shares, int(self.clock() * 1000), self.lease_ms, per_set)
                sets = await asyncio.to_thread(claim)
                for due, members, receipt in sets:
                    for m in members:
                        # Each retry on its own: the loop claims the next ones while slow POSTs go on.
                        await self._retrying.acquire()
                        task = asyncio.create_task(self._retry(http, due, m, receipt))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                        claimed += 1
            except StoreUnavailableError:
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
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _retry(self, http, due, member: str, receipt: int) -> None:
        try:
            r = Retry.parse(member)
            ep = (await self._endpoints()).get(r.endpoint_id)
            now_ms = int(self.clock() * 1000)
            if ep is None:  # deleted since: nobody to deliver to
                await asyncio.to_thread(due.finish, member, receipt)
                return
            if ep.state != "active":  # disabled since: kept with the dead letters, replayable once enabled
                await asyncio.to_thread(self.outbox.bury, r, "endpoint_disabled", None, now_ms)
                await asyncio.to_thread(due.finish, member, receipt)
                return
            outcome = await self._attempt(http, ep, r.event_id, r.payload.encode())
            now_ms = int(self.clock() * 1000)
            then = None
            if outcome is None:
                then = (member, self._resume_ms(ep.id, now_ms))
                error, status = self._lane(ep.id).last_error or "circuit_open", None
            elif not await self._settled(ep, outcome):
                r = r._replace(attempt=r.attempt + 1)
                then = (r.member(), self._next_ms(r.attempt, now_ms))
                error, status = outcome.error, outcome.status
            if then is not None and then[1] - r.first_ms > self.max_age_ms:  # past the retry period
                await asyncio.to_thread(self.outbox.bury, r, error, status, now_ms)
                await self._disable_if_dead(ep, r, error)
                then = None
            await asyncio.to_thread(due.finish, member, receipt, then)
        except Exception:
            log.exception("a retry failed; its lease brings it back")
        finally:
            self._retrying.release()

    def _next_ms(self, attempt: int, now_ms: int) -> int:
        return now_ms + int(1000 * retry_delay_s(attempt, self.retry_base_s, self.retry_cap_s))

    def _resume_ms(self, endpoint_id: str, now_ms: int) -> int:
        """When to try a delivery that was not tried: once its breaker lets probes through, or soon
        (the first retry's delay) when its lane was only busy."""
        lane = self._lanes.get(endpoint_id)
        wait_s = self.retry_base_s
        if lane is not None and lane.breaker.state(time.monotonic()) == "open":
            wait_s = max(wait_s, lane.breaker.open_until - time.monotonic())
        return now_ms + int(1000 * wait_s * random.uniform(1.0, 1.2))

    # ------------------------------------------------------------ one delivery
    def _lane(self, endpoint_id: str) -> _Lane:
        lane = self._lanes.get(endpoint_id)
        if lane is None:
            lane = self._lanes[endpoint_id] = _Lane(self.endpoint_concurrency,
                                                     Breaker(self.breaker_failures, self.breaker_cooldown_s))
        return lane

    async def _attempt(self, http, ep: Endpoint, event_id: str, body: bytes) -> Outcome | None:
        """The outcome of one POST through the endpoint's lane, or None if it was not tried: its
        breaker is open, its lane is stalled, or it is slow with a round queued already."""
        lane = self._lane(ep.id)
        while True:
            now = time.monotonic()
            slow = lane.latency_s > self.max_wait_s / 2 and lane.waiting >= lane.limit  # a round queued already
            why = ("open" if lane.breaker.state(now) == "open" else "stalled" if lane.stalled(now, self.stall_s)
                   else "slow" if slow else None)
            if why:
                self.deferred[why] += 1
                return None
            lane.waiting += 1
            try:
                async with asyncio.timeout(self.stall_s):  # then look at the lane again
                    await lane.slots.acquire()
                break
            except TimeoutError:
                continue
            finally:
                lane.waiting -= 1
        try:
            if not lane.breaker.allow(time.monotonic()):  # opened, or another took the probe, meanwhile
                self.deferred["open"] += 1
                return None
            started_at = time.monotonic()
            lane.started(started_at)
            outcome = Outcome(None, "connection_error")
            try:
                outcome = await self._post(http, ep, event_id, body)
            finally:
                now = time.monotonic()
                lane.finished(started_at, now)
                lane.breaker.record(outcome.ok, now)
                lane.last_error = outcome.error or lane.last_error
            return outcome
        finally:
            lane.slots.release()

    def _backlogged(self) -> bool:
        """Whether a fast endpoint (its POSTs take under half of max_wait_s) has a full round of
        deliveries queued behind its slots: reading more now would only send them to the retries,
        so reading pauses while it drains, which takes less than half of max_wait_s. A stalled,
        slow or broken endpoint pauses nothing: what it cannot take goes to the retries."""
        now = time.monotonic()
        return any(lane.waiting >= lane.limit and lane.latency_s <= self.max_wait_s / 2
                   and not lane.stalled(now, self.stall_s) and lane.breaker.state(now) == "closed"
                   for lane in self._lanes.values())

    async def _settled(self, ep: Endpoint, outcome: Outcome) -> bool:
        """True when nothing more is to be done: delivered, or the endpoint is gone (410)."""
        if outcome.ok:
            self.sent += 1
            lane = self._lane(ep.id)
            if time.monotonic() - lane.success_recorded_at > SUCCESS_EVERY_S:
                lane.success_recorded_at = time.monotonic()
                await self._advisory(self.endpoints.record_success, ep.id, int(self.clock() * 1000))
            return True
        self.failed += 1
        if outcome.status == 410:
            await asyncio.to_thread(self.endpoints.disable, ep.id, "the receiver answered 410 Gone")
            self._cache = (0.0, {})
            return True
        return False

    async def _disable_if_dead(self, ep: Endpoint, r: Retry, error: str) -> None:
        """Disable an endpoint none of whose deliveries succeeded during a whole retry period: the
        one that just went to the dead letters failed from ``r.first_ms`` on. Successes are
        recorded at most every SUCCESS_EVERY_S, so one that recent counts as after it."""
        last_ok_ms = await self._advisory(self.endpoints.last_success_ms, ep.id)
        if last_ok_ms is not None and last_ok_ms + 1000 * SUCCESS_EVERY_S < r.first_ms:
            hours = self.max_age_ms / 3_600_000
            await self._advisory(self.endpoints.disable, ep.id,
                                 f"no delivery succeeded for {hours:g} h; last error: {error}")
            self._cache = (0.0, {})

    async def _advisory(self, call, *args):
        """A Redis call about an endpoint's health, on a thread: its failure is logged, not raised,
        so that it never sends a batch of events again (the next success or burial tries again)."""
        try:
            return await asyncio.to_thread(call, *args)
        except StoreUnavailableError as exc:
            log.warning("sender: endpoint health not recorded: %s", type(exc).__name__)
            return None

    async def _post(self, http, ep: Endpoint, event_id: str, body: bytes) -> Outcome:
        """One signed POST; a reply longer than MAX_REPLY_BYTES is a failure (``too_large``) and its
        connection is closed rather than read to the end."""
        async with self._posts:
            h = signed_headers(ep.secret, event_id, int(self.clock()), body)  # signed when sent: a fresh timestamp
            h["Content-Type"] = "application/json"
            try:
                url = URL(ep.url)
                if host_ip(url.raw_host or "") is not None:  # aiohttp calls no resolver for an address
                    checked_addresses(url.raw_host, url.port or 0, self.allow_private)
                async with http.post(url, data=body, headers=h, allow_redirects=False) as resp:
                    if (resp.content_length or 0) > MAX_REPLY_BYTES:
                        resp.close()
                        raise _TooLarge()
                    read = 0
                    while chunk := await resp.content.read(MAX_REPLY_BYTES + 1 - read):
                        read += len(chunk)
                        if read > MAX_REPLY_BYTES:
                            resp.close()
                            raise _TooLarge()
                    return Outcome(resp.status, _status_class(resp.status))
            except _TooLarge:
                return Outcome(None, "too_large")
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, BlockedAddressError) as exc:
                return Outcome(None, error_class(exc))

    async def _endpoints(self) -> dict[str, Endpoint]:
        """The endpoints, re-read at most every 2 s; lanes of endpoints gone are dropped."""
        at, cached = self._cache
        if time.monotonic() - at > 2.0:
            cached = {e.id: e for e in await asyncio.to_thread(self.endpoints.all)}
            self._cache = (time.monotonic(), cached)
            for gone in self._lanes.keys() - cached.keys():
                del self._lanes[gone]
        return cached
