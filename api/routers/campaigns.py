from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.auth import OperatorDep
from api.deps import CampaignsDep
from api.idempotency import idempotent
from api.schemas.core import (
    CampaignCreate,
    CampaignList,
    CampaignPatch,
    CampaignPublic,
    CampaignStats,
    State,
    error_responses,
)
from district_engine.campaigns.model import Campaign, CampaignState
from district_engine.campaigns.service import Campaigns

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], responses=error_responses(401, 403, 404, 413, 422, 503))


def public(c: Campaign, campaigns: Campaigns) -> CampaignPublic:
    return CampaignPublic(id=c.id, district_id=c.district_id, kind=c.kind.value, title=c.title, body=c.body,
                          starts_at=c.starts_at, ends_at=c.ends_at, ended_at=c.ended_at, radius_m=c.radius_m,
                          audience=c.audience, max_pushes_per_user=c.max_pushes_per_user,
                          attribution_days=c.attribution_days,
                          state=c.state(campaigns.clock()).value, rain=c.rain, parking=c.parking)


@router.post("", status_code=201, response_model=CampaignPublic, summary="Create a campaign for one of your districts")
@idempotent
def create_campaign(body: CampaignCreate, campaigns: CampaignsDep, operator: OperatorDep) -> CampaignPublic:
    return public(campaigns.create(operator, **body.model_dump()), campaigns)


@router.get("", response_model=CampaignList, summary="Your campaigns, optionally by district and state")
def list_campaigns(campaigns: CampaignsDep, operator: OperatorDep, district_id: str | None = None,
                   state: Annotated[State | None, Query()] = None) -> CampaignList:
    found = campaigns.of_operator(operator, district_id, CampaignState(state) if state is not None else None)
    return CampaignList(campaigns=[public(c, campaigns) for c in found])


@router.get("/{campaign_id}", response_model=CampaignPublic)
def get_campaign(campaign_id: str, campaigns: CampaignsDep, operator: OperatorDep) -> CampaignPublic:
    return public(campaigns.get(campaign_id, operator), campaigns)


@router.patch("/{campaign_id}", response_model=CampaignPublic, summary="Change a campaign (POST .../end ends it now)")
def patch_campaign(campaign_id: str, body: CampaignPatch, campaigns: CampaignsDep,
                   operator: OperatorDep) -> CampaignPublic:
    return public(campaigns.update(campaign_id, operator, **body.model_dump(exclude_unset=True)), campaigns)


@router.post("/{campaign_id}/end", response_model=CampaignPublic,
             summary="End a campaign now, live or scheduled (a rain refunds what is left); idempotent")
def end_campaign(campaign_id: str, campaigns: CampaignsDep, operator: OperatorDep) -> CampaignPublic:
    return public(campaigns.end(campaign_id, operator), campaigns)


@router.delete("/{campaign_id}", status_code=204)
def delete_campaign(campaign_id: str, campaigns: CampaignsDep, operator: OperatorDep) -> Response:
    campaigns.delete(campaign_id, operator)
    return Response(status_code=204)


@router.get("/{campaign_id}/stats", response_model=CampaignStats,
            summary="Offers delivered and users reached (exact), and the orders the campaign converted")
def campaign_stats(campaign_id: str, campaigns: CampaignsDep, operator: OperatorDep) -> CampaignStats:
    n = campaigns.stats(campaign_id, operator)
    return CampaignStats(campaign_id=campaign_id, offers_delivered=n.delivered, unique_users=n.users, pushed=n.pushed,
                         capped=n.capped, conversions=n.conversions, revenue_cents=n.revenue_cents)
