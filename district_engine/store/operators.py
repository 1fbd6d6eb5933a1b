"""Operators and their API keys (store/credentials.py keeps the keys, hashed)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

from district_engine.errors import InvalidInputError, NotFoundError
from district_engine.validation import check_text
from district_engine.ids import new_id
from district_engine.store import keys
from district_engine.store.credentials import Credentials

__all__ = ["OperatorStore", "Operator", "KEY_PREFIX", "check_name"]

KEY_PREFIX = "de_live_"


class Operator(NamedTuple):
    id: str
    name: str
    created_at: str


def check_name(name) -> str:
    if not check_text(name, "name", 200).strip():
        raise InvalidInputError("must be a non-empty string of at most 200 characters", field="name")
    return name.strip()


class OperatorStore:
    def __init__(self, client):
        self._client = client
        self.keys = Credentials(client, KEY_PREFIX)

    def create(self, name: str) -> tuple[Operator, str]:
        """A new operator and its API key (the only time the key is seen). The retry of a create
        whose answer was lost has the same id (district_engine/ids.py): it finds the operator and
        gives it a new key, revoking the lost one, which nobody holds."""
        op = Operator(new_id("op"), check_name(name), datetime.now(timezone.utc).isoformat(timespec="seconds"))
        before = self._client.hget(keys.operator(op.id), "created_at")
        if before is not None:
            op = op._replace(created_at=before.decode())
        self._client.hset(keys.operator(op.id), mapping={"name": op.name, "created_at": op.created_at})
        api_key = self.keys.rotate(op.id, 0) if before is not None else self.keys.issue(op.id)
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
