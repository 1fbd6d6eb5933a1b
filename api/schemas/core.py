"""Schemas of the v1 contract: operators, districts, campaigns, feed and locations.

Coordinates are (lat, lng) in degrees with ``coord`` naming the system; GeoJSON bodies keep
[lng, lat]. Range checks on lat/lng/radius happen in the domain, which names the field. Input is
taken as sent: numbers must be JSON numbers (``Number``: no "39.9", no false), times RFC 3339
text with an offset (``Instant``: no 1796034184), and every string of
a request body must be acceptable text (district_engine/validation.py), checked here for all of
them at once (``Strict``).
"""

from __future__ import annotations

from datetime import datetime
import re
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import Header
from fastapi.exceptions import RequestValidationError
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict as PydanticStrict, StrictInt,
                      ValidationError, field_validator)

from district_engine.validation import text_problem

Coord = Literal["wgs84", "gcj02", "bd09"]
Kind = Literal["campaign", "red_envelope", "parking"]
State = Literal["scheduled", "live", "ended"]


Number = Annotated[float, PydanticStrict()]  # a JSON number (an integer too): neither a string nor a boolean
Lat = Annotated[float, PydanticStrict(), Field(ge=-90, le=90)]  # degrees
Lng = Annotated[float, PydanticStrict(), Field(ge=-180, le=180)]  # degrees
RadiusM = Annotated[float, PydanticStrict(), Field(gt=0, le=3000)]  # metres from a footprint
_RFC3339_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")


def _rfc3339_text(value):
    """A time arrives as RFC 3339 text: pydantic would also read 1796034184 (or "1796034184") as
    seconds, or milliseconds, since 1970, a guess about the sender's clock nobody asked for."""
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339_DATE.match(value)):
        return value
    raise ValueError("must be an RFC 3339 time with a UTC offset, as a string")


def _with_offset(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must be an RFC 3339 time with a UTC offset")
    return value


# e.g. "2026-11-11T20:15:00+08:00"
Instant = Annotated[datetime, BeforeValidator(_rfc3339_text), AfterValidator(_with_offset)]
MULTILINE = frozenset({"body", "note"})  # text fields where newlines and tabs are text
# district_engine/validation.py's rule as JSON Schema patterns (lone surrogates aside: JSON Schema
# cannot name them), so that the document states what the validator below refuses.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
MULTILINE_TEXT_PATTERN = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"


def _text_patterns(schema: dict, model: type) -> None:
    """Each free string property of a request body gets the text pattern of its field."""
    for name, prop in schema.get("properties", {}).items():
        for option in prop.get("anyOf", [prop]):
            if option.get("type") == "string" and not {"pattern", "enum", "const", "format"} & option.keys():
                option["pattern"] = MULTILINE_TEXT_PATTERN if name in MULTILINE else TEXT_PATTERN


def bounds(low: int, high: int) -> dict:
    """``json_schema_extra`` of an integer the library checks (``check_int``): the document states
    its range, and the library's error, naming the field, stays the answer."""
    return {"minimum": low, "maximum": high}


class Strict(BaseModel):
    """A request body: unknown fields refused, and every string acceptable text."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_text_patterns)

    @field_validator("*", mode="after")
    @classmethod
    def _text(cls, value, info):
        if isinstance(value, str) and (problem := text_problem(value, info.field_name in MULTILINE)):
            raise ValueError(problem)
        return value


class OperatorCreate(Strict):
    name: str = Field(min_length=1, max_length=200, examples=["Swire Properties Beijing"])


class OperatorPublic(BaseModel):
    id: str
    name: str


class OperatorCreated(OperatorPublic):
    api_key: str = Field(description="shown once; the engine keeps only its hash")


class ChannelPublic(BaseModel):
    id: str
    name: str


class ChannelCreated(ChannelPublic):
    api_key: str = Field(description="de_chan_...: shown once; the engine keeps only its hash")
    token_secret: str = Field(description="signs the channel's user tokens (HS256); shown once")


MAX_GRACE_S = 30 * 86_400


class KeyRotate(Strict):
    grace_s: StrictInt = Field(default=86_400, ge=0, le=MAX_GRACE_S,
                               description="how long the old keys keep working (0: revoked now), at most 30 days")


class ChannelRotate(KeyRotate):
    token_secret: bool = Field(default=False, description="also a new token secret; the old one verifies for grace_s")


class KeyRotated(BaseModel):
    id: str
    api_key: str = Field(description="the new key; shown once")
    grace_s: int


class ChannelKeysRotated(KeyRotated):
    token_secret: str | None = Field(default=None, description="the new token secret, when one was asked for")


class DistrictSummary(BaseModel):
    id: str
    name: str
    name_zh: str | None = None
    city: str
    centroid: dict = Field(description="{lat, lng} of the footprint's centre, WGS-84", examples=[{"lat": 39.9352, "lng": 116.4482}])


# The body of POST /v1/districts as JSON Schema: what District.from_geojson and parse_footprint
# refuse, as far as JSON Schema can say it. What it cannot: a ring closed (its last position its
# first), a valid polygon with an area, a footprint within 20 km that does not cross the
# antimeridian, at most 10,000 positions. Names are text (TEXT_PATTERN) that is not all whitespace
# (Python's str.strip, spelled out: ECMA's \s is another set).
_NOT_BLANK = (r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
              r"[^\x00-\x1f\x7f-\x9f]*$")
DISTRICT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = {"type": "string", "maxLength": 200, "pattern": _NOT_BLANK}
_POSITION = {"type": "array", "minItems": 2, "description": "[lng, lat, ...]: further numbers (altitude) are kept as sent",
             "prefixItems": [{"type": "number", "minimum": -180, "maximum": 180},
                             {"type": "number", "minimum": -85, "maximum": 85}]}
_RING = {"type": "array", "minItems": 4, "items": _POSITION,
         "description": "a closed linear ring: the last position equals the first"}
_POLYGON = {"type": "array", "minItems": 1, "items": _RING, "description": "the exterior ring, then any holes"}
DISTRICT_FEATURE = {
    "title": "DistrictFeature",
    "description": "A GeoJSON Feature ([lng, lat]). The footprint must also be a valid polygon with an area, "
                   "its rings closed, at most 20 km across, not across the antimeridian, with at most 10,000 "
                   "positions. Other properties are kept as sent.",
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"const": "Feature"},
        "properties": {
            "type": "object",
            "required": ["name", "city"],
            "properties": {
                "id": {"anyOf": [{"type": "string", "pattern": DISTRICT_ID_PATTERN}, {"type": "null"}],
                       "description": "the district's id; left out: the Feature's id; null, or neither given: the "
                                      "server makes one (dst_...)"},
                "name": _NAME,
                "city": _NAME,
                "name_zh": {"anyOf": [_NAME, {"type": "null"}]},
            },
        },
        "geometry": {"oneOf": [
            {"type": "object", "required": ["type", "coordinates"],
             "properties": {"type": {"const": "Polygon"}, "coordinates": _POLYGON}},
            {"type": "object", "required": ["type", "coordinates"],
             "properties": {"type": {"const": "MultiPolygon"},
                            "coordinates": {"type": "array", "minItems": 1, "items": _POLYGON}}},
        ]},
    },
    # The Feature's own id counts only when properties names no id (a null one asks for a made id).
    "if": {"properties": {"properties": {"required": ["id"]}}},
    "else": {"properties": {"id": {"anyOf": [{"type": "string", "pattern": DISTRICT_ID_PATTERN}, {"type": "null"}]}}},
}


# A campaign's text as Campaign checks it (and says why, naming the field).
TITLE_LENGTH = {"minLength": 1, "maxLength": 200}
BODY_LENGTH = {"minLength": 1, "maxLength": 4000}


def _kind(name: str) -> dict:
    return {"properties": {"kind": {"const": name}}, "required": ["kind"]}


def _none_of(*names: str) -> dict:
    return {"properties": {name: {"type": "null"} for name in names}}


# The fields one kind of campaign takes, as Campaign checks them: a rain needs its pool, and only a
# rain takes one; only parking takes a lot or free minutes; only a campaign (the kind when none is
# given) can be for members only.
KIND_RULES = [
    {"if": _kind("red_envelope"), "then": {"required": ["total_cents", "packets"], "properties": {
        "total_cents": {"type": "integer"}, "packets": {"type": "integer"}}},
     "else": _none_of("total_cents", "packets")},
    {"if": _kind("parking"), "else": _none_of("lot_id", "free_minutes")},
    {"if": {"properties": {"kind": {"const": "campaign"}}}, "else": _none_of("audience")},
]


def _campaign_schema(schema: dict, model: type) -> None:
    _text_patterns(schema, model)
    schema["allOf"] = KIND_RULES


class CampaignCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_campaign_schema)

    district_id: str = Field(examples=["sanlitun-taikoo-li"])
    kind: Kind = "campaign"
    title: str = Field(examples=["Double 11 at Sanlitun: 20% off"], json_schema_extra=TITLE_LENGTH)
    body: str = Field(examples=["Show this offer at any store in Taikoo Li South before midnight."],
                      json_schema_extra=BODY_LENGTH)
    starts_at: Instant = Field(description="RFC 3339 with an offset", examples=["2026-11-11T00:00:00+08:00"])
    ends_at: Instant = Field(examples=["2026-11-12T00:00:00+08:00"])
    radius_m: RadiusM = Field(default=3000, description="metres from the footprint (at most 3 km)", examples=[3000])
    audience: Literal["members"] | None = Field(default=None, description=(
        "null: every user within radius_m; members: the members of the district's guides, wherever they are, "
        "and nobody else"))
    max_pushes_per_user: StrictInt = Field(default=1, description="1..100", json_schema_extra=bounds(1, 100))
    attribution_days: StrictInt = Field(default=7, ge=1, le=90, description=(
        "an order within this many days after a user was given the offer counts as the campaign's conversion"))
    # Money and counts are strict integers: "100", 10.0 or 0.07 are refused, never coerced.
    total_cents: StrictInt | None = Field(default=None, description="red_envelope: the cash pool in cents", examples=[1_000_000],
                                         json_schema_extra=bounds(1, 100_000_000))
    packets: StrictInt | None = Field(default=None, description="red_envelope: how many packets (at most 1,000,000)", examples=[1000],
                                     json_schema_extra=bounds(1, 1_000_000))
    min_cents: StrictInt = Field(default=1, description="red_envelope: the smallest packet",
                                 json_schema_extra=bounds(1, 100_000_000))
    split: Literal["double_mean", "equal"] = Field(default="double_mean", description="red_envelope: how the pool is split")
    per_user_limit: StrictInt = Field(default=1, description="red_envelope: packets one user may win, 1..100",
                                      json_schema_extra=bounds(1, 100))
    lot_id: str | None = Field(default=None, description="parking: the lot it applies to (default: every lot of the district)",
                               json_schema_extra={"minLength": 1, "maxLength": 64})  # as Campaign checks it
    free_minutes: StrictInt | None = Field(default=None, description="parking: free minutes off every stay while it is live, 0..1440",
                                          json_schema_extra=bounds(0, 1440))


# One complete example per kind, for POST /v1/campaigns in the OpenAPI document; each is accepted
# as it stands by an operator owning the district (tests/api/test_contract_fuzz.py posts them).
CAMPAIGN_EXAMPLES = {
    "campaign": {"summary": "An offer to everyone within 3 km", "value": {
        "district_id": "sanlitun-taikoo-li", "kind": "campaign", "title": "Double 11 at Sanlitun: 20% off",
        "body": "Show this offer at any store in Taikoo Li South before midnight.",
        "starts_at": "2030-11-11T00:00:00+08:00", "ends_at": "2030-11-12T00:00:00+08:00", "radius_m": 3000,
        "audience": None, "max_pushes_per_user": 2, "attribution_days": 7}},
    "red_envelope": {"summary": "A ten-minute rain of 1,000 packets from a 10,000 yuan pool", "value": {
        "district_id": "sanlitun-taikoo-li", "kind": "red_envelope", "title": "8 pm red-envelope rain",
        "body": "Open the app in Taikoo Li at 8 pm and grab a packet.",
        "starts_at": "2030-11-11T20:00:00+08:00", "ends_at": "2030-11-11T20:10:00+08:00", "radius_m": 500,
        "max_pushes_per_user": 1, "attribution_days": 3, "total_cents": 1_000_000, "packets": 1000,
        "min_cents": 100, "split": "double_mean", "per_user_limit": 1}},
    "parking": {"summary": "Two free hours in every lot of the district", "value": {
        "district_id": "sanlitun-taikoo-li", "kind": "parking", "title": "Two hours' free parking tonight",
        "body": "Park in any Taikoo Li car park: the first two hours are on us.",
        "starts_at": "2030-11-11T18:00:00+08:00", "ends_at": "2030-11-12T02:00:00+08:00", "radius_m": 2000,
        "max_pushes_per_user": 1, "attribution_days": 1, "lot_id": None, "free_minutes": 120}},
}


def not_null(extra: dict | None = None) -> Callable[[dict], None]:
    """``json_schema_extra`` of an optional field that takes no null (plus ``extra``): the field may
    be left out, and the library refuses null, naming the field; the document does not offer it."""
    def apply(schema: dict) -> None:
        options = [option for option in schema.pop("anyOf", [schema]) if option.get("type") != "null"]
        schema.pop("default", None)
        schema.update(options[0] if len(options) == 1 else {"anyOf": options})
        schema.update(extra or {})
    return apply


class CampaignPatch(Strict):
    """The fields to change; one left out is kept. Only ``audience`` takes null (everyone in reach)."""

    title: str | None = Field(default=None, json_schema_extra=not_null(TITLE_LENGTH))
    body: str | None = Field(default=None, json_schema_extra=not_null(BODY_LENGTH))
    starts_at: Instant | None = Field(default=None, json_schema_extra=not_null())
    ends_at: Instant | None = Field(default=None, json_schema_extra=not_null())
    radius_m: RadiusM | None = Field(default=None, json_schema_extra=not_null())
    audience: Literal["members"] | None = None
    max_pushes_per_user: StrictInt | None = Field(default=None, json_schema_extra=not_null(bounds(1, 100)))
    attribution_days: StrictInt | None = Field(default=None, json_schema_extra=not_null(bounds(1, 90)))


class CampaignPublic(BaseModel):
    id: str
    district_id: str
    kind: Kind
    title: str
    body: str
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None
    radius_m: float
    audience: Literal["members"] | None
    max_pushes_per_user: int
    attribution_days: int
    state: State
    rain: dict | None = Field(default=None, description="red_envelope: total_cents, packets, min_cents, split, per_user_limit")
    parking: dict | None = Field(default=None, description="parking: lot_id, free_minutes")


class CampaignList(BaseModel):
    campaigns: list[CampaignPublic]


class CampaignStats(BaseModel):
    campaign_id: str
    offers_delivered: int = Field(description="exact count of deliveries")
    unique_users: int = Field(description="exact count of distinct users reached")
    pushed: int = Field(description="deliveries also pushed (webhook and server-sent event)")
    capped: int = Field(description="deliveries not pushed because the user's hourly push cap was reached")
    conversions: int = Field(description="orders attributed to the campaign (its offer was the user's last within "
                             "its attribution window) and not refunded in full (docs/guides.md)")
    revenue_cents: int = Field(description="those orders' amounts less their refunds")


class OfferPublic(BaseModel):
    campaign_id: str
    district_id: str
    district_name: str
    kind: Kind
    title: str
    body: str
    distance_m: float = Field(description="geodesic distance (WGS-84) from the point to the footprint, 0 inside")
    starts_at: datetime
    ends_at: datetime
    lot_id: str | None = Field(default=None, description="parking: its lot (null: every lot of the district)")
    free_spaces: int | None = Field(default=None, description="parking: live free spaces (refreshed every second)")


class Feed(BaseModel):
    offers: list[OfferPublic]


class UserPoint(Strict):
    """A user at a point: (lat, lng) in ``coord``, with what the device says of the fix."""

    user_id: str | None = Field(default=None, min_length=1, max_length=128, examples=["u-10086"], description=(
        "the channel's user id: required with a channel key; with a user token it may be left out "
        "(the token's sub), and naming another user is a 403"))
    lat: Lat = Field(examples=[39.9310])
    lng: Lng = Field(examples=[116.4600])
    coord: Coord = "wgs84"
    accuracy_m: Number | None = Field(default=None, ge=0, lt=1e7, description=(
        "the device's accuracy radius (m); a fix worse than 200 m is not trusted"))
    mocked: bool = Field(default=False, description="the device OS's mock-location flag; a mocked fix is not trusted")


class LocationIn(UserPoint):
    at: Instant | None = Field(default=None, description="when the position was taken (default: now)")


class LocationOut(BaseModel):
    new_offers: list[OfferPublic]
    untrusted: str | None = Field(default=None, description=(
        "set when the position was not trusted (mocked, inaccurate, or an impossible jump): it then counts "
        "as no presence, and no offer is given"))


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_input"])
    message: str = Field(examples=["must be > 0 and <= 3000 metres, got 5000"])
    field: str | None = Field(default=None, examples=["radius_m"])


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict:
    """OpenAPI entries for the error answers a router can give, all in the one error shape."""
    described = {401: "no credential, or one that names nobody (unknown, revoked, expired, bad signature)",
                 403: "the credential may not do this (another kind of caller, or another user)", 404: "not found (or another operator's)", 409: "conflict",
                 413: "body over the limit", 422: "invalid input: `field` names it",
                 503: "the state store is unreachable; see Retry-After"}
    return {s: {"model": ErrorBody, "description": described[s]} for s in statuses}


def json_body(model: type[BaseModel]) -> dict:
    """``openapi_extra`` for a route that reads its JSON body itself (``parse_json``)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def parse_json(model: type[BaseModel], raw: bytes):
    """The body as ``model``, parsed and validated in one step; a 422 as FastAPI would give it."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise RequestValidationError(e.errors(include_url=False)) from None


REQUEST_KEY_PATTERN = r"^[\x20-\x7e]{1,255}$"  # an Idempotency-Key: printable ASCII (a UUID, say)


def request_key(raw: str | None) -> str | None:
    """An Idempotency-Key header read by a route itself (a fast route, api/fastpath.py): checked as
    ``RequestKey`` is."""
    if raw is not None and not re.match(REQUEST_KEY_PATTERN, raw):
        raise RequestValidationError([{"type": "string_pattern_mismatch", "loc": ("header", "Idempotency-Key"),
                                       "msg": "must be 1 to 255 printable ASCII characters"}])
    return raw


RequestKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=REQUEST_KEY_PATTERN,
    description="Your name for this request (say, a UUID). Sent again after a 503 or a lost answer, it is the same "
                "request: it answers what it answered and does nothing a second time.")]


class GrabIn(UserPoint):
    """Who grabs, and where they are (the reach is checked)."""


class GrabOut(BaseModel):
    status: Literal["won", "already_grabbed"]
    amount_cents: int
    grab_id: str | None = None


class RainFiguresOut(BaseModel):
    campaign_id: str
    total_cents: int
    packets: int
    won_packets: int
    won_cents: int
    remaining_packets: int
    remaining_cents: int
    refunded_cents: int
    state: Literal["scheduled", "live", "ended"]
