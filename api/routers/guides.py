"""Exclusive guides (operators): guides of your stores, the members they serve, the orders your
systems report and their refunds, commission reports (docs/guides.md)."""

from datetime import datetime, timezone

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.auth import OperatorDep
from api.deps import GuidesDep
from api.errors import error_body
from api.idempotency import idempotent
from api.fastpath import direct
from api.schemas.core import Instant, error_responses, json_body
from api.schemas.guides import (ChannelFiguresOut, CommissionReportOut, GuideCreate, GuideDeactivate, GuideList,
                                GuidePatch, GuidePublic, MemberPage, MemberPublic, OrderIn, OrderOut, RefundIn,
                                RefundOut, ServiceIn, ServiceOut)
from district_engine.guides import Guide, NewOrder
from district_engine.identity import Kind, Principal
from district_engine.identity.service import ORDERS

router = APIRouter(prefix="/v1/guides", tags=["guides"], responses=error_responses(401, 403, 404, 413, 422, 503))
orders = APIRouter(prefix="/v1/orders", tags=["orders"], responses=error_responses(401, 403, 404, 409, 413, 422, 503))

Limit = Query(default=100, ge=1, le=1000, description="at most this many, 1..1000")


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc)


def public(g: Guide) -> GuidePublic:
    return GuidePublic(id=g.id, district_id=g.district_id, name=g.name, commission_bps=g.commission_bps,
                       active=g.active, created_at=_at(g.created_ms), deactivated_at=_at(g.deactivated_ms),
                       transfer_to=g.transfer_to)


@router.post("", status_code=201, response_model=GuidePublic, summary="A guide of one of your stores (districts)")
@idempotent
def create_guide(body: GuideCreate, guides: GuidesDep, operator: OperatorDep) -> GuidePublic:
    return public(guides.create_guide(operator, body.district_id, body.name, body.commission_bps))


@router.get("", response_model=GuideList, summary="Your guides by id, optionally of one district; paged")
def list_guides(guides: GuidesDep, operator: OperatorDep, district_id: str | None = None, limit: int = Limit,
                cursor: str | None = None) -> GuideList:
    found, next_cursor = guides.list_guides(operator, district_id, cursor, limit)
    return GuideList(guides=[public(g) for g in found], next_cursor=next_cursor)


@router.get("/{guide_id}", response_model=GuidePublic)
def get_guide(guide_id: str, guides: GuidesDep, operator: OperatorDep) -> GuidePublic:
    return public(guides.guide(guide_id, operator))


@router.patch("/{guide_id}", response_model=GuidePublic, responses=error_responses(409),
              summary="Rename a guide or change its rate (for orders recorded from now on); 409 once it left")
def patch_guide(guide_id: str, body: GuidePatch, guides: GuidesDep, operator: OperatorDep) -> GuidePublic:
    return public(guides.update_guide(guide_id, operator, body.name, body.commission_bps))


@router.post("/{guide_id}:deactivate", response_model=GuidePublic,
             responses={409: {"description": "guide_inactive: transfer_to left too, or this guide left already "
                                             "with its members going to another guide"}},
             summary="A guide leaves: its members go to transfer_to, it keeps its history and commissions; "
                     "sent again, it answers the same")
def deactivate_guide(guide_id: str, body: GuideDeactivate, guides: GuidesDep, operator: OperatorDep) -> GuidePublic:
    return public(guides.deactivate(guide_id, operator, body.transfer_to))


@router.post("/{guide_id}/members", response_model=ServiceOut,
             responses={409: {"description": "member_bound: another guide holds the member (its `guide_id` is in "
                                             "the body); guide_inactive: this guide left"}},
             summary="Record a service: the channel's user becomes (or stays) this guide's member")
def record_service(guide_id: str, body: ServiceIn, guides: GuidesDep, operator: OperatorDep):
    m = guides.record_service(guide_id, operator, body.channel_id, body.user_id, body.served_at)
    if m.outcome == "held":
        return JSONResponse({"guide_id": m.guide_id} | error_body(
            "member_bound", f"the member is guide {m.guide_id}'s, served by it within the binding window",
            "user_id"), status_code=409)
    return ServiceOut(guide_id=m.guide_id, channel_id=m.channel_id, user_id=m.user_id, outcome=m.outcome,
                      bound_at=_at(m.bound_ms), last_served_at=_at(m.served_ms))


@router.get("/{guide_id}/members", response_model=MemberPage, summary="The guide's members now, paged")
def list_members(guide_id: str, guides: GuidesDep, operator: OperatorDep, limit: int = Limit,
                 cursor: str | None = None) -> MemberPage:
    found, next_cursor = guides.members(guide_id, operator, cursor, limit)
    return MemberPage(members=[MemberPublic(channel_id=m.channel_id, user_id=m.user_id, bound_at=_at(m.bound_ms),
                                            last_served_at=_at(m.served_ms)) for m in found], next_cursor=next_cursor)


@router.get("/{guide_id}/commissions", response_model=CommissionReportOut,
            summary="The guide's orders of [from, to), net of refunds, in all and by sales channel")
def commissions(guide_id: str, guides: GuidesDep, operator: OperatorDep,
                from_: Instant | None = Query(default=None, alias="from", description=(
                    "default: 30 days before `to`")),
                to: Instant | None = Query(default=None, description="default: now; at most 366 days after "
                                                 "`from`")) -> CommissionReportOut:
    r = guides.commissions(guide_id, operator, from_, to)
    return CommissionReportOut(guide_id=r.guide_id, from_=_at(r.from_ms), to=_at(r.to_ms), orders=r.orders,
                               revenue_cents=r.revenue_cents, commission_cents=r.commission_cents,
                               by_sales_channel={sc: ChannelFiguresOut(**f._asdict())
                                                 for sc, f in r.by_sales_channel.items()})


@orders.post("", status_code=201, response_model=OrderOut, openapi_extra=json_body(OrderIn),
             responses={409: {"description": "order_conflict: this order_id was recorded with another body"}},
             summary="Report an order: attributed to the member's guide at its time and to the campaign it "
                     "converts; the same order again answers the same")
# async, and batched with the other orders of the same turn of the loop (api/batching.py): a few
# round trips for all of them, on a Redis thread (api/offload.py). A fast route (api/fastpath.py),
# counted against the operator's orders budget, not its calls'.
@direct(OrderIn, Kind.OPERATOR, budget=ORDERS)
async def record_order(request: Request, operator: Principal, body: OrderIn) -> Response:
    o = await request.app.state.order_batcher.record(operator.id, NewOrder(
        body.order_id, body.channel_id, body.user_id, body.amount_cents, body.sales_channel, body.at,
        body.district_id))
    answer = OrderOut(order_id=o.order_id, guide_id=o.guide_id, commission_cents=o.commission_cents,
                      campaign_id=o.campaign_id)
    return Response(answer.model_dump_json(), status_code=201, media_type="application/json")


@orders.post("/{order_id}/refunds", status_code=201, response_model=RefundOut,
             responses={409: {"description": "refund_conflict: this refund_id was recorded with another body"}},
             summary="Refund part or all of an order: its commission is reversed in proportion; the same refund "
                     "again answers the same")
def refund_order(order_id: str, body: RefundIn, guides: GuidesDep, operator: OperatorDep) -> RefundOut:
    r = guides.refund(operator, order_id, body.refund_id, body.amount_cents)
    return RefundOut(refund_id=r.refund_id, order_id=order_id, amount_cents=r.record.amount_cents,
                     commission_reversed_cents=r.record.reversal_cents,
                     order_refunded_cents=r.record.order_refunded_cents,
                     order_commission_cents=r.record.order_commission_cents)
