"""Operators and their API keys (store/credentials.py keeps the keys, hashed)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import NamedTuple

from district_engine.errors import InvalidInputError, NotFoundError
from district_engine.store import keys
from district_engine.store.credentials import Credentials

__all__ = ["OperatorStore", "Operator", "KEY_PREFIX", "check_name"]

KEY_PREFIX = "de_live_"


class Operator(NamedTuple):
    id: str
    name: str
    created_at: str


def check_name(name) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidInputError("must be a non-empty string of at most 200 characters", field="name")
    return name.strip()


class OperatorStore:
    def __init__(self, client):
        self._client = client
        self.keys = Credentials(client, KEY_PREFIX)

    def create(self, name: str) -> tuple[Operator, str]:
        """A new operator and its API key (the only time the key is seen)."""
        op = Operator(f"op_{uuid.uuid4().hex[:16]}", check_name(name),
                      datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self._client.hset(keys.operator(op.id), mapping={"name": op.name, "created_at": op.created_at})
        api_key = self.keys.issue(op.id)
        self._client.sadd(keys.operators(), op.id)
        return op, api_key

    def authenticate(self, api_key: str) -> str | None:
        """The operator id an API key belongs to, or None."""
        return self.keys.resolve(api_key)

    def rotate_key(self, operator_id: str, grace_s: int) -> str:
        """A new key; the old ones work ``grace_s`` more (0: revoked now)."""
        self.get(operator_id)
        return self.keys.rotate(operator_id, grace_s * 1000)

    def get(self, operator_id: str) -> Operator:
        row = self._client.hgetall(keys.operator(operator_id))
        if not row:
            raise NotFoundError(f"no operator {operator_id!r}", field="operator_id")
        return Operator(operator_id, row[b"name"].decode(), row[b"created_at"].decode())
