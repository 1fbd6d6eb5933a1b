"""Operators and their API keys. A key is shown once, at creation; Redis keeps only its SHA-256
(keys are 256-bit random tokens, so a fast hash is enough: there is nothing to brute-force)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timezone
from typing import NamedTuple

from district_engine.errors import InvalidInputError, NotFoundError
from district_engine.store import keys

__all__ = ["OperatorStore", "Operator"]

KEY_PREFIX = "de_live_"


class Operator(NamedTuple):
    id: str
    name: str
    created_at: str


def _digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class OperatorStore:
    def __init__(self, client):
        self._client = client

    def create(self, name: str) -> tuple[Operator, str]:
        """A new operator and its API key (the only time the key is seen)."""
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise InvalidInputError("must be a non-empty string of at most 200 characters", field="name")
        op = Operator(f"op_{uuid.uuid4().hex[:16]}", name.strip(), datetime.now(timezone.utc).isoformat(timespec="seconds"))
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        self._client.hset(keys.operator(op.id), mapping={"name": op.name, "created_at": op.created_at})
        self._client.set(keys.api_key(_digest(api_key)), op.id)
        self._client.sadd(keys.operators(), op.id)
        return op, api_key

    def authenticate(self, api_key: str) -> str | None:
        """The operator id an API key belongs to, or None."""
        if not api_key or not api_key.startswith(KEY_PREFIX):
            return None
        found = self._client.get(keys.api_key(_digest(api_key)))
        return found.decode() if found else None

    def get(self, operator_id: str) -> Operator:
        row = self._client.hgetall(keys.operator(operator_id))
        if not row:
            raise NotFoundError(f"no operator {operator_id!r}", field="operator_id")
        return Operator(operator_id, row[b"name"].decode(), row[b"created_at"].decode())
