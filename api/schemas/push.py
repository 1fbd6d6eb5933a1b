"""Request and response bodies of push: endpoints, dead letters, bulk locations."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.core import Strict, UserPoint


class PushEndpointCreate(Strict):
    url: str = Field(max_length=2048, examples=["https://push.example.com/district-engine"],
                     description="http(s) URL that receives signed POSTs (Standard Webhooks)")


class PushEndpointPublic(BaseModel):
    id: str
    url: str
    scope: str = Field(description='"operator" (its campaigns\' events) or "channel" (its users\' events)')
    state: str = Field(description="active | disabled (the receiver answered 410 Gone)")
    disabled_reason: str | None = None
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
    error: str
    payload: str


class LocationBatchIn(Strict):
    locations: list[UserPoint] = Field(max_length=10_000, description="at most 10,000")


class LocationBatchAccepted(BaseModel):
    accepted: int = Field(description="location updates queued for the matchers")
