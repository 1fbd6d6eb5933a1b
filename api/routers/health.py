import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import declare
from api.deps import CatalogDep
from district_engine.errors import UnauthorizedError

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="The process is up")
@declare()
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Redis answers (within DE_REDIS_TIMEOUT_MS) and the index is loaded")
@declare()
async def readyz(request: Request, catalog: CatalogDep) -> JSONResponse:
    """Asked again each time: ready again by itself once Redis answers again."""
    try:
        await request.app.state.store_calls.run(catalog.ping)
        districts = len(catalog.view.index)
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure as not ready
        return JSONResponse({"status": "not_ready", "reason": type(exc).__name__}, status_code=503,
                            headers={"Retry-After": "1"})
    return JSONResponse({"status": "ready", "districts": districts})


@router.get("/metrics", summary="Prometheus metrics (with DE_METRICS_TOKEN set: Authorization: Bearer <it>)",
            response_class=Response,
            responses={200: {"description": "the Prometheus text format",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
@declare()
def metrics(request: Request) -> Response:
    """Public unless DE_METRICS_TOKEN is set: route names and volumes are a deployment's business."""
    token = request.app.state.settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise UnauthorizedError("/metrics takes the deployment's metrics token (DE_METRICS_TOKEN)")
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
