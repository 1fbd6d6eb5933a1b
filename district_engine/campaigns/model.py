"""Campaigns: what an operator broadcasts around a district, and the pure rules about them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from district_engine.errors import InvalidInputError
from district_engine.validation import check_int, check_text
from district_engine.geo.points import MAX_RADIUS_M
from district_engine.redenvelope.split import SPLITS, check_pool

__all__ = ["Campaign", "CampaignKind", "CampaignState", "Audience", "campaign_state", "MAX_WINDOW",
           "MAX_ATTRIBUTION_DAYS"]

MAX_WINDOW = timedelta(days=366)
MAX_RAIN_WINDOW = timedelta(hours=24)
MAX_ATTRIBUTION_DAYS = 90
_TEXT_LIMITS = {"title": 200, "body": 4000}


class CampaignKind(StrEnum):
    CAMPAIGN = "campaign"
    RED_ENVELOPE = "red_envelope"
    PARKING = "parking"


class Audience(StrEnum):
    """Who a campaign reaches. None (the default): every user within its radius. ``members``: the
    members of its store's guides wherever they are, and nobody else (district_engine/guides)."""

    MEMBERS = "members"


class CampaignState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


@dataclass(frozen=True)
class Campaign:
    """A campaign of one operator's district. Times are timezone-aware; ``ended_at`` ends it early."""

    id: str
    owner: str
    district_id: str
    kind: CampaignKind
    title: str
    body: str
    starts_at: datetime
    ends_at: datetime
    radius_m: float = MAX_RADIUS_M
    audience: Audience | None = None
    max_pushes_per_user: int = 1
    attribution_days: int = 7  # an order this many days after the offer was given counts as its conversion
    ended_at: datetime | None = None
    rain: dict[str, Any] | None = None  # red_envelope only: total_cents, packets, min_cents, split, per_user_limit
    parking: dict[str, Any] | None = None  # parking only: lot_id (None: every lot of the district), free_minutes

    def __post_init__(self) -> None:
        for name, limit in _TEXT_LIMITS.items():
            value = check_text(getattr(self, name), name, limit, multiline=name == "body")
            if not value.strip():
                raise InvalidInputError(f"must be a non-empty string of at most {limit} characters", field=name)
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise InvalidInputError("must be an RFC 3339 time with a UTC offset", field=name)
        if self.ends_at <= self.starts_at:
            raise InvalidInputError("must be after starts_at", field="ends_at")
        if self.ends_at - self.starts_at > MAX_WINDOW:
            raise InvalidInputError(f"a campaign runs at most {MAX_WINDOW.days} days", field="ends_at")
        if isinstance(self.radius_m, bool) or not isinstance(self.radius_m, (int, float)) or not (0 < self.radius_m <= MAX_RADIUS_M):
            raise InvalidInputError(f"must be > 0 and <= {MAX_RADIUS_M:g} metres, got {self.radius_m!r}", field="radius_m")
        check_int(self.max_pushes_per_user, "max_pushes_per_user", 1, 100)
        if self.kind not in CampaignKind.__members__.values():
            raise InvalidInputError(f"must be one of {', '.join(k.value for k in CampaignKind)}", field="kind")
        if self.audience is not None and self.audience not in Audience.__members__.values():
            raise InvalidInputError(f"must be null (everyone in reach) or one of {', '.join(Audience)}",
                                    field="audience")
        if self.audience is not None:
            object.__setattr__(self, "audience", Audience(self.audience))
            if self.kind != CampaignKind.CAMPAIGN:  # a rain's or a lot's money is for everyone there
                raise InvalidInputError("only a campaign of kind campaign can be for members only", field="audience")
        check_int(self.attribution_days, "attribution_days", 1, MAX_ATTRIBUTION_DAYS)
        object.__setattr__(self, "kind", CampaignKind(self.kind))
        if self.kind is CampaignKind.RED_ENVELOPE:
            self._check_rain()
        elif self.rain is not None:
            raise InvalidInputError("only red_envelope campaigns take a cash pool", field="total_cents")
        if self.kind is CampaignKind.PARKING:
            self._check_parking()
        elif self.parking is not None:
            raise InvalidInputError("only parking campaigns take parking fields", field="free_minutes")

    def _check_parking(self) -> None:
        p = self.parking or {}
        lot_id, free = p.get("lot_id"), p.get("free_minutes", 0)
        if lot_id is not None and (not isinstance(lot_id, str) or not lot_id or len(lot_id) > 64):
            raise InvalidInputError("must be the id of one of the district's lots, or null", field="lot_id")
        check_int(free, "free_minutes", 0, 1440)
        object.__setattr__(self, "parking", {"lot_id": lot_id, "free_minutes": free})

    def _check_rain(self) -> None:
        rain = self.rain or {}
        if rain.get("total_cents") is None:
            raise InvalidInputError("a red_envelope campaign needs total_cents", field="total_cents")
        if rain.get("packets") is None:
            raise InvalidInputError("a red_envelope campaign needs packets", field="packets")
        total, packets, min_cents = check_pool(rain["total_cents"], rain["packets"], rain.get("min_cents", 1))
        split = rain.get("split", "double_mean")
        if split not in SPLITS:
            raise InvalidInputError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}", field="split")
        if self.ends_at - self.starts_at > MAX_RAIN_WINDOW:
            raise InvalidInputError("a red-envelope rain lasts at most 24 hours", field="ends_at")
        limit = rain.get("per_user_limit", 1)
        check_int(limit, "per_user_limit", 1, min(100, packets), " (and at most packets)")
        object.__setattr__(self, "rain", {"total_cents": total, "packets": packets, "min_cents": min_cents, "split": split,
                                          "per_user_limit": limit})

    def state(self, now: datetime) -> CampaignState:
        return campaign_state(self, now)

    def ended(self, at: datetime) -> Campaign:
        """This campaign ended early at ``at`` (a no-op if it already ended)."""
        return self if self.state(at) is CampaignState.ENDED else replace(self, ended_at=at)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("starts_at", "ends_at", "ended_at"):
            d[name] = d[name].isoformat() if d[name] else None
        d["kind"] = str(self.kind)
        d["audience"] = str(self.audience) if self.audience else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Campaign:
        times = {n: datetime.fromisoformat(d[n]) if d.get(n) else None for n in ("starts_at", "ends_at", "ended_at")}
        # Until audiences had a meaning the API took any label (its example was "members_only"):
        # such a campaign was, and stays, for everyone in reach.
        audience = d.get("audience") if d.get("audience") in Audience.__members__.values() else None
        return cls(**(d | times | {"audience": audience}))


def campaign_state(c: Campaign, now: datetime) -> CampaignState:
    """scheduled before starts_at, live until ends_at (or an early end), ended after."""
    end = min(c.ends_at, c.ended_at) if c.ended_at else c.ends_at
    if now >= end:
        return CampaignState.ENDED
    if now < c.starts_at:
        return CampaignState.SCHEDULED
    return CampaignState.LIVE
