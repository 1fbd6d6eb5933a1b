"""Guides, orders and refunds as the store keeps them (one JSON record each), and what an order or
a refund answers. Pure: values in, values out."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from district_engine.errors import InvalidInputError
from district_engine.guides.rules import check_bps
from district_engine.validation import check_text

__all__ = ["Guide", "OrderRecord", "RefundRecord", "MAX_NAME_LEN", "MAX_ID_LEN"]

MAX_NAME_LEN = 200
MAX_ID_LEN = 128  # an order's or a refund's id, as the operator's systems name it


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # one, not one per record (json.dumps)


def _dump(obj) -> str:
    # The records are flat: their fields as they are (asdict's deep copy was a third of a batch's time).
    return _ENCODER.encode(vars(obj))


@dataclass(frozen=True)
class Guide:
    """A shopping guide of one operator's store (a district). An inactive guide (``deactivated_ms``)
    handed its members to ``transfer_to`` and takes no more; it keeps its history and commissions."""

    id: str
    owner: str
    district_id: str
    name: str
    commission_bps: int
    created_ms: int
    deactivated_ms: int | None = None
    transfer_to: str | None = None

    def __post_init__(self):
        name = check_text(self.name, "name", MAX_NAME_LEN)
        if not name.strip():
            raise InvalidInputError(f"must be a non-empty string of at most {MAX_NAME_LEN} characters", field="name")
        check_bps(self.commission_bps)

    @property
    def active(self) -> bool:
        return self.deactivated_ms is None

    def changed(self, name: str | None = None, commission_bps: int | None = None) -> Guide:
        return replace(self, name=self.name if name is None else name,
                       commission_bps=self.commission_bps if commission_bps is None else commission_bps)

    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, raw: str) -> Guide:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class OrderRecord:
    """One order as recorded: what was reported (the body: the same body again is the same order)
    and what it was attributed (guide and rate, commission, campaign), with its refunds in all."""

    channel_id: str
    user_id: str
    amount_cents: int
    sales_channel: str
    district_id: str | None
    at_ms: int
    guide_id: str | None
    bps: int
    commission_cents: int
    campaign_id: str | None
    recorded_ms: int
    refunded_cents: int = 0
    reversed_cents: int = 0

    def body(self) -> tuple:
        return self.channel_id, self.user_id, self.amount_cents, self.sales_channel, self.district_id, self.at_ms

    def refunded(self, refunded_cents: int, reversed_cents: int) -> OrderRecord:
        return replace(self, refunded_cents=refunded_cents, reversed_cents=reversed_cents)

    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, raw: str) -> OrderRecord:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class RefundRecord:
    """One refund as recorded, with its order's figures just after it (what it answers, again)."""

    order_id: str
    amount_cents: int
    reversal_cents: int
    order_refunded_cents: int
    order_commission_cents: int  # the order's commission net of every reversal so far
    recorded_ms: int

    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, raw: str) -> RefundRecord:
        return cls(**json.loads(raw))
