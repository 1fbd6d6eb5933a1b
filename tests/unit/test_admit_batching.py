"""Operators' calls of one turn of the event loop are counted against their limits in one call
(``Identity.admit_many``, one round trip: tests/integration/test_admit_many.py); a call past its
limit is refused alone."""

import asyncio

from api.batching import AdmitBatcher
from api.offload import StoreCalls
from district_engine.errors import RateLimitedError
from district_engine.identity import Kind, Principal

CALLS = StoreCalls(timeout_s=5.0)


class FakeIdentity:
    def __init__(self, refuse: set[str]):
        self.calls = []
        self.refuse = refuse

    def admit_many(self, calls):
        self.calls.append(calls)
        return [RateLimitedError("too many", retry_after_s=3) if p.id in self.refuse else None for p, _ in calls]


def test_calls_of_one_turn_are_counted_together_and_a_refusal_goes_to_its_call_alone():
    identity = FakeIdentity(refuse={"op_flood"})
    batcher = AdmitBatcher(identity, CALLS)
    callers = [Principal(Kind.OPERATOR, f"op_{i}") for i in range(4)] + [Principal(Kind.OPERATOR, "op_flood")]

    async def main():
        return await asyncio.gather(*(batcher.admit(p) for p in callers), return_exceptions=True)

    answers = asyncio.run(main())
    assert identity.calls == [[(p, "calls") for p in callers]]
    assert answers[:4] == [None] * 4
    assert isinstance(answers[4], RateLimitedError) and answers[4].retry_after_s == 3
