"""Location updates, grabs and orders that arrive together share their Redis round trips.

The handlers of the requests that become ready in one turn of the event loop each queue their
item here; the first schedules a flush for the end of that turn, which runs them all, on a Redis
thread (api/offload.py), through one call of the engine (``Channel.locate_many``: every position
and delivery in one pipeline; ``Rains.grab_many``: every rate limit, last position and grab in
one pipeline each; ``Guides.record_orders``: every order's state, guide and script in one pipeline
each, per operator) and answers each. Under load a worker takes fewer, larger round trips; alone,
a request waits for nothing but its own.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Callable

from api.offload import StoreCalls
from district_engine.channel import Channel, Placed, check_ping
from district_engine.redenvelope.service import Rains, check_grab
from district_engine.guides import Guides, NewOrder, OrderOutcome
from district_engine.identity import Principal
from district_engine.identity.service import CALLS, Identity
from district_engine.store.rains import Grab

__all__ = ["TurnBatcher", "LocateBatcher", "GrabBatcher", "OrderBatcher", "AdmitBatcher"]


class TurnBatcher:
    """Items submitted in one turn of the event loop go to one call of ``run`` (items -> one
    result per item, in order; a result that is an exception is raised to that item's caller
    alone; an exception raised by ``run`` goes to every caller of the batch). ``run`` calls Redis:
    it runs on ``calls``' threads, never on the event loop (api/offload.py)."""

    def __init__(self, run: Callable[[list], list], calls: StoreCalls, max_batch: int = 64):
        self.run = run
        self.calls = calls
        self.max_batch = max_batch
        self._pending: list[tuple[object, asyncio.Future]] = []
        self._running: set[asyncio.Task] = set()
        self.batches = self.rows = 0

    async def submit(self, item):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((item, future))
        if len(self._pending) >= self.max_batch:
            self._flush()
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        self.batches += 1
        self.rows += len(batch)
        task = asyncio.ensure_future(self._answer(batch))
        self._running.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._running.discard)

    async def _answer(self, batch: list) -> None:
        try:
            results = await self.calls.run(self.run, [item for item, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - each waiting request gets the error (a 503 for a lost store)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results):
            if future.done():  # its client went away
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


class LocateBatcher(TurnBatcher):
    def __init__(self, channel: Channel, calls: StoreCalls, max_batch: int = 64):
        super().__init__(channel.locate_many, calls, max_batch)
        self.channel = channel

    async def locate(self, user_id: str, lat: float, lng: float, coord: str = "wgs84", at: datetime | None = None,
                     accuracy_m: float | None = None, mocked: bool = False, request_key: str | None = None) -> Placed:
        """``Channel.locate_many`` of one update, batched with the other updates of this turn of the loop."""
        row = check_ping(user_id, lat, lng, coord, at, accuracy_m, mocked, request_key)
        self.channel.check_fix_time(at)
        return await self.submit(row)


class GrabBatcher(TurnBatcher):
    def __init__(self, rains: Rains, calls: StoreCalls, max_batch: int = 64):
        super().__init__(rains.grab_many, calls, max_batch)

    async def grab(self, campaign_id: str, user_id: str, lat: float, lng: float, coord: str = "wgs84",
                   address: str | None = None, accuracy_m: float | None = None,
                   mocked: bool = False, request_key: str | None = None) -> tuple[Grab, str]:
        """``Rains.grab_many`` of one grab, batched with the other grabs of this turn of the loop."""
        attempt = check_grab(campaign_id, user_id, lat, lng, coord, address, accuracy_m, mocked, request_key)
        return await self.submit(attempt)


class OrderBatcher(TurnBatcher):
    def __init__(self, guides: Guides, calls: StoreCalls, max_batch: int = 64):
        super().__init__(self._record, calls, max_batch)
        self.guides = guides

    def _record(self, items: list[tuple[str, NewOrder]]) -> list:
        """``Guides.record_orders`` of each operator's orders of the batch; the answers in the items' order."""
        answers: list = [None] * len(items)
        of_operator: dict[str, list[int]] = {}
        for i, (operator_id, _) in enumerate(items):
            of_operator.setdefault(operator_id, []).append(i)
        for operator_id, at in of_operator.items():
            for i, answer in zip(at, self.guides.record_orders(operator_id, [items[i][1] for i in at])):
                answers[i] = answer
        return answers

    async def record(self, operator_id: str, order: NewOrder) -> OrderOutcome:
        """``Guides.record_order`` of one order, batched with the other orders of this turn of the loop."""
        return await self.submit((operator_id, order))


class AdmitBatcher(TurnBatcher):
    def __init__(self, identity: Identity, calls: StoreCalls, max_batch: int = 64):
        super().__init__(identity.admit_many, calls, max_batch)

    async def admit(self, principal: Principal, budget: str = CALLS) -> None:
        """``Identity.admit`` of one call, counted with the other calls of this turn of the loop."""
        await self.submit((principal, budget))
