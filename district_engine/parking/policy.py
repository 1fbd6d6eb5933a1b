"""What the engine believes of a gate and charges on its own (pure): the bounds of a camera's clock,
a lot's limits, and when a declined charge is tried again."""

from __future__ import annotations

from datetime import datetime, timedelta

from district_engine.errors import InvalidInputError
from district_engine.validation import check_int

__all__ = ["MAX_AHEAD", "MAX_AUTO_CHARGE_CENTS", "MAX_BACKFILL_HOURS", "RETRY_SPAN_S", "check_captured_at",
           "check_lot_limits", "retry_delays"]

MAX_AHEAD = timedelta(minutes=5)  # the signature's own tolerance: a gate clock further ahead is wrong
MAX_BACKFILL_HOURS = 48  # a lot's default: how late a buffered event of an offline gate may arrive
MAX_AUTO_CHARGE_CENTS = 50_000  # a lot's default: above it, staff decide (a wrong clock bills years)
RETRY_SPAN_S = 72 * 3600  # a declined charge is tried again over about three days, then staff decide


def check_captured_at(captured_at: datetime, now: datetime, max_backfill_hours: int) -> datetime:
    """``captured_at`` if it is at most 5 minutes ahead of ``now`` and at most ``max_backfill_hours``
    behind it (both timezone-aware); else InvalidInputError naming ``captured_at``."""
    if captured_at - now > MAX_AHEAD:
        raise InvalidInputError(f"{captured_at.isoformat()} is more than 5 minutes ahead of the server clock "
                                f"({now.isoformat()}): the gate's clock is wrong", field="captured_at")
    if now - captured_at > timedelta(hours=max_backfill_hours):
        raise InvalidInputError(f"{captured_at.isoformat()} is more than {max_backfill_hours} h behind the server "
                                f"clock ({now.isoformat()}): the lot's max_backfill_hours", field="captured_at")
    return captured_at


def check_lot_limits(max_auto_charge_cents: object = MAX_AUTO_CHARGE_CENTS,
                     max_backfill_hours: object = MAX_BACKFILL_HOURS) -> dict[str, int]:
    """A lot's limits, checked: ``max_auto_charge_cents`` 0..10,000,000 (0: staff decide every fee),
    ``max_backfill_hours`` 1..720."""
    return {"max_auto_charge_cents": check_int(max_auto_charge_cents, "max_auto_charge_cents", 0, 10_000_000),
            "max_backfill_hours": check_int(max_backfill_hours, "max_backfill_hours", 1, 720)}


def retry_delays(attempts: int, first_s: float, span_s: float = RETRY_SPAN_S) -> list[float]:
    """The waits (seconds) before each of ``attempts`` retries of a declined charge: the first
    ``first_s`` (a gateway's blip passes quickly), each next one a constant factor longer, the
    factor chosen so that they add up to ``span_s`` (a card fixed by its owner within days is
    still charged). Constant waits of ``first_s`` when those alone fill the span."""
    if attempts < 1 or first_s <= 0:
        raise ValueError("attempts must be >= 1 and first_s > 0")
    if attempts == 1 or first_s * attempts >= span_s:
        return [float(first_s)] * attempts

    def total(r: float) -> float:
        return sum(first_s * r ** k for k in range(attempts))

    low, high = 1.0, 2.0
    while total(high) < span_s:
        high *= 2
    for _ in range(100):  # bisection: the total grows with the factor
        mid = (low + high) / 2
        low, high = (mid, high) if total(mid) < span_s else (low, mid)
    return [first_s * low ** k for k in range(attempts)]
