from fastapi import APIRouter

from api.deps import AdminDep, EngineDep, OperatorDep
from api.schemas.core import OperatorCreate, OperatorCreated, OperatorPublic, error_responses

router = APIRouter(prefix="/v1/operators", tags=["operators"], responses=error_responses(401, 422, 503))


@router.post("", status_code=201, response_model=OperatorCreated, summary="Create an operator (admin token)")
def create_operator(body: OperatorCreate, engine: EngineDep, _: AdminDep) -> OperatorCreated:
    op, api_key = engine.operators.create(body.name)
    return OperatorCreated(id=op.id, name=op.name, api_key=api_key)


@router.get("/me", response_model=OperatorPublic, summary="Who this API key belongs to (the console signs in with it)")
def me(engine: EngineDep, operator: OperatorDep) -> OperatorPublic:
    op = engine.operators.get(operator)
    return OperatorPublic(id=op.id, name=op.name)
