"""Offers: live campaigns in reach of a point, ranked. Pure: takes matches and campaigns, returns offers."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping, NamedTuple, Sequence

from district_engine.campaigns.model import Campaign, CampaignState

__all__ = ["Offer", "rank_offers"]


class Offer(NamedTuple):
    campaign: Campaign
    distance_m: float


def rank_offers(matches: Iterable[tuple[str, float]], campaigns_by_district: Mapping[str, Sequence[Campaign]],
                now: datetime, limit: int | None = None) -> list[Offer]:
    """Live campaigns whose district is within the campaign's own radius, nearest first.

    ``matches`` are (district_id, distance_m) from the reach index (which uses the largest radius);
    a campaign with a smaller radius drops out here. Ties keep the order of ``ends_at`` (ending
    soonest first), then campaign id, so answers are stable.
    """
    offers = [
        Offer(c, d)
        for district_id, d in matches
        for c in campaigns_by_district.get(district_id, ())
        if d <= c.radius_m and c.state(now) is CampaignState.LIVE
    ]
    offers.sort(key=lambda o: (o.distance_m, o.campaign.ends_at, o.campaign.id))
    return offers[:limit] if limit is not None else offers
