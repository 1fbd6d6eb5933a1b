"""Campaigns: model, schedule states and the offer rules (pure)."""

from district_engine.campaigns.model import Campaign, CampaignKind, CampaignState, campaign_state
from district_engine.campaigns.offers import Offer, rank_offers

__all__ = ["Campaign", "CampaignKind", "CampaignState", "campaign_state", "Offer", "rank_offers"]
