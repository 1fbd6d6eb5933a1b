"""Red-envelope rains: grabs by a channel's users, figures for the owner."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth import ChannelUserDep, OperatorDep
from api.deps import RainsDep
from api.errors import error_body
from api.schemas.core import GrabIn, GrabOut, RainFiguresOut, RequestKey, error_responses
from district_engine.redenvelope.outcomes import GrabStatus

router = APIRouter(prefix="/v1/red-envelopes", tags=["red envelopes"], responses=error_responses(401, 403, 404, 413, 422, 503))

_MISSED = {GrabStatus.SOLD_OUT: "every packet has been grabbed", GrabStatus.NOT_ACTIVE: "the rain is not running now"}


@router.post("/{campaign_id}/grab", response_model=GrabOut,
             responses={403: {"description": "out_of_range: the user is beyond the campaign's radius; "
                                             "untrusted_location: the position is mocked, inaccurate or an "
                                             "impossible jump (the message says which); wrong_user"},
                        409: {"description": "sold_out or not_active"},
                        429: {"description": "rate_limited: too many attempts; see Retry-After"}},
             summary="Grab a packet: won (with the amount) or already_grabbed (the same amount again)")
# async, and batched with the other grabs of the same turn of the loop (api/batching.py): three
# short Redis round trips for all of them (limits, the users' last positions, the grab scripts),
# on a Redis thread (api/offload.py).
async def grab(campaign_id: str, body: GrabIn, request: Request, caller: ChannelUserDep,
               idempotency_key: RequestKey = None):
    result, grab_id = await request.app.state.grab_batcher.grab(
        campaign_id, caller.user(body.user_id), body.lat, body.lng, body.coord, address=caller.address,
        accuracy_m=body.accuracy_m, mocked=body.mocked, request_key=idempotency_key)
    if result.status.missed:
        return JSONResponse({"status": result.status} | error_body(result.status, _MISSED[result.status]),
                            status_code=409)
    return GrabOut(status=result.status, amount_cents=result.amount_cents,
                   grab_id=grab_id if result.status is GrabStatus.WON else None)


@router.get("/{campaign_id}", response_model=RainFiguresOut,
            summary="The rain's figures (owner); won + remaining + refunded == total, always")
def figures(campaign_id: str, rains: RainsDep, operator: OperatorDep) -> RainFiguresOut:
    f, state = rains.figures(campaign_id, operator)
    return RainFiguresOut(campaign_id=campaign_id, **(f._asdict() | {"state": state.value}))
