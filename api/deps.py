"""Request dependencies: the engine, the calling operator, the admin."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from district_engine.engine import Engine
from district_engine.errors import UnauthorizedError
from district_engine.store.endpoints import ADMIN

_bearer = HTTPBearer(auto_error=False)


async def get_engine(request: Request) -> Engine:  # async: no thread hop for the feed
    return request.app.state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_operator(engine: EngineDep, credentials: Credentials) -> str:
    """The id of the operator whose API key is the bearer token."""
    if credentials is None:
        raise UnauthorizedError("an operator API key is required: Authorization: Bearer <key>")
    operator_id = engine.operators.authenticate(credentials.credentials)
    if operator_id is None:
        raise UnauthorizedError("this API key is not valid")
    return operator_id


def require_admin(request: Request, credentials: Credentials) -> None:
    token = request.app.state.settings.admin_token
    if not token:
        raise UnauthorizedError("admin access is disabled: set DE_ADMIN_TOKEN")
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        raise UnauthorizedError("the admin token is required")


def get_principal(request: Request, engine: EngineDep, credentials: Credentials) -> str:
    """Who calls, for what both the admin and operators may do: ADMIN ("") or an operator id."""
    token = request.app.state.settings.admin_token
    if token and credentials is not None and hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        return ADMIN
    return get_operator(engine, credentials)


OperatorDep = Annotated[str, Depends(get_operator)]
PrincipalDep = Annotated[str, Depends(get_principal)]
AdminDep = Annotated[None, Depends(require_admin)]
