"""Request and response bodies of push: endpoints, dead letters, bulk locations."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.core import Strict, UserPoint


# An absolute http(s) URL with an ASCII host (an IDN in its xn-- form), a port if any, no credentials
# (district_engine/delivery/urls.py). Whether the host's addresses are public is checked beyond it.
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_V4 = r"((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_H = "[0-9A-Fa-f]{1,4}"
_V6 = "|".join((  # the forms Python's ipaddress reads (RFC 4291 2.2), an IPv4 tail included
    rf"({_H}:){{7}}{_H}", rf"({_H}:){{1,7}}:", rf"({_H}:){{1,6}}:{_H}", rf"({_H}:){{1,5}}(:{_H}){{1,2}}",
    rf"({_H}:){{1,4}}(:{_H}){{1,3}}", rf"({_H}:){{1,3}}(:{_H}){{1,4}}", rf"({_H}:){{1,2}}(:{_H}){{1,5}}",
    rf"{_H}:(:{_H}){{1,6}}", rf":((:{_H}){{1,7}}|:)", rf"({_H}:){{6}}{_V4}", rf"({_H}:){{1,5}}:{_V4}",
    rf"::({_H}:){{0,5}}{_V4}"))
_HOST = rf"([A-Za-z0-9-]+\.?)+|\[({_V6})(%25[0-9A-Za-z]+)?\]"  # a name, an IPv4 or a bracketed IPv6
URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://({_HOST})(:{_PORT})?([/?#][!-~]*)?$"


class PushEndpointCreate(Strict):
    url: str = Field(max_length=2048, pattern=URL_PATTERN, examples=["https://push.example.com/district-engine"],
                     description="http(s) URL that receives signed POSTs (Standard Webhooks); its host's addresses "
                                 "must be public (422 `blocked_address`)")


class PushEndpointPublic(BaseModel):
    id: str
    url: str
    scope: str = Field(description='"operator" (its campaigns\' events) or "channel" (its users\' events)')
    state: str = Field(description="active | disabled (the receiver answered 410 Gone, or no delivery "
                                   "succeeded for the whole retry period, 24 h); POST .../{id}:enable enables it")
    disabled_reason: str | None = Field(default=None, description="why it is disabled")
    created_at: str


class PushEndpointCreated(PushEndpointPublic):
    secret: str = Field(description="whsec_...: verifies the signatures; shown only now")


class DeadLetter(BaseModel):
    id: str
    event_id: str
    endpoint_id: str
    attempts: int
    first_attempt_ms: int
    failed_at_ms: int
    error: str = Field(description="the last failure's class: timeout, dns, connection_refused, connection_failed, "
                                   "connection_error, tls, too_large (a reply over 64 KiB), blocked_address, "
                                   "http_3xx, http_4xx, http_5xx, circuit_open, endpoint_disabled")
    status: int | None = Field(default=None, description="the last HTTP status, if there was one")
    payload: str


class DeadLetterPage(BaseModel):
    items: list[DeadLetter]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null: no more")


class ReplayQueued(BaseModel):
    queued: int = Field(description="dead letters queued for delivery again (they leave the dead letters)")
    left: int = Field(description="dead letters still there (call again to queue more)")


class LocationBatchIn(Strict):
    locations: list[UserPoint] = Field(max_length=10_000, description="at most 10,000")


class LocationBatchAccepted(BaseModel):
    accepted: int = Field(description="location updates queued for the matchers")
