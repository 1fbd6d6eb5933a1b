"""Push endpoints: the webhook URLs that receive pushed offers, what finally failed to reach them,
and bringing both back."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import OperatorOrChannelDep
from api.deps import EndpointsDep
from api.idempotency import idempotent
from api.schemas.core import error_responses
from api.schemas.push import (DeadLetter, DeadLetterPage, PushEndpointCreate, PushEndpointCreated, PushEndpointPublic,
                              ReplayQueued)
from district_engine.store.endpoints import Endpoint

router = APIRouter(prefix="/v1/push-endpoints", tags=["push"],
                   responses=error_responses(401, 403, 404, 409, 422, 503))


def _public(e: Endpoint) -> dict:
    return dict(id=e.id, url=e.url, scope="channel" if e.owner.startswith("ch_") else "operator", state=e.state,
                disabled_reason=e.disabled_reason, created_at=e.created_at)


@router.post("", status_code=201, response_model=PushEndpointCreated,
             summary="Register a webhook URL (operator: its campaigns' events; channel: its users' events)")
@idempotent
def create_endpoint(body: PushEndpointCreate, endpoints: EndpointsDep,
                    owner: OperatorOrChannelDep) -> PushEndpointCreated:
    e = endpoints.create(body.url, owner.id)
    return PushEndpointCreated(**_public(e), secret=e.secret)


@router.get("", response_model=list[PushEndpointPublic], summary="Your push endpoints")
def list_endpoints(endpoints: EndpointsDep, owner: OperatorOrChannelDep) -> list[PushEndpointPublic]:
    return [PushEndpointPublic(**_public(e)) for e in endpoints.of(owner.id)]


@router.get("/{endpoint_id}", response_model=PushEndpointPublic)
def get_endpoint(endpoint_id: str, endpoints: EndpointsDep, owner: OperatorOrChannelDep) -> PushEndpointPublic:
    return PushEndpointPublic(**_public(endpoints.get(endpoint_id, owner.id)))


@router.delete("/{endpoint_id}", status_code=204,
               summary="Stop pushing to this URL (retries in progress end; its dead letters go with it)")
def delete_endpoint(endpoint_id: str, endpoints: EndpointsDep, owner: OperatorOrChannelDep) -> None:
    endpoints.delete(endpoint_id, owner.id)


@router.post("/{endpoint_id}:enable", response_model=PushEndpointPublic,
             summary="Send to a disabled endpoint again (events pushed while it was disabled are not sent)")
def enable_endpoint(endpoint_id: str, endpoints: EndpointsDep, owner: OperatorOrChannelDep) -> PushEndpointPublic:
    return PushEndpointPublic(**_public(endpoints.enable(endpoint_id, owner.id)))


@router.get("/{endpoint_id}/dead-letters", response_model=DeadLetterPage,
            summary="Deliveries that failed for the whole retry period (24 h), newest first, a page at a time")
def dead_letters(endpoint_id: str, endpoints: EndpointsDep, owner: OperatorOrChannelDep,
                 cursor: Annotated[str | None, Query(max_length=50,
                                                     description="next_cursor of the page before")] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> DeadLetterPage:
    page, next_cursor = endpoints.dead_letters(endpoint_id, owner.id, cursor, limit)
    return DeadLetterPage(items=[DeadLetter(id=d["id"], event_id=d["event_id"], endpoint_id=d["endpoint_id"],
                                            attempts=int(d["attempt"]), first_attempt_ms=int(d["first_ms"]),
                                            failed_at_ms=int(d["at_ms"]), error=d["error"],
                                            status=int(d["status"]) if d.get("status") else None,
                                            payload=d["payload"]) for d in page],
                          next_cursor=next_cursor)


@router.post("/{endpoint_id}/dead-letters:replay", response_model=ReplayQueued,
             summary="Queue dead letters (oldest first, up to limit) for delivery again, same webhook-ids")
@idempotent
def replay_dead_letters(endpoint_id: str, endpoints: EndpointsDep, owner: OperatorOrChannelDep,
                        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> ReplayQueued:
    queued, left = endpoints.replay(endpoint_id, owner.id, limit)
    return ReplayQueued(queued=queued, left=left)
