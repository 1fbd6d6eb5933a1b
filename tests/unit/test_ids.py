"""Ids of new objects (district_engine/ids.py): random, or derived from a request's Idempotency-Key,
also in the thread a sync route runs in."""

import asyncio
import re

from starlette.concurrency import run_in_threadpool

from district_engine.ids import derived_ids, new_id


def test_ids_are_random_outside_a_keyed_request():
    assert re.fullmatch(r"cmp_[0-9a-f]{16}", new_id("cmp"))
    assert new_id("cmp") != new_id("cmp")


def test_ids_derived_from_the_same_request_are_the_same_and_differ_by_kind():
    with derived_ids("operator:op_1", "k", b"fp"):
        first = new_id("cmp"), new_id("lot")
        assert (new_id("cmp"), new_id("lot")) == first and first[0][4:] != first[1][4:]
    with derived_ids("operator:op_1", "k", b"fp"):
        assert new_id("cmp") == first[0]
    assert new_id("cmp") != first[0]  # outside again: random


def test_another_principal_key_or_request_derives_other_ids():
    def derived(*args):
        with derived_ids(*args):
            return new_id("ep")
    base = derived("operator:op_1", "k", b"fp")
    assert len({base, derived("operator:op_2", "k", b"fp"), derived("operator:op_1", "k2", b"fp"),
                derived("operator:op_1", "k", b"fp2")}) == 4


def test_the_derivation_follows_the_request_into_the_thread_pool():
    async def request():
        with derived_ids("operator:op_1", "k", b"fp"):
            return new_id("ch"), await run_in_threadpool(new_id, "ch")
    here, there = asyncio.run(request())
    assert here == there
