"""Push endpoints: the webhook URLs that receive pushed offers, and what finally failed to reach them."""

from fastapi import APIRouter, Request

from api.auth import OperatorOrChannelDep
from api.deps import EngineDep
from api.idempotency import idempotent
from api.schemas.core import error_responses
from api.schemas.push import DeadLetter, PushEndpointCreate, PushEndpointCreated, PushEndpointPublic
from district_engine.delivery.urls import check_endpoint_url
from district_engine.store.endpoints import Endpoint

router = APIRouter(prefix="/v1/push-endpoints", tags=["push"], responses=error_responses(401, 403, 404, 422, 503))


def _public(e: Endpoint) -> dict:
    return dict(id=e.id, url=e.url, scope="channel" if e.owner.startswith("ch_") else "operator", state=e.state,
                disabled_reason=e.disabled_reason, created_at=e.created_at)


@router.post("", status_code=201, response_model=PushEndpointCreated,
             summary="Register a webhook URL (operator: its campaigns' events; channel: its users' events)")
@idempotent
def create_endpoint(body: PushEndpointCreate, request: Request, engine: EngineDep,
                    owner: OperatorOrChannelDep) -> PushEndpointCreated:
    allow_private = request.app.state.settings.push_allow_private_urls
    e = engine.endpoints.create(check_endpoint_url(body.url, allow_private), owner.id)
    return PushEndpointCreated(**_public(e), secret=e.secret)


@router.get("", response_model=list[PushEndpointPublic], summary="Your push endpoints")
def list_endpoints(engine: EngineDep, owner: OperatorOrChannelDep) -> list[PushEndpointPublic]:
    return [PushEndpointPublic(**_public(e)) for e in engine.endpoints.of(owner.id)]


@router.get("/{endpoint_id}", response_model=PushEndpointPublic)
def get_endpoint(endpoint_id: str, engine: EngineDep, owner: OperatorOrChannelDep) -> PushEndpointPublic:
    return PushEndpointPublic(**_public(engine.endpoints.get(endpoint_id, owner.id)))


@router.delete("/{endpoint_id}", status_code=204, summary="Stop pushing to this URL (retries in progress end)")
def delete_endpoint(endpoint_id: str, engine: EngineDep, owner: OperatorOrChannelDep) -> None:
    engine.endpoints.delete(endpoint_id, owner.id)


@router.get("/{endpoint_id}/dead-letters", response_model=list[DeadLetter],
            summary="Deliveries that failed for the whole retry period (24 h), newest first")
def dead_letters(endpoint_id: str, engine: EngineDep, owner: OperatorOrChannelDep) -> list[DeadLetter]:
    e = engine.endpoints.get(endpoint_id, owner.id)
    return [DeadLetter(id=d["id"], event_id=d["event_id"], endpoint_id=d["endpoint_id"], attempts=int(d["attempt"]),
                       first_attempt_ms=int(d["first_ms"]), failed_at_ms=int(d["at_ms"]), error=d["error"],
                       payload=d["payload"])
            for d in engine.outbox.dead_letters({e.id})]
