"""Request dependencies: the engine, the identity and the guides services (who calls is api/auth.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from district_engine.engine import Engine
from district_engine.guides import Guides
from district_engine.identity.service import Identity


async def get_engine(request: Request) -> Engine:  # async: no thread hop for the feed
    return request.app.state.engine


async def get_identity(request: Request) -> Identity:
    return request.app.state.identity


async def get_guides(request: Request) -> Guides:
    return request.app.state.guides


EngineDep = Annotated[Engine, Depends(get_engine)]
GuidesDep = Annotated[Guides, Depends(get_guides)]
IdentityDep = Annotated[Identity, Depends(get_identity)]
