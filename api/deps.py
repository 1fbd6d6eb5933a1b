"""Request dependencies: the engine and the identity service (who calls is api/auth.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from district_engine.engine import Engine
from district_engine.identity.service import Identity


async def get_engine(request: Request) -> Engine:  # async: no thread hop for the feed
    return request.app.state.engine


async def get_identity(request: Request) -> Identity:
    return request.app.state.identity


EngineDep = Annotated[Engine, Depends(get_engine)]
IdentityDep = Annotated[Identity, Depends(get_identity)]
