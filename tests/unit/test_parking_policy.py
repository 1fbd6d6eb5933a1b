"""The pure parking rules: a gate clock's bounds, a lot's limits, the backoff of declined charges."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from district_engine.errors import InvalidInputError
from district_engine.parking.policy import RETRY_SPAN_S, check_captured_at, check_lot_limits, retry_delays

NOW = datetime(2026, 11, 11, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("captured_at", [
    NOW, NOW + timedelta(minutes=5), NOW - timedelta(hours=48),
    (NOW + timedelta(minutes=4)).astimezone(timezone(timedelta(hours=8))),  # another offset, same instant rules
])
def test_a_captured_at_within_bounds_is_believed(captured_at):
    assert check_captured_at(captured_at, NOW, 48) == captured_at


@pytest.mark.parametrize("captured_at, words", [
    (NOW + timedelta(minutes=5, seconds=1), "ahead"),
    (datetime(2031, 1, 1, tzinfo=timezone.utc), "ahead"),
    (NOW - timedelta(hours=48, seconds=1), "behind"),
    (datetime(2016, 3, 1, tzinfo=timezone.utc), "behind"),
])
def test_a_captured_at_out_of_bounds_names_the_field(captured_at, words):
    with pytest.raises(InvalidInputError) as e:
        check_captured_at(captured_at, NOW, 48)
    assert e.value.field == "captured_at" and words in e.value.message


def test_a_lots_backfill_bound_is_its_own():
    check_captured_at(NOW - timedelta(hours=100), NOW, 120)
    with pytest.raises(InvalidInputError):
        check_captured_at(NOW - timedelta(hours=2), NOW, 1)


@pytest.mark.parametrize("kwargs, field", [
    ({"max_auto_charge_cents": -1}, "max_auto_charge_cents"),
    ({"max_auto_charge_cents": 10_000_001}, "max_auto_charge_cents"),
    ({"max_auto_charge_cents": True}, "max_auto_charge_cents"),
    ({"max_backfill_hours": 0}, "max_backfill_hours"),
    ({"max_backfill_hours": 721}, "max_backfill_hours"),
    ({"max_backfill_hours": 1.5}, "max_backfill_hours"),
])
def test_bad_lot_limits_name_their_field(kwargs, field):
    with pytest.raises(InvalidInputError) as e:
        check_lot_limits(**kwargs)
    assert e.value.field == field


def test_lot_limits_default_to_the_contracts():
    assert check_lot_limits() == {"max_auto_charge_cents": 50_000, "max_backfill_hours": 48}


def test_the_default_schedule_starts_at_the_retry_interval_and_spans_about_three_days():
    delays = retry_delays(5, 30)
    assert delays[0] == 30 and sum(delays) == pytest.approx(RETRY_SPAN_S, rel=1e-6)
    assert all(a < b for a, b in zip(delays, delays[1:]))


@given(st.integers(1, 20), st.floats(0.01, 100_000), st.floats(1, 30 * 86_400))
def test_retry_delays_grow_start_at_first_and_fill_the_span(attempts, first_s, span_s):
    delays = retry_delays(attempts, first_s, span_s)
    assert len(delays) == attempts and delays[0] == pytest.approx(first_s)
    assert all(b >= a * (1 - 1e-9) for a, b in zip(delays, delays[1:]))
    if attempts > 1 and first_s * attempts < span_s:
        assert sum(delays) == pytest.approx(span_s, rel=1e-6)
    else:
        assert delays == [first_s] * attempts


def test_retry_delays_refuse_nonsense():
    with pytest.raises(ValueError):
        retry_delays(0, 30)
