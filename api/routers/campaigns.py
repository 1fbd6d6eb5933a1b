from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.auth import OperatorDep
from api.deps import EngineDep, GuidesDep
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
from district_engine.campaigns.model import Campaign

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], responses=error_responses(401, 403, 404, 413, 422, 503))


def public(c: Campaign, engine) -> CampaignPublic:
    return CampaignPublic(id=c.id, district_id=c.district_id, kind=c.kind.value, title=c.title, body=c.body,
                          starts_at=c.starts_at, ends_at=c.ends_at, ended_at=c.ended_at, radius_m=c.radius_m,
                          audience=c.audience, max_pushes_per_user=c.max_pushes_per_user,
                          attribution_days=c.attribution_days,
                          state=c.state(engine.clock()).value, rain=c.rain, parking=c.parking)


@router.post("", status_code=201, response_model=CampaignPublic, summary="Create a campaign for one of your districts")
@idempotent
def create_campaign(body: CampaignCreate, engine: EngineDep, operator: OperatorDep) -> CampaignPublic:
    return public(engine.create_campaign(operator, **body.model_dump()), engine)


@router.get("", response_model=CampaignList, summary="Your campaigns, optionally by district and state")
def list_campaigns(engine: EngineDep, operator: OperatorDep, district_id: str | None = None,
                   state: Annotated[State | None, Query()] = None) -> CampaignList:
    now = engine.clock()
    found = [c for c in engine.campaigns.of_operator(operator)
             if (district_id is None or c.district_id == district_id) and (state is None or c.state(now).value == state)]
    return CampaignList(campaigns=[public(c, engine) for c in found])


@router.get("/{campaign_id}", response_model=CampaignPublic)
def get_campaign(campaign_id: str, engine: EngineDep, operator: OperatorDep) -> CampaignPublic:
    return public(engine.campaigns.get(campaign_id, owner=operator), engine)


@router.patch("/{campaign_id}", response_model=CampaignPublic, summary="Change a campaign (POST .../end ends it now)")
def patch_campaign(campaign_id: str, body: CampaignPatch, engine: EngineDep, operator: OperatorDep) -> CampaignPublic:
    return public(engine.update_campaign(campaign_id, operator, **body.model_dump(exclude_unset=True)), engine)


@router.post("/{campaign_id}/end", response_model=CampaignPublic,
             summary="End a campaign now, live or scheduled (a rain refunds what is left); idempotent")
def end_campaign(campaign_id: str, engine: EngineDep, operator: OperatorDep) -> CampaignPublic:
    return public(engine.end_campaign(campaign_id, operator), engine)


@router.delete("/{campaign_id}", status_code=204)
def delete_campaign(campaign_id: str, engine: EngineDep, operator: OperatorDep) -> Response:
    engine.delete_campaign(campaign_id, operator)
    return Response(status_code=204)


@router.get("/{campaign_id}/stats", response_model=CampaignStats,
            summary="Offers delivered and users reached (exact), and the orders the campaign converted")
def campaign_stats(campaign_id: str, engine: EngineDep, guides: GuidesDep, operator: OperatorDep) -> CampaignStats:
    engine.campaigns.get(campaign_id, owner=operator)
    n = engine.deliveries.counts(campaign_id)
    conversions, revenue_cents = guides.campaign_conversions(operator, campaign_id)
    return CampaignStats(campaign_id=campaign_id, offers_delivered=n.delivered, unique_users=n.users, pushed=n.pushed,
                         capped=n.capped, conversions=conversions, revenue_cents=revenue_cents)
