"""Request and response bodies of smart parking. Coordinates are (lat, lng), WGS-84."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, WithJsonSchema

from api.schemas.core import Instant, Lat, Lng, Number, Strict, bounds


# A tariff as JSON Schema: what Tariff.from_dict (district_engine/parking/tariff.py) takes, which
# stays the server's check and the authority. Beyond it: the periods cover the day exactly once,
# and min_cents is at most max_cents and daily_cap_cents. A key given as null counts as left out,
# hence the null-only keys of each form.
_CENTS = {"type": "integer", "minimum": 0}
_UNIT_MINUTES = {"type": "integer", "minimum": 1, "maximum": 1440}
_NULL = {"type": "null"}
_PERIOD = {"type": "object", "additionalProperties": False,
           "required": ["start", "end", "unit_minutes", "cents_per_unit"],
           "properties": {"start": {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                          "end": {"type": "string", "pattern": r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
                                  "description": "00:00 and 24:00 are midnight; before start: past midnight"},
                          "unit_minutes": _UNIT_MINUTES, "cents_per_unit": _CENTS}}
_EITHER_FORM = {"free_minutes": _CENTS, "daily_cap_cents": {"anyOf": [_CENTS, _NULL]},
                "min_cents": {"anyOf": [_CENTS, _NULL]}, "max_cents": {"anyOf": [_CENTS, _NULL]}}
TARIFF_SCHEMA = {
    "title": "Tariff",
    "description": "docs/parking.md. The periods must cover the day exactly once; min_cents may not exceed "
                   "max_cents or daily_cap_cents.",
    "anyOf": [
        {"title": "simple", "type": "object", "additionalProperties": False,
         "required": ["free_minutes", "unit_minutes", "cents_per_unit"],
         "properties": _EITHER_FORM | {"unit_minutes": _UNIT_MINUTES, "cents_per_unit": _CENTS,
                                       "periods": _NULL, "utc_offset_minutes": _NULL}},
        {"title": "periods", "type": "object", "additionalProperties": False,
         "required": ["free_minutes", "periods", "utc_offset_minutes"],
         "properties": _EITHER_FORM | {"periods": {"type": "array", "minItems": 1, "items": _PERIOD},
                                       "utc_offset_minutes": {"type": "integer", "minimum": -720, "maximum": 840,
                                                              "description": "the periods' clock: 480 for China"},
                                       "unit_minutes": _NULL, "cents_per_unit": _NULL}},
    ],
}
TARIFF_EXAMPLES = [
    {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000, "daily_cap_cents": 8000},
    {"free_minutes": 15, "utc_offset_minutes": 480, "daily_cap_cents": 8000, "periods": [
        {"start": "08:00", "end": "20:00", "unit_minutes": 30, "cents_per_unit": 500},
        {"start": "20:00", "end": "08:00", "unit_minutes": 60, "cents_per_unit": 200}]},
]
# The library checks it, not pydantic: its errors name the key (tariff.periods[0].end).
Tariff = Annotated[dict, WithJsonSchema(TARIFF_SCHEMA)]


class Location(Strict):
    lat: Lat = Field(examples=[39.9325])
    lng: Lng = Field(examples=[116.4474])


class LotCreate(Strict):
    district_id: str = Field(examples=["sanlitun-taikoo-li"])
    name: str = Field(examples=["Taikoo Li South car park (B2-B3)"], json_schema_extra={"minLength": 1, "maxLength": 200})
    name_zh: str | None = Field(default=None, examples=["太古里南区停车场"])
    capacity: StrictInt = Field(description="spaces, 1..100000", examples=[420], json_schema_extra=bounds(1, 100_000))
    location: Location
    tariff: Tariff = Field(description="the simple form, or time-of-day periods (docs/parking.md)",
                           examples=TARIFF_EXAMPLES)
    max_auto_charge_cents: StrictInt = Field(default=50_000, json_schema_extra=bounds(0, 10_000_000), description=(
        "0..10000000: a fee above it is not charged automatically; the gate answers pay and the session "
        "goes to the lot's review list"))
    max_backfill_hours: StrictInt = Field(default=48, json_schema_extra=bounds(1, 720), description=(
        "1..720: how far behind the server clock a gate event's captured_at may be (a buffered event)"))


class LotPublic(BaseModel):
    id: str
    district_id: str
    name: str
    name_zh: str | None
    capacity: int
    occupied: int
    free_spaces: int
    location: Location
    tariff: Tariff
    max_auto_charge_cents: int
    max_backfill_hours: int


class LotCreated(LotPublic):
    webhook_secret: str = Field(description="whsec_...: the gates sign their events with it; shown only now")


class SecretRotated(BaseModel):
    webhook_secret: str
    previous_valid_until: datetime


class GateEventIn(Strict):
    type: Literal["vehicle.entry", "vehicle.exit"]
    plate: str = Field(max_length=32, examples=["京A12345"], json_schema_extra={"minLength": 1})
    confidence: Number = Field(ge=0, le=1, description="the camera's confidence in its read, 0..1")
    captured_at: Instant = Field(description="RFC 3339 with an offset", examples=["2026-11-11T20:15:00+08:00"])
    lane: str = Field(min_length=1, max_length=64, examples=["exit-1"])


class GateDecision(BaseModel):
    decision: Literal["open", "pay", "full"]
    session_id: str | None
    fee_cents: int
    charged_cents: int
    message: str = Field(description="what the gate's display shows, Chinese and English")


class ValidationIn(Strict):
    merchant: str = Field(examples=["Apple Sanlitun"], json_schema_extra={"minLength": 1, "maxLength": 200})
    free_minutes: StrictInt = Field(description="1..1440", examples=[120], json_schema_extra=bounds(1, 1440))
    validation_id: str | None = Field(default=None, min_length=1, max_length=64, examples=["pos-0042-7781"],
                                      description="the merchant's id for it: sent again, it adds nothing")


class ValidationOut(BaseModel):
    session_id: str
    validation_minutes: int = Field(description="all validations of the session so far")


class SettleIn(Strict):
    paid_cents: StrictInt = Field(description="what was paid at the gate, in cents", examples=[3000],
                                  json_schema_extra=bounds(0, 10_000_000))
    method: Literal["cash", "card", "qr"] = Field(examples=["qr"])


class SessionPublic(BaseModel):
    id: str
    lot_id: str
    plate: str
    state: str = Field(description="open | paid | unpaid (the car left; the charge is being retried) | waived")
    entered_at: str
    exited_at: str | None = None
    fee_cents: int | None = None
    charged_cents: int | None = None
    validation_minutes: int
    validations: list[dict]
    review: str | None = Field(default=None, description=(
        "why it awaits staff on the lot's review list: fee_above_cap | exit_before_entry | charge_declined | "
        "no_payer; None if it does not"))
    charge_attempts: int = Field(default=0, description="declined retries of its charge so far")
    resolution: dict | None = Field(default=None, description="staff's resolution: {id, action, amount_cents, note, at}")


class ReviewEntry(BaseModel):
    """One entry of a lot's review list: a session awaiting staff (``session_id``), or a gate event
    with no session (a misread: no_entry, ambiguous_misread)."""

    id: str = Field(description="the entry's id; the next page is ?before=<the last id>")
    reason: str
    plate: str | None = None
    session_id: str | None = None
    fee_cents: int | None = None
    at: str | None = None
    webhook_id: str | None = None
    lane: str | None = None
    captured_at: str | None = None
    candidates: str | None = None


class ReviewPage(BaseModel):
    entries: list[ReviewEntry] = Field(description="newest first")
    next_before: str | None = Field(description="pass as ?before= for the next page; None: no more")


class ResolutionIn(Strict):
    action: Literal["charge", "adjust", "waive"] = Field(description=(
        "charge the fee, adjust (charge amount_cents, at most the fee) or waive, to the account bound when "
        "the car left"))
    amount_cents: StrictInt | None = Field(default=None, description="with adjust only: 1..the fee", examples=[20000],
                                           json_schema_extra={"minimum": 1})
    note: str = Field(min_length=1, max_length=500, examples=["camera clock was wrong; 2 h stay per the ticket"])
    resolution_id: str | None = Field(default=None, min_length=1, max_length=64, examples=["desk-3-0042"],
                                      description="the client's id for it: sent again, it is applied once")


class PlateBind(Strict):
    user_id: str = Field(min_length=1, max_length=128, examples=["u-10086"])
    plate: str = Field(max_length=32, examples=["京A12345"], json_schema_extra={"minLength": 1})
    payment_token: str = Field(description="the payment agreement's token at the payment provider",
                               json_schema_extra={"minLength": 1, "maxLength": 256},
                               examples=["agr_7f3a9c"])


class PlateBound(BaseModel):
    plate: str = Field(description="normalised")
    user_id: str
    bound_at: str
