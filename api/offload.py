"""Redis work for the event loop's routes, off the event loop.

A stalled Redis must not stall the process: a call on the loop that waits for Redis stops every
other request with it, ``/healthz`` included (docs/faults.md). The async routes hand
their Redis work to a small pool of threads instead and wait for it with a deadline:

- each Redis call is bounded by the client's socket timeout (``DE_REDIS_TIMEOUT_MS``,
  store/connection.py); the route waits at most that plus ``SLACK_S``, then answers 503;
- work still queued when its deadline passes is never started, so a 503 for it means it did not
  run (a 503 for work that had started means it may have run: every such write is idempotent on
  an id the request carries, docs/faults.md).

The pool is small on purpose: Redis serves one command at a time, and the work handed here is
whole batches (api/batching.py), not single requests.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from district_engine.errors import StoreUnavailableError

__all__ = ["StoreCalls", "SLACK_S"]

T = TypeVar("T")
SLACK_S = 0.4  # beyond the socket timeout: a reply being read, the hop back to the loop


class StoreCalls:
    def __init__(self, timeout_s: float, threads: int = 4):
        self.deadline_s = timeout_s + SLACK_S
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="redis")

    async def run(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` on the pool; StoreUnavailableError past the deadline."""
        deadline = time.monotonic() + self.deadline_s

        def guarded():
            if time.monotonic() > deadline:  # queued behind a stalled store: never started
                raise StoreUnavailableError("the state store did not answer in time; retry shortly")
            return fn(*args)

        future = asyncio.get_running_loop().run_in_executor(self._pool, guarded)
        try:
            return await asyncio.wait_for(future, self.deadline_s)
        except asyncio.TimeoutError:
            raise StoreUnavailableError("the state store did not answer in time; retry shortly") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
