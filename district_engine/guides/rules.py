"""Exclusive guides' attribution rules (pure): commission, refunds, a member's binding to a guide
and its history, the guide who held a member at a given time, and the campaign an order converts.

Times are integer milliseconds since the epoch, money integer cents, rates basis points (1/10,000).
A binding moves only through ``bind`` (a service) and ``settle`` (a deactivated guide's member going
to its successor); every binding a member has held is an interval of its ``History``, so an order
reported late goes to the guide who held the member at the order's time (``guide_at``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from district_engine.clock import DAY_MS
from district_engine.errors import InvalidInputError
from district_engine.validation import check_int

__all__ = ["MAX_BPS", "MAX_AMOUNT_CENTS", "MAX_AHEAD_MS", "DAY_MS", "SALES_CHANNELS", "Binding", "History",
           "BindResult", "RefundFigures", "check_bps", "check_amount_cents", "check_sales_channel", "check_time",
           "commission_cents", "reversed_cents", "refund_figures", "encode_history", "decode_history", "resolve",
           "guide_at", "settle", "bind", "prune", "campaign_at"]

MAX_BPS = 10_000
MAX_AMOUNT_CENTS = 1_000_000_000  # ¥10,000,000: one order; more is a client's bug, not a sale
MAX_AHEAD_MS = 5 * 60_000  # a client clock further ahead of the server's is wrong
SALES_CHANNELS = ("store", "cloud_store", "flagship")
MAX_HOPS = 16  # transfers followed from a deactivated guide to the guide holding its members now

History = tuple[tuple[int, str], ...]  # ((from ms, guide id), ...), from strictly increasing
Inactive = Mapping[str, tuple[int, str]]  # guide id -> (deactivated ms, the guide its members went to)


def check_bps(value, field: str = "commission_bps") -> int:
    """A commission rate: an integer 0..10,000 basis points."""
    return check_int(value, field, 0, MAX_BPS)


def check_amount_cents(value, field: str = "amount_cents") -> int:
    """An amount of money: an integer 1..MAX_AMOUNT_CENTS cents."""
    return check_int(value, field, 1, MAX_AMOUNT_CENTS)


def check_sales_channel(value) -> str:
    if value not in SALES_CHANNELS:
        raise InvalidInputError(f"must be one of {', '.join(SALES_CHANNELS)}, got {value!r}", field="sales_channel")
    return value


def check_time(t_ms: int, now_ms: int, max_age_ms: int, field: str, what: str) -> int:
    """``t_ms`` if it is at most 5 minutes ahead of ``now_ms`` and at most ``max_age_ms`` behind it;
    else InvalidInputError naming ``field`` (a client's clock never moves money beyond these bounds)."""
    if t_ms - now_ms > MAX_AHEAD_MS:
        raise InvalidInputError("is more than 5 minutes ahead of the server clock", field=field)
    if now_ms - t_ms > max_age_ms:
        raise InvalidInputError(f"is older than {what} ({max_age_ms // DAY_MS} days)", field=field)
    return t_ms


def commission_cents(amount_cents: int, bps: int) -> int:
    """floor(amount x bps / 10,000): never negative, never above the amount."""
    return amount_cents * bps // MAX_BPS


def reversed_cents(commission: int, amount_cents: int, refunded_cents: int) -> int:
    """The commission reversed once ``refunded_cents`` of the order are refunded, in all:
    floor(commission x refunded / amount). Cumulative, so refunds in any steps reverse the same as
    one refund of their sum, and a full refund reverses the whole commission exactly."""
    return commission * refunded_cents // amount_cents


class RefundFigures(NamedTuple):
    reversal_cents: int  # commission reversed by this refund
    refunded_cents: int  # the order's refunds in all, this one included
    reversed_cents: int  # the order's commission reversed in all
    completes: bool  # the order is now refunded in full


def refund_figures(amount_cents: int, commission: int, refunded_cents: int, reversed_before: int,
                   refund_cents: int) -> RefundFigures:
    """What refunding ``refund_cents`` more of an order does; InvalidInputError (amount_cents) past
    what remains of the order."""
    refund_cents = check_amount_cents(refund_cents)
    left = amount_cents - refunded_cents
    if refund_cents > left:
        raise InvalidInputError(f"is more than the {left:,} cents of the order not yet refunded", field="amount_cents")
    total = refunded_cents + refund_cents
    reversed_total = reversed_cents(commission, amount_cents, total)
    return RefundFigures(reversed_total - reversed_before, total, reversed_total, total == amount_cents)


class Binding(NamedTuple):
    """A member's guide: bound since ``bound_ms``, last served by that guide at ``served_ms``
    (a binding's age counts from its guide's last service)."""

    guide_id: str
    bound_ms: int
    served_ms: int

    def encode(self) -> str:
        return f"{self.guide_id} {self.bound_ms} {self.served_ms}"

    @classmethod
    def decode(cls, raw: str | None) -> Binding | None:
        if not raw:
            return None
        guide_id, bound, served = raw.split(" ")
        return cls(guide_id, int(bound), int(served))


def encode_history(history: History) -> str:
    return ",".join(f"{t}:{g}" for t, g in history)


def decode_history(raw: str | None) -> History:
    if not raw:
        return ()
    return tuple((int(t), g) for t, _, g in (part.partition(":") for part in raw.split(",")))


def resolve(guide_id: str, at_ms: int, inactive: Inactive) -> tuple[str | None, int | None]:
    """Who held, at ``at_ms``, the members bound to ``guide_id``: the guide itself, or, once it
    was deactivated (at or before ``at_ms``), the guide it transferred them to, and so on.
    (guide, the last deactivation followed, or None if none was); (None, ...) past MAX_HOPS."""
    since = None
    for _ in range(MAX_HOPS):
        gone = inactive.get(guide_id)
        if gone is None or at_ms < gone[0]:
            return guide_id, since
        since, guide_id = gone
    return None, since


def guide_at(history: History, at_ms: int, inactive: Inactive) -> str | None:
    """The guide who held the member at ``at_ms`` (None: the member had no guide then)."""
    held = None
    for start, guide_id in history:
        if start > at_ms:
            break
        held = guide_id
    return resolve(held, at_ms, inactive)[0] if held is not None else None


def _start(history: History, t_ms: int) -> int:
    """When an interval starting at ``t_ms`` may start: after the last one's start."""
    return max(t_ms, history[-1][0] + 1) if history else t_ms


def prune(history: History, keep_after_ms: int) -> History:
    """``history`` without the intervals that ended at or before ``keep_after_ms`` (no order that
    old is taken: they can decide nothing any more)."""
    first = 0
    for i, (start, _) in enumerate(history):
        if start <= keep_after_ms:
            first = i
    return history[first:]


def settle(current: Binding, history: History, now_ms: int, inactive: Inactive,
           keep_after_ms: int) -> tuple[Binding | None, History]:
    """A binding to a guide deactivated since, made a binding to the guide holding its members
    now (``resolve``), from the deactivation (which counts as its new guide's service); a binding
    to an active guide unchanged. (None, history) if no guide holds it (past MAX_HOPS)."""
    holder, since = resolve(current.guide_id, now_ms, inactive)
    if since is None:
        return current, history
    if holder is None:
        return None, history
    start = _start(history, since)
    return Binding(holder, start, start), prune(history + ((start, holder),), keep_after_ms)


class BindResult(NamedTuple):
    outcome: str  # bound (a first guide) | renewed (the same guide) | moved (from another) | held (409)
    binding: Binding  # the member's binding now (held: the current guide's, unchanged)
    history: History


def bind(current: Binding | None, history: History, guide_id: str, served_ms: int, now_ms: int, window_ms: int,
         inactive: Inactive, keep_after_ms: int) -> BindResult:
    """A service by ``guide_id`` at ``served_ms``. The same guide renews its binding (its age
    counts from its latest service). Another guide takes the member only from a binding whose
    guide last served it ``window_ms`` or more before ``served_ms``, or from a binding no active
    guide holds; otherwise it is ``held``. A new binding starts at ``served_ms``."""
    settled, history = settle(current, history, now_ms, inactive, keep_after_ms) if current else (None, history)
    if settled is not None and settled.guide_id == guide_id:
        renewed = settled._replace(served_ms=max(settled.served_ms, served_ms))
        return BindResult("renewed", renewed, prune(history, keep_after_ms))
    if settled is not None and served_ms - settled.served_ms < window_ms:
        return BindResult("held", settled, history)
    start = _start(history, served_ms)
    return BindResult("moved" if current else "bound", Binding(guide_id, start, max(start, served_ms)),
                      prune(history + ((start, guide_id),), keep_after_ms))


def campaign_at(gifts: Mapping[str, int], at_ms: int, windows_ms: Mapping[str, int]) -> str | None:
    """The campaign an order at ``at_ms`` converts: of the campaigns in ``windows_ms`` (the
    operator's, with their attribution windows), the one whose offer the user was given last
    (``gifts``: campaign id -> when) at or before ``at_ms`` and at most its window before it. Ties
    go to the greater campaign id, so that the answer never depends on the order of ``gifts``."""
    best = None
    for campaign_id, given_ms in gifts.items():
        window = windows_ms.get(campaign_id)
        if window is None or given_ms > at_ms or at_ms - given_ms > window:
            continue
        if best is None or (given_ms, campaign_id) > best:
            best = (given_ms, campaign_id)
    return best[1] if best else None
