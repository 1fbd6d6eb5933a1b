"""Offers: live campaigns in reach of a point, ranked. Pure: takes matches and campaigns, returns offers."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping, NamedTuple, Sequence

from district_engine.campaigns.model import Audience, Campaign, CampaignState

__all__ = ["Offer", "rank_offers", "member_campaigns"]


class Offer(NamedTuple):
    campaign: Campaign
    distance_m: float


def rank_offers(matches: Iterable[tuple[str, float]], campaigns_by_district: Mapping[str, Sequence[Campaign]],
                now: datetime, limit: int | None = None) -> list[Offer]:
    """Live campaigns for everyone in reach whose district is within the campaign's own radius,
    nearest first (a members-only campaign is never offered by place: ``member_campaigns``).

    ``matches`` are (district_id, distance_m) from the reach index (which uses the largest radius);
    a campaign with a smaller radius drops out here. Ties keep the order of ``ends_at`` (ending
    soonest first), then campaign id, so answers are stable.
    """
    offers = [
        Offer(c, d)
        for district_id, d in matches
        for c in campaigns_by_district.get(district_id, ())
        if d <= c.radius_m and c.audience is None and c.state(now) is CampaignState.LIVE
    ]
    offers.sort(key=lambda o: (o.distance_m, o.campaign.ends_at, o.campaign.id))
    return offers[:limit] if limit is not None else offers


def member_campaigns(guide_districts: Mapping[str, str], campaigns: Iterable[Campaign], now: datetime) -> list[Campaign]:
    """The live members-only campaigns one member is offered, wherever the member is: each
    operator's campaigns of the district (store) of the member's guide with that operator.
    ``guide_districts``: operator id -> that district. Ending soonest first, then by id."""
    found = [c for c in campaigns
             if c.audience is Audience.MEMBERS and guide_districts.get(c.owner) == c.district_id
             and c.state(now) is CampaignState.LIVE]
    return sorted(found, key=lambda c: (c.ends_at, c.id))
