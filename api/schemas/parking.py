"""Request and response bodies of smart parking. Coordinates are (lat, lng), WGS-84."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, StrictInt

from api.schemas.core import Strict


class Location(Strict):
    lat: float = Field(examples=[39.9325])
    lng: float = Field(examples=[116.4474])


class LotCreate(Strict):
    district_id: str = Field(examples=["sanlitun-taikoo-li"])
    name: str = Field(examples=["Taikoo Li South car park (B2-B3)"])
    name_zh: str | None = Field(default=None, examples=["太古里南区停车场"])
    capacity: StrictInt = Field(description="spaces, 1..100000", examples=[420])
    location: Location
    tariff: dict = Field(description="see docs/parking.md; the simple form below, or time-of-day periods",
                         examples=[{"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000,
                                    "daily_cap_cents": 8000}])


class LotPublic(BaseModel):
    id: str
    district_id: str
    name: str
    name_zh: str | None
    capacity: int
    occupied: int
    free_spaces: int
    location: Location
    tariff: dict


class LotCreated(LotPublic):
    webhook_secret: str = Field(description="whsec_...: the gates sign their events with it; shown only now")


class SecretRotated(BaseModel):
    webhook_secret: str
    previous_valid_until: datetime


class GateEventIn(Strict):
    type: Literal["vehicle.entry", "vehicle.exit"]
    plate: str = Field(max_length=32, examples=["京A12345"])
    confidence: float = Field(ge=0, le=1, description="the camera's confidence in its read, 0..1")
    captured_at: AwareDatetime = Field(description="RFC 3339 with an offset", examples=["2026-11-11T20:15:00+08:00"])
    lane: str = Field(min_length=1, max_length=64, examples=["exit-1"])


class GateDecision(BaseModel):
    decision: Literal["open", "pay", "full"]
    session_id: str | None
    fee_cents: int
    charged_cents: int
    message: str = Field(description="what the gate's display shows, Chinese and English")


class ValidationIn(Strict):
    merchant: str = Field(examples=["Apple Sanlitun"])
    free_minutes: StrictInt = Field(description="1..1440", examples=[120])
    validation_id: str | None = Field(default=None, min_length=1, max_length=64, examples=["pos-0042-7781"],
                                      description="the merchant's id for it: sent again, it adds nothing")


class ValidationOut(BaseModel):
    session_id: str
    validation_minutes: int = Field(description="all validations of the session so far")


class SettleIn(Strict):
    paid_cents: StrictInt = Field(description="what was paid at the gate, in cents", examples=[3000])
    method: Literal["cash", "card", "qr"] = Field(examples=["qr"])


class SessionPublic(BaseModel):
    id: str
    lot_id: str
    plate: str
    state: str = Field(description="open | paid | unpaid (the car left; the charge is being retried)")
    entered_at: str
    exited_at: str | None = None
    fee_cents: int | None = None
    charged_cents: int | None = None
    validation_minutes: int
    validations: list[dict]


class PlateBind(Strict):
    user_id: str = Field(min_length=1, max_length=128, examples=["u-10086"])
    plate: str = Field(max_length=32, examples=["京A12345"])
    payment_token: str = Field(description="the payment agreement's token at the payment provider",
                               examples=["agr_7f3a9c"])


class PlateBound(BaseModel):
    plate: str = Field(description="normalised")
    user_id: str
    bound_at: str
