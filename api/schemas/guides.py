"""Request and response bodies of exclusive guides: guides, the members they serve, orders and
refunds, commission reports (docs/guides.md). Money is integer cents, rates basis points; times are
RFC 3339 with an offset."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.schemas.core import Instant, Strict, bounds

SalesChannel = Literal["store", "cloud_store", "flagship"]
# An order's or a refund's id, as the brand's systems name it: it goes in URLs as it is.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:~-]{0,127}$"  # a path segment: never "." or ".."


class GuideCreate(Strict):
    district_id: str = Field(min_length=1, max_length=128, examples=["sanlitun-taikoo-li"],
                             description="the guide's store: one of your districts")
    name: str = Field(min_length=1, max_length=200, examples=["Li Na"])
    commission_bps: StrictInt = Field(json_schema_extra=bounds(0, 10_000),
                                      description="commission in basis points of each order's amount, 0..10,000",
                                      examples=[300])


class GuidePatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    commission_bps: StrictInt | None = Field(default=None, json_schema_extra=bounds(0, 10_000), description="0..10,000; applies to orders recorded from "
                                             "now on")


class GuideDeactivate(Strict):
    transfer_to: str = Field(min_length=1, max_length=128, examples=["gd_3f0c2a9e1b7d4c55"], description=(
        "another of your active guides: every member of this guide becomes that guide's"))


class GuidePublic(BaseModel):
    id: str
    district_id: str
    name: str
    commission_bps: int
    active: bool
    created_at: datetime
    deactivated_at: datetime | None = None
    transfer_to: str | None = Field(default=None, description="an inactive guide's successor, who took its members")


class GuideList(BaseModel):
    guides: list[GuidePublic]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null: no more")


class ServiceIn(Strict):
    channel_id: str = Field(min_length=1, max_length=128, examples=["ch_5d1c0e7f9a2b4c63"],
                            description="the channel whose user the member is")
    user_id: str = Field(min_length=1, max_length=128, examples=["u-10086"], description="the channel's user id")
    served_at: Instant = Field(description="when the guide served the member: at most 5 minutes ahead of the "
                                     "server clock, at most DE_GUIDE_BINDING_DAYS behind it",
                                     examples=["2026-11-11T15:30:00+08:00"])


class MemberPublic(BaseModel):
    channel_id: str
    user_id: str
    bound_at: datetime = Field(description="since when the member is this guide's")
    last_served_at: datetime = Field(description="the guide's latest service: the binding's age counts from it")


class ServiceOut(MemberPublic):
    guide_id: str
    outcome: Literal["bound", "renewed", "moved"] = Field(description=(
        "bound: the member had no guide; renewed: it was this guide's; moved: from another guide whose binding "
        "had lapsed (or who left)"))


class MemberPage(BaseModel):
    members: list[MemberPublic]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null: no more")


class OrderIn(Strict):
    order_id: str = Field(pattern=ID_PATTERN, examples=["SLT-20261111-000042"], description=(
        "your id of the order (1..128 of A-Z a-z 0-9 . _ : ~ -): the same order sent again is the same order"))
    channel_id: str = Field(min_length=1, max_length=128, examples=["ch_5d1c0e7f9a2b4c63"])
    user_id: str = Field(min_length=1, max_length=128, examples=["u-10086"])
    amount_cents: StrictInt = Field(ge=1, le=1_000_000_000, description="1..1,000,000,000", examples=[129_900])
    sales_channel: SalesChannel = Field(examples=["cloud_store"])
    district_id: str | None = Field(default=None, min_length=1, max_length=128, examples=["sanlitun-taikoo-li"],
                                    description="the store it was sold in, if any: one of your districts")
    at: Instant = Field(description="when it was sold: at most 5 minutes ahead of the server clock, at most "
                              "DE_ORDER_MAX_AGE_DAYS behind it", examples=["2026-11-11T20:15:00+08:00"])


class OrderOut(BaseModel):
    order_id: str
    guide_id: str | None = Field(description="the guide who held the member at the order's time (null: none)")
    commission_cents: int = Field(description="floor(amount_cents x the guide's commission_bps / 10,000)")
    campaign_id: str | None = Field(description="the campaign the order converts (null: none)")


class RefundIn(Strict):
    refund_id: str = Field(pattern=ID_PATTERN, examples=["RF-000042-1"], description=(
        "your id of the refund (as order ids): the same refund sent again is the same refund"))
    amount_cents: StrictInt = Field(ge=1, le=1_000_000_000, description="1..what remains of the order",
                                    examples=[40_000])


class RefundOut(BaseModel):
    refund_id: str
    order_id: str
    amount_cents: int
    commission_reversed_cents: int = Field(description="the commission this refund reversed")
    order_refunded_cents: int = Field(description="the order's refunds in all, this one included")
    order_commission_cents: int = Field(description="the order's commission net of every reversal so far")


class ChannelFiguresOut(BaseModel):
    orders: int = Field(description="orders not refunded in full")
    revenue_cents: int = Field(description="amounts less refunds")
    commission_cents: int = Field(description="commissions less reversals")


class CommissionReportOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    guide_id: str
    from_: datetime = Field(alias="from")
    to: datetime
    orders: int = Field(description="the guide's orders of [from, to) (by the order's time) not refunded in full")
    revenue_cents: int = Field(description="their amounts less every refund made so far")
    commission_cents: int = Field(description="their commissions less every reversal so far")
    by_sales_channel: dict[SalesChannel, ChannelFiguresOut]
