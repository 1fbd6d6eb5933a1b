from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from district_engine import InvalidInputError, load_demo_lots
from district_engine.parking.tariff import DAY_MINUTES, Period, Tariff, price_session

CST = timezone(timedelta(hours=8))
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=CST)
SIMPLE = {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000, "daily_cap_cents": 8000}
DAY_NIGHT = {
    "free_minutes": 15,
    "periods": [{"start": "08:00", "end": "20:00", "unit_minutes": 30, "cents_per_unit": 500},
                {"start": "20:00", "end": "08:00", "unit_minutes": 60, "cents_per_unit": 200}],
    "utc_offset_minutes": 480,
    "daily_cap_cents": 6000,
}


def fee(tariff: dict, stay: timedelta, entered_at: datetime = T0, free_minutes: int = 0) -> int:
    return price_session(Tariff.from_dict(tariff), entered_at, entered_at + stay, free_minutes)


def at(hh_mm: str) -> datetime:
    h, m = map(int, hh_mm.split(":"))
    return datetime(2024, 5, 1, h, m, tzinfo=CST)


M, H = timedelta(minutes=1), timedelta(hours=1)


# Worked by hand from the rules in the module docstring, not by calling the code.
@pytest.mark.parametrize("stay,cents", [
    (timedelta(0), 0), (15 * M, 0),
    (15 * M + timedelta(seconds=1), 1000),  # a started minute counts: 16 minutes, past the grace period
    (16 * M, 1000), (60 * M, 1000), (61 * M, 2000),  # the grace period is not deducted from a longer stay
    (8 * H, 8000), (9 * H, 8000),  # 9 units capped at 8000
    (24 * H, 8000), (24 * H + M, 9000), (25 * H, 9000),  # 8000 + min(1000, 8000)
    (30 * H, 14000), (33 * H, 16000), (48 * H, 16000), (74 * H, 26000),  # 3 x 8000 + 2000
])
def test_simple_tariff_worked_examples(stay, cents):
    assert fee(SIMPLE, stay) == cents


@pytest.mark.parametrize("tariff,stay,cents", [
    ({**SIMPLE, "daily_cap_cents": None}, 25 * H, 25000),
    ({**SIMPLE, "daily_cap_cents": None}, 24 * H + 15 * M, 25000),  # no grace in the last window: 24 + 1 units
    ({"free_minutes": 0, "unit_minutes": 7, "cents_per_unit": 100}, 1441 * M, 20700),  # ceil(1440/7) = 206 + 1
    ({"free_minutes": 0, "unit_minutes": 60, "cents_per_unit": 1000}, timedelta(seconds=1), 1000),
    ({"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000, "daily_cap_cents": 0}, 5 * H, 0),
    ({**SIMPLE, "min_cents": 1500}, 20 * M, 1500), ({**SIMPLE, "min_cents": 1500}, 10 * M, 0),
    ({**SIMPLE, "max_cents": 10000}, 50 * H, 10000),
])
def test_other_simple_tariffs(tariff, stay, cents):
    assert fee(tariff, stay) == cents


@pytest.mark.parametrize("stay,discount_minutes,cents", [
    (2 * H, 60, 1000), (2 * H, 120, 0), (2 * H, 500, 0),
    (75 * M, 60, 0),  # 15 billable minutes: within the grace period
    (76 * M, 60, 1000), (25 * H, 60, 8000),
])
def test_discount_minutes_come_off_before_pricing(stay, discount_minutes, cents):
    assert fee(SIMPLE, stay, free_minutes=discount_minutes) == cents


@pytest.mark.parametrize("entry,stay,cents", [
    ("19:00", 2 * H, 1200),  # 19:00 day 500, 19:30 day 500, 20:00 night 200
    ("19:45", 35 * M, 700),  # 19:45 day 500 (to 20:15), 20:15 night 200
    ("07:00", 2 * H, 1200),  # 07:00 night 200, 08:00 and 08:30 day 500
    ("07:30", 40 * M, 200),  # one night unit that runs into the day; the next would start after the exit
    ("08:00", 12 * H, 6000),  # 24 day units = 12000, capped
    ("20:00", 12 * H, 2400),  # 12 night units
    ("09:00", 10 * M, 0),
    ("20:00", 25 * H, 6200),  # first window 2400 + 12000 capped at 6000, then one night unit from 20:00
])
def test_day_and_night_periods_worked_examples(entry, stay, cents):
    assert fee(DAY_NIGHT, stay, entered_at=at(entry)) == cents


def test_periods_use_the_tariff_clock_not_the_timestamp_zone():
    assert fee(DAY_NIGHT, 2 * H, entered_at=datetime(2024, 5, 1, 11, 0, tzinfo=timezone.utc)) == 1200  # 19:00 +08
    assert fee(DAY_NIGHT, 2 * H, entered_at=datetime(2024, 5, 1, 19, 0, tzinfo=timezone.utc)) == 400  # 03:00 +08


def test_min_and_max_cents_with_periods():
    assert fee({**DAY_NIGHT, "min_cents": 300}, 20 * M, entered_at=at("21:00")) == 300
    assert fee({**DAY_NIGHT, "min_cents": 300}, 10 * M, entered_at=at("21:00")) == 0
    assert fee({**DAY_NIGHT, "max_cents": 10000}, 72 * H, entered_at=at("08:00")) == 10000


def test_demo_lot_tariffs_parse_and_round_trip():
    for lot in load_demo_lots():
        tariff = Tariff.from_dict(lot.tariff)
        assert tariff.to_dict() == lot.tariff
        assert tariff == Tariff(free_minutes=15, unit_minutes=60, cents_per_unit=1000, daily_cap_cents=8000)


def test_period_ends_of_midnight_read_both_ways():
    a = Tariff.from_dict({"free_minutes": 0, "utc_offset_minutes": 0, "periods": [
        {"start": "00:00", "end": "12:00", "unit_minutes": 60, "cents_per_unit": 1},
        {"start": "12:00", "end": "00:00", "unit_minutes": 60, "cents_per_unit": 2}]})
    b = Tariff.from_dict({**a.to_dict()})
    assert a == b and a.to_dict()["periods"][1]["end"] == "24:00"


# --- property tests -------------------------------------------------------------------------------------------

caps = st.none() | st.integers(0, 20_000)


@st.composite
def periods(draw):
    cuts = sorted(draw(st.sets(st.integers(0, DAY_MINUTES - 1), min_size=1, max_size=4)))
    bounds = [(0, DAY_MINUTES)] if len(cuts) == 1 else [
        (cuts[i], cuts[(i + 1) % len(cuts)] or DAY_MINUTES) for i in range(len(cuts))]
    made = [Period(start, end, draw(st.integers(1, 240) | st.sampled_from([1, 15, 30, 60, 1440])),
                   draw(st.integers(0, 2000))) for start, end in bounds]
    return tuple(draw(st.permutations(made)))


@st.composite
def tariffs(draw):
    cap = draw(caps)
    min_cents = draw(st.none() | st.integers(0, cap if cap is not None else 5000))
    max_cents = draw(st.none() | st.integers(min_cents or 0, 50_000))
    common = dict(free_minutes=draw(st.integers(0, 120)), daily_cap_cents=cap, min_cents=min_cents, max_cents=max_cents)
    if draw(st.booleans()):
        return Tariff(unit_minutes=draw(st.integers(1, DAY_MINUTES)), cents_per_unit=draw(st.integers(0, 5000)),
                      **common)
    return Tariff(periods=draw(periods()), utc_offset_minutes=draw(st.integers(-720, 840)), **common)


entries = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                       timezones=st.sampled_from([timezone.utc, CST, timezone(timedelta(hours=-5, minutes=-30))]))
stays = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5))
discounts = st.integers(0, 3 * DAY_MINUTES)


@settings(max_examples=300)
@given(tariffs(), entries, stays, stays, discounts)
def test_fee_is_a_non_negative_int_that_never_falls_as_the_stay_grows(tariff, entered_at, a, b, discount):
    short, long = sorted([a, b])
    fee_short = price_session(tariff, entered_at, entered_at + short, discount)
    fee_long = price_session(tariff, entered_at, entered_at + long, discount)
    assert type(fee_short) is int and 0 <= fee_short <= fee_long


@settings(max_examples=300)
@given(tariffs(), entries, stays, discounts, discounts)
def test_a_discount_never_raises_the_fee(tariff, entered_at, stay, a, b):
    small, large = sorted([a, b])
    exited_at = entered_at + stay
    assert price_session(tariff, entered_at, exited_at, large) <= price_session(tariff, entered_at, exited_at, small)


@settings(max_examples=300)
@given(tariffs(), entries, stays, discounts)
def test_each_started_day_costs_at_most_the_cap_and_any_stay_at_most_max_cents(tariff, entered_at, stay, discount):
    cents = price_session(tariff, entered_at, entered_at + stay, discount)
    if tariff.daily_cap_cents is not None:
        started_days = -(-stay // timedelta(days=1))
        assert cents <= tariff.daily_cap_cents * started_days
    if tariff.max_cents is not None:
        assert cents <= tariff.max_cents


@given(tariffs(), entries, st.data())
def test_stays_within_the_grace_period_are_free(tariff, entered_at, data):
    stay = data.draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=tariff.free_minutes)))
    assert price_session(tariff, entered_at, entered_at + stay) == 0
    discount = data.draw(discounts)
    covered = data.draw(st.timedeltas(timedelta(0), timedelta(minutes=tariff.free_minutes + discount)))
    assert price_session(tariff, entered_at, entered_at + covered, discount) == 0


def _reference_cents(tariff: Tariff, entered_at: datetime, exited_at: datetime, discount: int) -> int:
    """Unit by unit and window by window, with none of the module's shortcuts."""
    micros = (exited_at - entered_at) // timedelta(microseconds=1)
    minutes = max(0, -(-micros // 60_000_000) - discount)
    if minutes <= tariff.free_minutes:
        return 0
    offset = tariff.utc_offset_minutes or 0
    local = entered_at.astimezone(timezone.utc) + timedelta(minutes=offset)
    first = local.hour * 60 + local.minute
    table = tariff.periods or (Period(0, DAY_MINUTES, tariff.unit_minutes, tariff.cents_per_unit),)

    def period_at(minute):
        m = minute % DAY_MINUTES
        return next(p for p in table if (p.start_minute <= m < p.end_minute if p.start_minute < p.end_minute
                                         else m >= p.start_minute or m < p.end_minute))

    total = 0
    for window_start in range(0, minutes, DAY_MINUTES):
        length, t, cents = min(DAY_MINUTES, minutes - window_start), 0, 0
        while t < length:
            p = period_at(first + window_start + t)
            cents, t = cents + p.cents_per_unit, t + p.unit_minutes
        total += cents if tariff.daily_cap_cents is None else min(cents, tariff.daily_cap_cents)
    if tariff.min_cents is not None:
        total = max(total, tariff.min_cents)
    return total if tariff.max_cents is None else min(total, tariff.max_cents)


@settings(max_examples=300)
@given(tariffs(), entries, stays, discounts)
def test_fee_matches_a_unit_by_unit_reference(tariff, entered_at, stay, discount):
    exited_at = entered_at + stay
    assert price_session(tariff, entered_at, exited_at, discount) == _reference_cents(tariff, entered_at, exited_at,
                                                                                     discount)


@given(st.integers(0, 60), st.integers(1, DAY_MINUTES), st.integers(0, 3000), caps, periods(), st.integers(-720, 840),
       entries, stays)
def test_periods_that_all_charge_alike_price_like_the_simple_form(free, unit, cents, cap, table, offset, entered_at,
                                                                  stay):
    same = tuple(Period(p.start_minute, p.end_minute, unit, cents) for p in table)
    simple = Tariff(free, unit, cents, cap)
    timed = Tariff(free, daily_cap_cents=cap, periods=same, utc_offset_minutes=offset)
    exited_at = entered_at + stay
    assert price_session(timed, entered_at, exited_at) == price_session(simple, entered_at, exited_at)


@given(tariffs())
def test_to_dict_round_trips(tariff):
    assert Tariff.from_dict(tariff.to_dict()) == tariff


# --- bad input ------------------------------------------------------------------------------------------------

def _periods(*rows):
    return [{"start": s, "end": e, "unit_minutes": 60, "cents_per_unit": 100} for s, e in rows]


TIMED = {"free_minutes": 0, "utc_offset_minutes": 480}


@pytest.mark.parametrize("tariff,field,match", [
    ([1, 2], "tariff", "must be an object"),
    ({**SIMPLE, "grace": 5}, "tariff", "unknown key 'grace'; valid keys: free_minutes, unit_minutes"),
    ({**SIMPLE, "unit_minutes": 0}, "tariff.unit_minutes", "from 1 to 1440"),
    ({**SIMPLE, "unit_minutes": 1441}, "tariff.unit_minutes", "from 1 to 1440"),
    ({**SIMPLE, "free_minutes": -1}, "tariff.free_minutes", "non-negative integer, got -1"),
    ({**SIMPLE, "free_minutes": True}, "tariff.free_minutes", "got True"),
    ({**SIMPLE, "cents_per_unit": 10.0}, "tariff.cents_per_unit", "got 10.0"),
    ({**SIMPLE, "daily_cap_cents": "8000"}, "tariff.daily_cap_cents", "got '8000'"),
    ({**SIMPLE, "min_cents": 2000, "max_cents": 1000}, "tariff.min_cents", "max_cents"),
    ({**SIMPLE, "min_cents": 9000}, "tariff.min_cents", "daily_cap_cents"),
    ({"unit_minutes": 60, "cents_per_unit": 1000}, "tariff.free_minutes", "is required"),
    ({"free_minutes": 15, "cents_per_unit": 1000}, "tariff.unit_minutes", "is required"),
    ({**SIMPLE, "utc_offset_minutes": 480}, "tariff.utc_offset_minutes", "only with periods"),
    ({**DAY_NIGHT, "unit_minutes": 60}, "tariff.unit_minutes", "not both"),
    ({**DAY_NIGHT, "utc_offset_minutes": None}, "tariff.utc_offset_minutes", "is required with periods"),
    ({**DAY_NIGHT, "utc_offset_minutes": 900}, "tariff.utc_offset_minutes", "from -720 to 840"),
    ({**TIMED, "periods": []}, "tariff.periods", "non-empty list"),
    ({**TIMED, "periods": _periods(("00:00", "13:00"), ("12:00", "00:00"))}, "tariff.periods", "0 and 1 both cover"),
    ({**TIMED, "periods": _periods(("00:00", "12:00"), ("13:00", "24:00"))}, "tariff.periods", "no period covers"),
    ({**TIMED, "periods": _periods(("08:00", "08:00"))}, "tariff.periods[0]", "same time"),
    ({**TIMED, "periods": _periods(("8:00", "24:00"))}, "tariff.periods[0].start", "HH:MM"),
    ({**TIMED, "periods": _periods(("24:00", "08:00"))}, "tariff.periods[0].start", "00:00 to 23:59"),
    ({**TIMED, "periods": _periods(("00:00", "25:00"))}, "tariff.periods[0].end", "00:00 to 24:00"),
    ({**TIMED, "periods": [*_periods(("00:00", "12:00")), {"start": "12:00", "end": "00:00", "unit_minutes": 60,
                                                            "cents_per_unit": 1, "cap": 5}]},
     "tariff.periods[1]", "valid keys: start, end, unit_minutes, cents_per_unit"),
    ({**TIMED, "periods": [{"start": "00:00", "end": "24:00", "unit_minutes": 0, "cents_per_unit": 1}]},
     "tariff.periods[0].unit_minutes", "from 1 to 1440"),
])
def test_bad_tariffs_name_the_field_and_say_why(tariff, field, match):
    with pytest.raises(InvalidInputError, match=match) as exc:
        Tariff.from_dict(tariff)
    assert exc.value.field == field


@pytest.mark.parametrize("entered_at,exited_at,discount,field", [
    (datetime(2024, 5, 1, 10), T0 + H, 0, "entered_at"),
    (T0, datetime(2024, 5, 1, 12), 0, "captured_at"),
    (T0, T0 - timedelta(seconds=1), 0, "captured_at"),
    (T0, T0 + H, -1, "free_minutes"),
    (T0, T0 + H, True, "free_minutes"),
])
def test_bad_sessions_name_the_field(entered_at, exited_at, discount, field):
    with pytest.raises(InvalidInputError) as exc:
        price_session(Tariff.from_dict(SIMPLE), entered_at, exited_at, discount)
    assert exc.value.field == field


def test_an_exit_in_another_zone_compares_by_instant():
    exited_at = datetime(2024, 5, 1, 3, 1, tzinfo=timezone.utc)  # 11:01 +08: 61 minutes after T0
    assert price_session(Tariff.from_dict(SIMPLE), T0, exited_at) == 2000
