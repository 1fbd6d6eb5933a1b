"""Operators and channels: created and re-keyed by the admin; each can ask who it is."""

from fastapi import APIRouter

from api.auth import AdminDep, ChannelDep, OperatorDep
from api.deps import IdentityDep
from api.idempotency import idempotent
from api.schemas.core import (ChannelCreated, ChannelKeysRotated, ChannelPublic, ChannelRotate, KeyRotate,
                              KeyRotated, OperatorCreate, OperatorCreated, OperatorPublic, error_responses)

router = APIRouter(prefix="/v1", responses=error_responses(401, 403, 422, 503))


@router.post("/operators", status_code=201, response_model=OperatorCreated, tags=["operators"],
             summary="Create an operator (admin token); its API key is shown once")
@idempotent
def create_operator(body: OperatorCreate, identity: IdentityDep, _: AdminDep) -> OperatorCreated:
    op, api_key = identity.create_operator(body.name)
    return OperatorCreated(id=op.id, name=op.name, api_key=api_key)


@router.get("/operators/me", response_model=OperatorPublic, tags=["operators"],
            summary="Who this API key belongs to (the console signs in with it)")
def me(identity: IdentityDep, operator: OperatorDep) -> OperatorPublic:
    op = identity.operators.get(operator)
    return OperatorPublic(id=op.id, name=op.name)


@router.post("/operators/{operator_id}/keys", response_model=KeyRotated, tags=["operators"],
             responses=error_responses(404), summary="A new API key (admin); the old ones work grace_s more")
def rotate_operator_key(operator_id: str, body: KeyRotate, identity: IdentityDep, _: AdminDep) -> KeyRotated:
    return KeyRotated(id=operator_id, api_key=identity.rotate_operator_key(operator_id, body.grace_s),
                      grace_s=body.grace_s)


@router.post("/channels", status_code=201, response_model=ChannelCreated, tags=["channels"],
             summary="Create a channel, an app backend serving end users (admin token); its secrets are shown once")
@idempotent
def create_channel(body: OperatorCreate, identity: IdentityDep, _: AdminDep) -> ChannelCreated:
    ch, api_key, token_secret = identity.create_channel(body.name)
    return ChannelCreated(id=ch.id, name=ch.name, api_key=api_key, token_secret=token_secret)


@router.get("/channels/me", response_model=ChannelPublic, tags=["channels"],
            summary="Who this channel key belongs to")
def channel_me(identity: IdentityDep, channel: ChannelDep) -> ChannelPublic:
    ch = identity.channels.get(channel.id)
    return ChannelPublic(id=ch.id, name=ch.name)


@router.post("/channels/{channel_id}/keys", response_model=ChannelKeysRotated, tags=["channels"],
             responses=error_responses(404),
             summary="A new API key, and optionally a new token secret (admin); the old ones work grace_s more")
def rotate_channel_key(channel_id: str, body: ChannelRotate, identity: IdentityDep, _: AdminDep) -> ChannelKeysRotated:
    api_key, token_secret = identity.rotate_channel_key(channel_id, body.grace_s, body.token_secret)
    return ChannelKeysRotated(id=channel_id, api_key=api_key, token_secret=token_secret, grace_s=body.grace_s)
