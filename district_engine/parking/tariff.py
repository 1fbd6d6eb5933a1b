"""Parking tariffs (pure): what a stay costs, in integer cents, from its entry and exit times.

The simple form, ``{"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000, "daily_cap_cents": 8000}``:

- A stay of at most ``free_minutes`` is free. A longer stay pays for all of its minutes: the free minutes are a
  grace period, not a deduction, so 16 minutes cost one unit and 61 minutes two.
- Every started unit of ``unit_minutes`` costs ``cents_per_unit``.
- The stay is cut into 24-hour windows from the entry. Units start again at each window, and each window costs at
  most ``daily_cap_cents``, the last (shorter) one too: 25 hours cost the cap plus one unit. Leaving out
  ``daily_cap_cents`` (or giving None) means no cap.

The time-of-day form, in the spirit of the APDS RateTable, gives ``periods`` instead of ``unit_minutes`` and
``cents_per_unit``, for example ``[{"start": "08:00", "end": "20:00", "unit_minutes": 30, "cents_per_unit": 500},
{"start": "20:00", "end": "08:00", "unit_minutes": 60, "cents_per_unit": 200}]``. The periods use the local clock at
``utc_offset_minutes``, which is required with periods (480 for China, which has no daylight saving). Together they
cover the day exactly once. An end before the start runs past midnight, and an end of ``24:00`` or ``00:00`` means
midnight. Each unit is priced by the period it starts in and runs its full length, even into the next period. The
grace period and the daily cap work as in the simple form.

Either form may add ``min_cents`` (the least a paying stay costs) and ``max_cents`` (the most any stay costs).

``price_session`` counts a started minute as a whole one, so 15 min 1 s is 16 minutes. Its ``free_minutes``
discount (campaigns and merchant validations) comes off the end of the stay: the billable minutes run from the
entry, and the rules above apply to them, grace period included. Taking the discount off the end is why a
discount can never raise a fee, even with periods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from district_engine.errors import InvalidInputError

__all__ = ["Tariff", "Period", "price_session", "stay_minutes", "DAY_MINUTES"]

DAY_MINUTES = 24 * 60
_KEYS = ("free_minutes", "unit_minutes", "cents_per_unit", "daily_cap_cents", "periods", "utc_offset_minutes",
         "min_cents", "max_cents")
_PERIOD_KEYS = ("start", "end", "unit_minutes", "cents_per_unit")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00")
_MINUTE = timedelta(minutes=1)


def _int(value: object, field: str, minimum: int = 0, maximum: int | None = None) -> int:
    if value is None:
        raise InvalidInputError("is required", field=field)
    # bool is an int subclass, but True minutes is a bug, not a value.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum or (maximum is not None and value > maximum):
        bounds = f"an integer from {minimum} to {maximum}" if maximum is not None else "a non-negative integer"
        raise InvalidInputError(f"must be {bounds}, got {value!r}", field=field)
    return value


def _check_keys(d: object, valid: tuple[str, ...], field: str) -> None:
    if not isinstance(d, dict):
        raise InvalidInputError(f"must be an object, got {type(d).__name__}", field=field)
    unknown = sorted(set(d) - set(valid), key=str)
    if unknown:
        raise InvalidInputError(f"unknown key {unknown[0]!r}; valid keys: {', '.join(valid)}", field=field)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _parse_clock(text: object, field: str, end: bool) -> int:
    match = _CLOCK.fullmatch(text) if isinstance(text, str) else None
    if match is None or (text == "24:00" and not end):
        last = "24:00" if end else "23:59"
        raise InvalidInputError(f"must be a time HH:MM from 00:00 to {last}, got {text!r}", field=field)
    minute = DAY_MINUTES if text == "24:00" else int(match[1]) * 60 + int(match[2])
    return (minute or DAY_MINUTES) if end else minute  # an end of 00:00 is midnight, the end of the day


@dataclass(frozen=True)
class Period:
    """Units starting from ``start_minute`` up to ``end_minute`` (minutes of the local day, end exclusive, 1440 is
    midnight; an end before the start runs past midnight) cost ``cents_per_unit`` each and last ``unit_minutes``."""

    start_minute: int
    end_minute: int
    unit_minutes: int
    cents_per_unit: int

    def minutes_left(self, minute_of_day: int) -> int:
        """Minutes from ``minute_of_day``, which this period covers, to its end."""
        return (self.end_minute - minute_of_day) % DAY_MINUTES or DAY_MINUTES


def _cover_day(periods: tuple[Period, ...]) -> tuple[Period, ...]:
    """The period covering each minute of the day; raises unless the periods cover every minute exactly once."""
    by_minute: list[Period | None] = [None] * DAY_MINUTES
    owner = [0] * DAY_MINUTES
    for i, period in enumerate(periods):
        name = f"tariff.periods[{i}]"
        if not isinstance(period, Period):
            raise InvalidInputError(f"must be a Period, got {type(period).__name__}", field=name)
        start = _int(period.start_minute, f"{name}.start", 0, DAY_MINUTES - 1)
        end = _int(period.end_minute, f"{name}.end", 1, DAY_MINUTES)
        _int(period.unit_minutes, f"{name}.unit_minutes", 1, DAY_MINUTES)
        _int(period.cents_per_unit, f"{name}.cents_per_unit")
        if start == end:
            raise InvalidInputError("start and end are the same time; 00:00 to 24:00 is the whole day", field=name)
        for m in range((end - start) % DAY_MINUTES or DAY_MINUTES):
            minute = (start + m) % DAY_MINUTES
            if by_minute[minute] is not None:
                raise InvalidInputError(f"periods {owner[minute]} and {i} both cover {_clock(minute)}",
                                        field="tariff.periods")
            by_minute[minute], owner[minute] = period, i
    if None in by_minute:
        gap = by_minute.index(None)
        raise InvalidInputError(f"no period covers {_clock(gap)}; the periods must cover the whole day",
                                field="tariff.periods")
    return tuple(p for p in by_minute if p is not None)  # every minute has its period, as checked above


@dataclass(frozen=True)
class Tariff:
    """A car park's prices (see the module docstring); validated on construction, so every Tariff can price."""

    free_minutes: int
    unit_minutes: int | None = None
    cents_per_unit: int | None = None
    daily_cap_cents: int | None = None
    periods: tuple[Period, ...] = ()
    utc_offset_minutes: int | None = None
    min_cents: int | None = None
    max_cents: int | None = None
    _by_minute: tuple[Period, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _int(self.free_minutes, "tariff.free_minutes")
        for name in ("daily_cap_cents", "min_cents", "max_cents"):
            if getattr(self, name) is not None:
                _int(getattr(self, name), f"tariff.{name}")
        if self.periods:
            for name in ("unit_minutes", "cents_per_unit"):
                if getattr(self, name) is not None:
                    raise InvalidInputError("give unit_minutes and cents_per_unit, or periods, not both",
                                            field=f"tariff.{name}")
            if self.utc_offset_minutes is None:
                raise InvalidInputError("is required with periods: the clock they use, e.g. 480 for China",
                                        field="tariff.utc_offset_minutes")
            _int(self.utc_offset_minutes, "tariff.utc_offset_minutes", -12 * 60, 14 * 60)
            object.__setattr__(self, "periods", tuple(self.periods))
            by_minute = _cover_day(self.periods)
        else:
            unit_minutes = _int(self.unit_minutes, "tariff.unit_minutes", 1, DAY_MINUTES)
            cents_per_unit = _int(self.cents_per_unit, "tariff.cents_per_unit")
            if self.utc_offset_minutes is not None:
                raise InvalidInputError("applies only with periods", field="tariff.utc_offset_minutes")
            by_minute = (Period(0, DAY_MINUTES, unit_minutes, cents_per_unit),) * DAY_MINUTES
        if self.min_cents is not None and self.max_cents is not None and self.min_cents > self.max_cents:
            raise InvalidInputError(f"must not exceed max_cents ({self.max_cents}), got {self.min_cents}",
                                    field="tariff.min_cents")
        # Otherwise a one-day stay could cost more than the daily cap.
        if self.min_cents is not None and self.daily_cap_cents is not None and self.min_cents > self.daily_cap_cents:
            raise InvalidInputError(f"must not exceed daily_cap_cents ({self.daily_cap_cents}), got {self.min_cents}",
                                    field="tariff.min_cents")
        object.__setattr__(self, "_by_minute", by_minute)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tariff:
        """Parse the JSON form (see the module docstring); raises InvalidInputError naming ``tariff.<key>``."""
        _check_keys(d, _KEYS, "tariff")
        periods = d.get("periods")
        if periods is not None:
            if not isinstance(periods, list) or not periods:
                raise InvalidInputError("must be a non-empty list of periods", field="tariff.periods")
            parsed: list[Period] = []
            for i, p in enumerate(periods):
                name = f"tariff.periods[{i}]"
                _check_keys(p, _PERIOD_KEYS, name)
                parsed.append(Period(_parse_clock(p.get("start"), f"{name}.start", end=False),
                                     _parse_clock(p.get("end"), f"{name}.end", end=True),
                                     _int(p.get("unit_minutes"), f"{name}.unit_minutes", 1, DAY_MINUTES),
                                     _int(p.get("cents_per_unit"), f"{name}.cents_per_unit")))
            periods = tuple(parsed)
        # A missing free_minutes (None) is refused by __post_init__, which names the field.
        return cls(free_minutes=d.get("free_minutes"),  # type: ignore[arg-type]
                   unit_minutes=d.get("unit_minutes"),
                   cents_per_unit=d.get("cents_per_unit"), daily_cap_cents=d.get("daily_cap_cents"),
                   periods=periods or (), utc_offset_minutes=d.get("utc_offset_minutes"),
                   min_cents=d.get("min_cents"), max_cents=d.get("max_cents"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``Tariff.from_dict(t.to_dict()) == t``. Keys that are None are left out."""
        d: dict[str, Any] = {"free_minutes": self.free_minutes}
        if self.periods:
            d["periods"] = [{"start": _clock(p.start_minute), "end": _clock(p.end_minute),
                             "unit_minutes": p.unit_minutes, "cents_per_unit": p.cents_per_unit} for p in self.periods]
            d["utc_offset_minutes"] = self.utc_offset_minutes
        else:
            d |= {"unit_minutes": self.unit_minutes, "cents_per_unit": self.cents_per_unit}
        for name in ("daily_cap_cents", "min_cents", "max_cents"):
            if getattr(self, name) is not None:
                d[name] = getattr(self, name)
        return d

    def _window_cents(self, first_minute: int, minutes: int) -> int:
        """Units starting within ``minutes`` from ``first_minute`` (minute of the local day), uncapped."""
        cents = t = 0
        while t < minutes:
            minute = (first_minute + t) % DAY_MINUTES
            period = self._by_minute[minute]
            segment_minutes = min(minutes - t, period.minutes_left(minute))
            units = -(-segment_minutes // period.unit_minutes)  # every unit that starts in this period
            cents += units * period.cents_per_unit
            t += units * period.unit_minutes  # the last unit may run into the next period: it still costs this one
        return cents

    def _capped(self, cents: int) -> int:
        return cents if self.daily_cap_cents is None else min(cents, self.daily_cap_cents)

    def stay_cents(self, minutes: int, first_minute: int = 0) -> int:
        """What ``minutes`` billable minutes cost from ``first_minute`` of the local day (which only periods use)."""
        if minutes <= self.free_minutes:
            return 0
        full_days, rest_minutes = divmod(minutes, DAY_MINUTES)
        # Every full window starts at the entry's time of day (the offset is fixed), so all of them cost the same.
        cents = full_days * self._capped(self._window_cents(first_minute, DAY_MINUTES)) if full_days else 0
        cents += self._capped(self._window_cents(first_minute, rest_minutes))
        if self.min_cents is not None:
            cents = max(cents, self.min_cents)
        if self.max_cents is not None:
            cents = min(cents, self.max_cents)
        return cents


def _aware(value: object, field: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInputError(f"must be a timezone-aware datetime, got {value!r}", field=field)
    return value


def stay_minutes(entered_at: datetime, exited_at: datetime) -> int:
    """Minutes from entry to exit, a started minute counting as a whole one; both times timezone-aware.

    ``exited_at`` is the exit camera's ``captured_at``, hence the field its errors name.
    """
    _aware(entered_at, "entered_at")
    _aware(exited_at, "captured_at")
    if exited_at < entered_at:
        raise InvalidInputError(f"exit {exited_at.isoformat()} is before entry {entered_at.isoformat()}",
                                field="captured_at")
    return -((entered_at - exited_at) // _MINUTE)


def price_session(tariff: Tariff, entered_at: datetime, exited_at: datetime, free_minutes: int = 0) -> int:
    """The fee in cents for a stay from ``entered_at`` to ``exited_at`` (timezone-aware).

    ``free_minutes`` is the discount the caller has summed (campaigns, merchant validations): the billable minutes
    are ``max(0, stay - free_minutes)``, counted from the entry, and the tariff prices those.
    """
    minutes = stay_minutes(entered_at, exited_at)
    billable_minutes = max(0, minutes - _int(free_minutes, "free_minutes"))
    local = entered_at.astimezone(timezone(timedelta(minutes=tariff.utc_offset_minutes or 0)))
    return tariff.stay_cents(billable_minutes, local.hour * 60 + local.minute)
