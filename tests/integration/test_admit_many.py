"""Operators' calls counted against their limit many at a time (Identity.admit_many) on a real
Redis: in one round trip, the operators' only, the call past the limit refused with when to retry."""

import pytest

from district_engine.errors import RateLimitedError
from district_engine.identity import Kind, Principal
from district_engine.identity.service import CALLS, ORDERS, Identity
from helpers import RoundTrips


def test_admit_many_counts_operators_only_in_one_round_trip(redis_client, monkeypatch):
    identity = Identity(redis_client, "admin", operator_calls_per_minute=2)
    op, channel = Principal(Kind.OPERATOR, "op_1"), Principal(Kind.CHANNEL, "ch_1")
    identity.admit(Principal(Kind.OPERATOR, "op_warm"))  # the script is loaded
    trips = RoundTrips(monkeypatch)
    assert identity.admit_many([(op, CALLS), (channel, CALLS), (op, CALLS)]) == [None, None, None]
    assert trips.count == 1
    third, channel_again = identity.admit_many([(op, CALLS), (channel, CALLS)])  # the third call of the minute
    assert isinstance(third, RateLimitedError) and 1 <= third.retry_after_s <= 60 and channel_again is None
    with pytest.raises(RateLimitedError):
        identity.admit(op)
    assert identity.admit_many([]) == []


def test_an_operators_orders_have_a_budget_of_their_own(redis_client):
    """A brand's tills report orders at their own pace: they neither use up the operator's calls
    nor are refused because its staff used them up."""
    identity = Identity(redis_client, "admin", operator_calls_per_minute=1, operator_orders_per_minute=3)
    op = Principal(Kind.OPERATOR, "op_1")
    identity.admit(op)
    with pytest.raises(RateLimitedError):
        identity.admit(op)  # calls: one a minute
    assert identity.admit_many([(op, ORDERS)] * 3) == [None] * 3
    refused = identity.admit_many([(op, ORDERS), (Principal(Kind.OPERATOR, "op_2"), ORDERS)])
    assert isinstance(refused[0], RateLimitedError) and "orders" in refused[0].message and refused[1] is None
