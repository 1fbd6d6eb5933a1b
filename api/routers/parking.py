"""Smart parking: lots, the gates' signed plate events, sessions and validations, plate bindings."""

import asyncio
import json
import time
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.auth import ChannelDep, OperatorDep, declare
from api.deps import ParkingDep
from api.idempotency import idempotent
from api.schemas.core import TEXT_PATTERN, bounds, error_responses
from api.schemas.parking import (GateDecision, GateEventIn, LotCreate, LotCreated, LotPublic, PlateBind, PlateBound,
                                 ResolutionIn, ReviewEntry, ReviewPage, SecretRotated, SessionPublic, SettleIn,
                                 ValidationIn, ValidationOut)
from district_engine.identity import Kind, unscoped_user
from district_engine.parking.plates import check_plate
from district_engine.parking.service import PENDING_WAIT_S, GateEvent, lot_of_session, pending_too_long
from district_engine.store.parking import LotRecord

router = APIRouter(prefix="/v1/parking", tags=["parking"], responses=error_responses(401, 403, 404, 422, 503))


def _lot(lot: LotRecord) -> dict:
    d = lot.data
    return dict(id=lot.id, district_id=d["district_id"], name=d["name"], name_zh=d.get("name_zh"),
                capacity=d["capacity"], occupied=lot.occupied, free_spaces=max(0, d["capacity"] - lot.occupied),
                location=d["location"], tariff=d["tariff"], max_auto_charge_cents=d["max_auto_charge_cents"],
                max_backfill_hours=d["max_backfill_hours"])


@router.post("/lots", status_code=201, response_model=LotCreated, summary="A parking lot of one of your districts")
@idempotent
def create_lot(body: LotCreate, parking: ParkingDep, operator: OperatorDep) -> LotCreated:
    lot, secret = parking.create_lot(operator, body.district_id, lat=body.location.lat, lng=body.location.lng,
                                     name=body.name, name_zh=body.name_zh, capacity=body.capacity, tariff=body.tariff,
                                     max_auto_charge_cents=body.max_auto_charge_cents,
                                     max_backfill_hours=body.max_backfill_hours)
    return LotCreated(**_lot(lot), webhook_secret=secret)


@router.get("/lots", response_model=list[LotPublic], summary="Your lots with their live occupancy")
def list_lots(parking: ParkingDep, operator: OperatorDep) -> list[LotPublic]:
    return [LotPublic(**_lot(lot)) for lot in parking.lots(operator)]


@router.get("/lots/{lot_id}", response_model=LotPublic)
def get_lot(lot_id: str, parking: ParkingDep, operator: OperatorDep) -> LotPublic:
    return LotPublic(**_lot(parking.lot(lot_id, operator)))


@router.post("/lots/{lot_id}/rotate-secret", response_model=SecretRotated,
             summary="A new webhook secret; the old one stays valid for 24 h")
def rotate_secret(lot_id: str, parking: ParkingDep, operator: OperatorDep) -> SecretRotated:
    secret = parking.rotate_secret(lot_id, operator)
    return SecretRotated(webhook_secret=secret, previous_valid_until=parking.clock() + parking.rotation_grace)


@router.get("/lots/{lot_id}/review", response_model=ReviewPage,
            summary="The lot's review list, newest first: sessions awaiting staff (a fee above the lot's cap, an exit "
                    "before its entry, a charge declined at every retry) and misreads")
def review(lot_id: str, parking: ParkingDep, operator: OperatorDep,
           limit: int = Query(default=50, description="1..500", json_schema_extra=bounds(1, 500)),
           before: str | None = None) -> ReviewPage:
    entries = parking.review_list(lot_id, operator, limit, before)
    return ReviewPage(entries=[ReviewEntry(**{k: (v or None) for k, v in e.items()}) for e in entries],
                      next_before=entries[-1]["id"] if len(entries) == limit else None)


@router.post("/lots/{lot_id}/gate-events", response_model=GateDecision,
             summary="A gate's plate event, signed with the lot's secret (Standard Webhooks): open, pay or full",
             responses=error_responses(401, 404, 422, 503))
@declare(Kind.GATE)
async def gate_event(lot_id: str, request: Request, parking: ParkingDep,
                     webhook_id: str | None = Header(default=None), webhook_timestamp: str | None = Header(default=None),
                     webhook_signature: str | None = Header(default=None)) -> Response:
    body = await request.body()

    def decide() -> bytes | None:
        lot = parking.authenticate(lot_id, webhook_id, webhook_timestamp, webhook_signature, body)
        try:
            ev = GateEventIn.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        return parking.try_decide(lot, webhook_id, GateEvent(ev.type, check_plate(ev.plate), ev.confidence,
                                                             ev.captured_at, ev.lane))

    # Off the event loop: on a Redis thread with its deadline (api/offload.py), or, when a remote
    # payment gateway may take up to its own timeout, on a thread of its own.
    run = asyncio.to_thread if parking.gateway_blocks else request.app.state.store_calls.run
    deadline = time.monotonic() + PENDING_WAIT_S
    while (answer := await run(decide)) is None:
        if time.monotonic() > deadline:
            raise pending_too_long()
        await asyncio.sleep(0.005)  # a repeat of an event being decided: wait for its answer
    # The answer is stored as bytes and sent as is: a repeated webhook-id gets it byte for byte.
    return Response(answer, media_type="application/json")


def _session(session_id: str, lot_id: str, s: dict) -> SessionPublic:
    return SessionPublic(id=session_id, lot_id=lot_id, plate=s["plate"], state=s["state"], entered_at=s["entered_at"],
                         exited_at=s.get("exited_at"), fee_cents=int(s["fee_cents"]) if s.get("fee_cents") else None,
                         charged_cents=int(s["charged_cents"]) if "charged_cents" in s else None,
                         validation_minutes=int(s["validation_minutes"]), validations=json.loads(s["validations"]),
                         review=s.get("review"), charge_attempts=int(s.get("charge_attempts", 0)),
                         resolution=json.loads(s["resolution"]) if "resolution" in s else None)


@router.get("/sessions/{session_id}", response_model=SessionPublic)
def get_session(session_id: str, parking: ParkingDep, operator: OperatorDep) -> SessionPublic:
    return _session(session_id, lot_of_session(session_id), parking.session(session_id, operator))


@router.post("/sessions/{session_id}/resolution", response_model=SessionPublic,
             summary="Resolve a session of the review list: charge, adjust (charge less) or waive; once per "
                     "resolution_id", responses=error_responses(409))
def resolve(session_id: str, body: ResolutionIn, parking: ParkingDep, operator: OperatorDep) -> SessionPublic:
    s = parking.resolve(session_id, operator, body.action, body.note, body.amount_cents, body.resolution_id)
    return _session(session_id, lot_of_session(session_id), s)


@router.post("/sessions/{session_id}/validations", response_model=ValidationOut,
             summary="A merchant's free minutes on an open session (e.g. two hours for a purchase)",
             responses=error_responses(409))
def add_validation(session_id: str, body: ValidationIn, parking: ParkingDep, operator: OperatorDep) -> ValidationOut:
    total = parking.add_validation(session_id, operator, body.merchant, body.free_minutes, body.validation_id)
    return ValidationOut(session_id=session_id, validation_minutes=total)


@router.post("/sessions/{session_id}/paid-at-gate", response_model=SessionPublic,
             summary="Close a session paid at the gate after a pay answer (staff or the gate's terminal)",
             responses=error_responses(409))
def paid_at_gate(session_id: str, body: SettleIn, parking: ParkingDep, operator: OperatorDep) -> SessionPublic:
    parking.settle_at_gate(session_id, operator, body.paid_cents, body.method)
    return get_session(session_id, parking, operator)


@router.post("/plates", status_code=201, response_model=PlateBound,
             summary="Bind a plate to one of the channel's users' payment agreements (channel key)")
@idempotent
def bind_plate(body: PlateBind, parking: ParkingDep, channel: ChannelDep) -> PlateBound:
    b = parking.bind_plate(channel.user(body.user_id), body.plate, body.payment_token)
    return PlateBound(plate=b.plate, user_id=unscoped_user(b.user_id), bound_at=b.bound_at)


@router.delete("/plates/{plate}", status_code=204, summary="Unbind one of the channel's users' plates (channel key)")
def unbind_plate(plate: str, parking: ParkingDep, channel: ChannelDep,
                 user_id: Annotated[str, Query(json_schema_extra={"minLength": 1, "maxLength": 128,
                                                                  "pattern": TEXT_PATTERN})]) -> None:
    parking.unbind_plate(plate, channel.user(user_id))
