"""Location updates that arrive together share one Redis round trip.

The handlers of the requests that become ready in one turn of the event loop each queue their
update here; the first schedules a flush for the end of that turn, which runs them all through
``Engine.locate_many`` (every position and delivery in one pipeline) and answers each. Under load a
worker takes fewer, larger round trips; alone, a request waits for nothing but its own.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from district_engine.engine import Engine, Ping, Placed

__all__ = ["LocateBatcher"]


class LocateBatcher:
    def __init__(self, engine: Engine, max_batch: int = 64):
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[tuple[Ping, asyncio.Future]] = []
        self.batches = self.rows = 0

    async def locate(self, user_id: str, lat: float, lng: float, coord: str = "wgs84", at: datetime | None = None,
                     accuracy_m: float | None = None, mocked: bool = False) -> Placed:
        """``Engine.locate_many`` of one update, batched with the other updates of this turn of the loop."""
        row = self.engine.check_location(user_id, lat, lng, coord, at, accuracy_m, mocked)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((row, future))
        if len(self._pending) >= self.max_batch:
            self._flush()
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        self.batches += 1
        self.rows += len(batch)
        try:
            results = self.engine.locate_many([row for row, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - each waiting request gets the error (a 503 for a lost store)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), placed in zip(batch, results):
            if not future.done():  # its client went away
                future.set_result(placed)
