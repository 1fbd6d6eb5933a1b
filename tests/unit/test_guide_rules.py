"""The guides' attribution rules (district_engine/guides/rules.py), by their invariants: commission
is never negative nor above the amount, refunds reverse it exactly and in proportion, what the
ledger books adds up to the orders' figures, the guide at a time is the one whose interval holds
it, a service moves a member only as the window allows, and a campaign converts only within its
window."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from district_engine import InvalidInputError
from district_engine.guides.rules import (DAY_MS, MAX_AMOUNT_CENTS, MAX_BPS, Binding, bind, campaign_at,
                                          check_amount_cents, check_bps, check_sales_channel, check_time,
                                          commission_cents, decode_history, encode_history, guide_at, prune,
                                          refund_figures, resolve, reversed_cents, settle)

amounts = st.integers(1, MAX_AMOUNT_CENTS)
rates = st.integers(0, MAX_BPS)
GUIDES = [f"gd_{i}" for i in range(6)]


@given(amounts, rates)
def test_commission_is_never_negative_nor_above_the_amount(amount, bps):
    c = commission_cents(amount, bps)
    assert 0 <= c <= amount and c == amount * bps // 10_000
    assert commission_cents(amount, 0) == 0 and commission_cents(amount, MAX_BPS) == amount


@st.composite
def refunds(draw):
    """An order (amount, rate) and refunds that add up to at most its amount."""
    amount = draw(st.integers(1, 10**7))
    parts, left = [], amount
    for _ in range(draw(st.integers(1, 8))):
        if not left:
            break
        part = draw(st.integers(1, left))
        parts.append(part)
        left -= part
    if draw(st.booleans()) and left:
        parts.append(left)  # refunded in full
    return amount, draw(rates), parts


@settings(max_examples=500)
@given(refunds())
def test_refunds_reverse_the_commission_in_proportion_exactly_and_never_below_zero(case):
    amount, bps, parts = case
    commission = commission_cents(amount, bps)
    refunded = reversed_total = 0
    for part in parts:
        f = refund_figures(amount, commission, refunded, reversed_total, part)
        assert f.reversal_cents >= 0
        refunded, reversed_total = f.refunded_cents, f.reversed_cents
        assert reversed_total == commission * refunded // amount  # cumulative floor: steps do not matter
        assert 0 <= commission - reversed_total <= commission
        assert f.completes == (refunded == amount)
    if refunded == amount:
        assert reversed_total == commission  # a full refund reverses the whole commission, to the cent


@given(refunds())
def test_a_refund_beyond_what_remains_is_refused_and_changes_nothing(case):
    amount, bps, parts = case
    commission = commission_cents(amount, bps)
    refunded = sum(parts)
    with pytest.raises(InvalidInputError) as e:
        refund_figures(amount, commission, refunded, reversed_cents(commission, amount, refunded),
                       amount - refunded + 1)
    assert e.value.field == "amount_cents"


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(GUIDES + [None]), st.integers(1, 10**6), rates), min_size=1, max_size=30),
       st.data())
def test_the_ledger_adds_up_to_the_orders_net_figures(orders, data):
    """Book orders and random refunds as the service does (an entry each); per guide, the booked
    commissions less the booked reversals equal the orders' commissions net of refunds."""
    ledger, state = [], []
    for guide, amount, bps in orders:
        c = commission_cents(amount, bps) if guide else 0
        ledger.append(("order", guide, c))
        state.append([guide, amount, c, 0, 0])
    for _ in range(data.draw(st.integers(0, 40))):
        o = data.draw(st.sampled_from(state))
        guide, amount, c, refunded, rev = o
        if refunded == amount:
            continue
        f = refund_figures(amount, c, refunded, rev, data.draw(st.integers(1, amount - refunded)))
        o[3], o[4] = f.refunded_cents, f.reversed_cents
        ledger.append(("refund", guide, -f.reversal_cents))
    for g in GUIDES + [None]:
        booked = sum(x for _, guide, x in ledger if guide == g)
        assert booked == sum(c - rev for guide, _, c, _, rev in state if guide == g) >= 0


@st.composite
def histories(draw, size=8):
    starts = sorted(draw(st.sets(st.integers(0, 10**6), min_size=1, max_size=size)))
    return tuple((t, draw(st.sampled_from(GUIDES))) for t in starts)


@settings(max_examples=300)
@given(histories(), st.integers(-10, 10**6 + 10))
def test_the_guide_at_a_time_is_the_one_whose_interval_holds_it(history, at):
    ends = [t for t, _ in history[1:]] + [float("inf")]
    want = next((g for (start, g), end in zip(history, ends) if start <= at < end), None)
    assert guide_at(history, at, {}) == want
    assert decode_history(encode_history(history)) == history


@st.composite
def transfers(draw):
    """Inactive guides, each handing its members to a guide deactivated later or never (no cycle)."""
    order = draw(st.permutations(GUIDES))
    gone = draw(st.integers(0, len(GUIDES) - 1))
    times = sorted(draw(st.lists(st.integers(0, 10**6), min_size=gone, max_size=gone)))
    return {order[i]: (times[i], draw(st.sampled_from(order[i + 1:]))) for i in range(gone)}


@settings(max_examples=300)
@given(histories(), transfers(), st.integers(0, 10**6))
def test_a_deactivated_guides_members_are_its_successors_from_then_on(history, inactive, at):
    held = guide_at(history, at, {})
    got = guide_at(history, at, inactive)
    if held is None:
        assert got is None
        return
    assert got is not None
    assert got not in inactive or inactive[got][0] > at  # never a guide gone by then
    chain, g = [held], held
    while g in inactive and inactive[g][0] <= at:
        g = inactive[g][1]
        chain.append(g)
    assert got == chain[-1]
    if held not in inactive or inactive[held][0] > at:
        assert got == held  # a guide not yet gone keeps its members


@settings(max_examples=500)
@given(histories(4), transfers(), st.sampled_from(GUIDES), st.integers(0, 2 * 10**6), st.integers(1, 10**6),
       st.integers(0, 3 * 10**6))
def test_a_service_moves_a_member_only_as_the_window_allows(history, inactive, guide, served, window, now):
    assume(guide not in inactive)  # the service checks that its guide is active
    last_start, last_guide = history[-1]
    current = Binding(last_guide, last_start, last_start + 10)
    r = bind(current, history, guide, served, now, window, inactive, keep_after_ms=-1)
    holder = resolve(last_guide, now, inactive)[0]
    starts = [t for t, _ in r.history]
    assert starts == sorted(set(starts))  # intervals in order, none empty
    assert r.binding.served_ms >= r.binding.bound_ms
    if r.outcome == "held":
        assert holder is not None and holder != guide and r.binding.guide_id == holder
        assert served - r.binding.served_ms < window
        return
    assert r.binding.guide_id == guide == r.history[-1][1]
    assert guide_at(r.history, r.binding.bound_ms, inactive) == guide
    if r.outcome == "renewed":
        assert holder == guide and r.binding.served_ms >= served
    else:
        assert r.outcome == "moved" and holder != guide and r.binding.bound_ms >= served
        assert holder is None or served - settle(current, history, now, inactive, -1)[0].served_ms >= window
    # The past is kept: an order before the new binding goes where it went.
    for at in range(0, r.binding.bound_ms, max(1, r.binding.bound_ms // 50)):
        if at < (inactive[guide][0] if guide in inactive else float("inf")):
            assert guide_at(r.history, at, inactive) == guide_at(history, at, inactive)


@given(st.sampled_from(GUIDES), st.integers(0, 10**6), st.integers(1, 10**6))
def test_a_first_service_binds_and_the_same_guide_renews(guide, served, window):
    first = bind(None, (), guide, served, served, window, {}, -1)
    assert first.outcome == "bound" and first.binding == Binding(guide, served, served)
    assert first.history == ((served, guide),)
    later = bind(first.binding, first.history, guide, served + 5, served + 5, window, {}, -1)
    assert later.outcome == "renewed" and later.binding == Binding(guide, served, served + 5)
    earlier = bind(later.binding, later.history, guide, served - 1, served + 6, window, {}, -1)
    assert earlier.binding.served_ms == served + 5  # a late-reported older service does not age it


def test_another_guide_takes_the_member_once_the_binding_has_lapsed_from_its_last_service():
    day = DAY_MS
    a = bind(None, (), "gd_a", 0, 0, 365 * day, {}, -1)
    renewed = bind(a.binding, a.history, "gd_a", 100 * day, 100 * day, 365 * day, {}, -1).binding
    held = bind(renewed, a.history, "gd_b", 400 * day, 400 * day, 365 * day, {}, -1)
    assert held.outcome == "held" and held.binding.guide_id == "gd_a"  # 300 days after a's last service
    moved = bind(renewed, a.history, "gd_b", 465 * day, 465 * day, 365 * day, {}, -1)
    assert moved.outcome == "moved" and moved.history == ((0, "gd_a"), (465 * day, "gd_b"))
    # a's transfer to c on day 200: c holds the member from then on, its window counting from then.
    gone = {"gd_a": (200 * day, "gd_c")}
    assert bind(renewed, a.history, "gd_b", 465 * day, 465 * day, 365 * day, gone, -1).binding.guide_id == "gd_c"
    taken = bind(renewed, a.history, "gd_b", 566 * day, 566 * day, 365 * day, gone, -1)
    assert taken.outcome == "moved" and [g for _, g in taken.history] == ["gd_a", "gd_c", "gd_b"]


@settings(max_examples=300)
@given(histories(), st.integers(-1, 2 * 10**6))
def test_pruning_keeps_every_answer_from_its_bound_on(history, keep_after):
    kept = prune(history, keep_after)
    assert kept and set(kept) <= set(history)
    for at in sorted({keep_after, keep_after + 1, *(t for t, _ in history if t >= keep_after)}):
        assert guide_at(kept, at, {}) == guide_at(history, at, {})


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from([f"c{i}" for i in range(8)]), st.integers(0, 10**6), max_size=8),
       st.dictionaries(st.sampled_from([f"c{i}" for i in range(8)]), st.integers(0, 10**5), max_size=8),
       st.integers(0, 10**6))
def test_an_order_converts_the_campaign_given_last_within_its_window(gifts, windows, at):
    eligible = {c: t for c, t in gifts.items() if c in windows and t <= at and at - t <= windows[c]}
    got = campaign_at(gifts, at, windows)
    if not eligible:
        assert got is None
        return
    assert got in eligible and eligible[got] == max(eligible.values())
    assert campaign_at(dict(reversed(list(gifts.items()))), at, windows) == got  # not the dict's order


def test_checks_name_their_field_and_list_the_choices():
    for check, bad, field in [(check_bps, 10_001, "commission_bps"), (check_bps, True, "commission_bps"),
                              (check_amount_cents, 0, "amount_cents"), (check_amount_cents, 1.0, "amount_cents"),
                              (check_amount_cents, MAX_AMOUNT_CENTS + 1, "amount_cents")]:
        with pytest.raises(InvalidInputError) as e:
            check(bad)
        assert e.value.field == field
    with pytest.raises(InvalidInputError, match="store, cloud_store, flagship"):
        check_sales_channel("online")
    now = 10 * DAY_MS
    assert check_time(now + 5 * 60_000, now, DAY_MS, "at", "x") == now + 5 * 60_000
    for t in (now + 5 * 60_000 + 1, now - DAY_MS - 1):
        with pytest.raises(InvalidInputError) as e:
            check_time(t, now, DAY_MS, "at", "x")
        assert e.value.field == "at"
