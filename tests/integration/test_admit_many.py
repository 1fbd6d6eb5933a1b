"""Operators' calls counted against their limit many at a time (Identity.admit_many) on a real
Redis: in one round trip, the operators' only, the call past the limit refused with when to retry."""

import pytest

from district_engine.errors import RateLimitedError
from district_engine.identity import Kind, Principal
from district_engine.identity.service import Identity
from helpers import RoundTrips


def test_admit_many_counts_operators_only_in_one_round_trip(redis_client, monkeypatch):
    identity = Identity(redis_client, "admin", operator_calls_per_minute=2)
    op, channel = Principal(Kind.OPERATOR, "op_1"), Principal(Kind.CHANNEL, "ch_1")
    identity.admit(Principal(Kind.OPERATOR, "op_warm"))  # the script is loaded
    trips = RoundTrips(monkeypatch)
    assert identity.admit_many([op, channel, op]) == [None, None, None]
    assert trips.count == 1
    third, channel_again = identity.admit_many([op, channel])  # the third call of the minute
    assert isinstance(third, RateLimitedError) and 1 <= third.retry_after_s <= 60 and channel_again is None
    with pytest.raises(RateLimitedError):
        identity.admit(op)
    assert identity.admit_many([]) == []
