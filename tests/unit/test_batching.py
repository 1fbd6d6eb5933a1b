"""The location batcher: updates of one turn of the event loop share one ``locate_many`` call."""

import asyncio

import pytest

from api.batching import LocateBatcher
from district_engine.engine import Engine
from district_engine.errors import InvalidInputError, StoreUnavailableError


class FakeEngine:
    check_location = staticmethod(Engine.check_location)

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail

    def locate_many(self, rows):
        self.calls.append(rows)
        if self.fail:
            raise self.fail
        return [[f"offer-for-{user}"] for user, *_ in rows]


def test_updates_of_one_turn_share_one_call_and_each_gets_its_own_answer():
    engine = FakeEngine()
    batcher = LocateBatcher(engine)

    async def main():
        return await asyncio.gather(*(batcher.locate(f"u{i}", 39.9, 116.4) for i in range(5)))

    assert asyncio.run(main()) == [[f"offer-for-u{i}"] for i in range(5)]
    assert len(engine.calls) == 1 and [r[0] for r in engine.calls[0]] == [f"u{i}" for i in range(5)]


def test_a_full_batch_goes_at_once_and_the_rest_follows():
    engine = FakeEngine()
    batcher = LocateBatcher(engine, max_batch=2)

    async def main():
        return await asyncio.gather(*(batcher.locate(f"u{i}", 39.9, 116.4) for i in range(5)))

    assert len(asyncio.run(main())) == 5
    assert [len(rows) for rows in engine.calls] == [2, 2, 1]


def test_a_lost_store_fails_every_update_of_the_batch():
    batcher = LocateBatcher(FakeEngine(fail=StoreUnavailableError("down")))

    async def main():
        return await asyncio.gather(*(batcher.locate(f"u{i}", 39.9, 116.4) for i in range(3)), return_exceptions=True)

    assert all(isinstance(r, StoreUnavailableError) for r in asyncio.run(main()))


def test_a_bad_update_is_refused_before_it_joins_a_batch():
    engine = FakeEngine()
    with pytest.raises(InvalidInputError):
        asyncio.run(LocateBatcher(engine).locate("", 39.9, 116.4))
    assert engine.calls == []


def test_an_items_own_error_goes_to_its_caller_alone():
    """A grab refused (say, rate limited) fails only its own request; the others of its turn
    get their answers, from one call."""
    from api.batching import TurnBatcher

    calls = []

    def run(items):
        calls.append(items)
        return [InvalidInputError("odd", field="n") if i % 2 else i * 10 for i in items]

    batcher = TurnBatcher(run)

    async def main():
        return await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)

    got = asyncio.run(main())
    assert got[0] == 0 and got[2] == 20 and all(isinstance(got[i], InvalidInputError) for i in (1, 3))
    assert calls == [[0, 1, 2, 3]]
