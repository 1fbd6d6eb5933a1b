"""The location batcher: updates of one turn of the event loop share one ``locate_many`` call."""

import asyncio

import pytest

from api.batching import LocateBatcher
from api.offload import StoreCalls
from district_engine.errors import InvalidInputError, StoreUnavailableError


CALLS = StoreCalls(timeout_s=5.0)


class FakeChannel:
    """A channel service whose ``locate_many`` answers each row by its user."""

    def check_fix_time(self, at):
        pass

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail

    def locate_many(self, rows):
        self.calls.append(rows)
        if self.fail:
            raise self.fail
        return [[f"offer-for-{user}"] for user, *_ in rows]


def test_updates_of_one_turn_share_one_call_and_each_gets_its_own_answer():
    channel = FakeChannel()
    batcher = LocateBatcher(channel, CALLS)

    async def main():
        return await asyncio.gather(*(batcher.locate(f"u{i}", 39.9, 116.4) for i in range(5)))

    assert asyncio.run(main()) == [[f"offer-for-u{i}"] for i in range(5)]
    assert len(channel.calls) == 1 and [r[0] for r in channel.calls[0]] == [f"u{i}" for i in range(5)]


def test_a_full_batch_goes_at_once_and_the_rest_follows():
    channel = FakeChannel()
    batcher = LocateBatcher(channel, CALLS, max_batch=2)

    async def main():
        return await asyncio.gather(*(batcher.locate(f"u{i}", 39.9, 116.4) for i in range(5)))

    assert len(asyncio.run(main())) == 5
    assert [len(rows) for rows in channel.calls] == [2, 2, 1]


def test_a_lost_store_fails_every_update_of_the_batch():
    batcher = LocateBatcher(FakeChannel(fail=StoreUnavailableError("down")), CALLS)

    async def main():
        return await asyncio.gather(*(batcher.locate(f"u{i}", 39.9, 116.4) for i in range(3)), return_exceptions=True)

    assert all(isinstance(r, StoreUnavailableError) for r in asyncio.run(main()))


def test_a_bad_update_is_refused_before_it_joins_a_batch():
    channel = FakeChannel()
    with pytest.raises(InvalidInputError):
        asyncio.run(LocateBatcher(channel, CALLS).locate("", 39.9, 116.4))
    assert channel.calls == []


def test_an_items_own_error_goes_to_its_caller_alone():
    """A grab refused (say, rate limited) fails only its own request; the others of its turn
    get their answers, from one call."""
    from api.batching import TurnBatcher

    calls = []

    def run(items):
        calls.append(items)
        return [InvalidInputError("odd", field="n") if i % 2 else i * 10 for i in items]

    batcher = TurnBatcher(run, CALLS)

    async def main():
        return await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)

    got = asyncio.run(main())
    assert got[0] == 0 and got[2] == 20 and all(isinstance(got[i], InvalidInputError) for i in (1, 3))
    assert calls == [[0, 1, 2, 3]]


def test_a_batch_runs_off_the_event_loop_and_a_stalled_one_answers_503_in_time():
    """Redis work never runs on the loop's thread: while a batch waits on a stalled store the loop
    keeps serving (the ticker below keeps ticking), and the batch's callers get a
    StoreUnavailableError once the deadline (the timeout plus the slack) has passed."""
    import threading
    import time

    from api.batching import TurnBatcher

    release = threading.Event()
    threads = []

    def stalled(items):
        threads.append(threading.current_thread())
        release.wait(10)  # a stalled Redis
        return items

    calls = StoreCalls(timeout_s=0.2, threads=1)
    batcher = TurnBatcher(stalled, calls)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick = asyncio.ensure_future(ticker())
        start = time.monotonic()
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(batcher.submit(2))  # queued behind the stalled one
        got = await asyncio.gather(first, second, return_exceptions=True)
        elapsed = time.monotonic() - start
        tick.cancel()
        return got, elapsed, ticks

    got, elapsed, ticks = asyncio.run(main())
    release.set()
    assert all(isinstance(g, StoreUnavailableError) for g in got)
    assert elapsed < calls.deadline_s + 1.0 and ticks >= 10  # the loop went on meanwhile
    assert threads and threading.main_thread() not in threads
    time.sleep(0.1)  # the pool's one thread is free again: the queued batch was never started
    assert len(threads) == 1
    calls.close()
