"""Districts in Redis: the system of record for operators' uploads.

Each district is a hash (``keys.district``) holding its GeoJSON Feature and owner; the id set
``keys.districts`` lists them; every change appends a signal to ``keys.changes`` so that workers
reload that one district (see ``changes``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import NamedTuple

import redis

from district_engine.districts.model import District
from district_engine.errors import ConflictError, NotFoundError, StoreUnavailableError
from district_engine.store import changes, keys
from district_engine.store.scripts import Scripts

__all__ = ["DistrictStore", "StoredDistrict"]

class StoredDistrict(NamedTuple):
    district: District
    owner: str
    created_at: str
    updated_at: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class DistrictStore:
    def __init__(self, client):
        self._client = client
        self._scripts = Scripts(client)

    def put(self, district: District, owner: str) -> bool:
        """Create or replace ``district`` for ``owner``; True if created. ConflictError if the id is another's."""
        try:
            status = self._scripts("put_district", [keys.district(district.id)],
                                   [owner, json.dumps(district.to_geojson(), ensure_ascii=False), _now()])
        except redis.ResponseError as exc:
            if "OWNED_BY_OTHER" in str(exc):
                raise ConflictError("this district id is taken", field="id", code="district_id_taken") from None
            raise
        self._signal(district.id, "put")
        return status == 1

    def get(self, district_id: str, owner: str | None = None) -> StoredDistrict:
        """The district, or NotFoundError; with ``owner``, another owner's district is not found either."""
        try:
            row = self._client.hgetall(keys.district(district_id))
        except redis.ConnectionError as exc:
            raise StoreUnavailableError(f"Redis unavailable: {exc}") from exc
        if not row or (owner is not None and row[b"owner"].decode() != owner):
            raise NotFoundError(f"no district {district_id!r}", field="district_id")
        return self._decode(row)

    def delete(self, district_id: str, owner: str) -> None:
        """Delete the owner's district, or NotFoundError (also for another owner's)."""
        if not self._scripts("delete_district", [keys.district(district_id)], [owner]):
            raise NotFoundError(f"no district {district_id!r}", field="district_id")
        self._client.srem(keys.districts(), district_id)
        self._signal(district_id, "delete")

    def all(self) -> list[StoredDistrict]:
        """Every stored district (for building an index at start-up)."""
        ids = sorted(m.decode() for m in self._client.smembers(keys.districts()))
        pipe = self._client.pipeline(transaction=False)
        for district_id in ids:
            pipe.hgetall(keys.district(district_id))
        return [self._decode(row) for row in pipe.execute() if row]

    def _signal(self, district_id: str, op: str) -> None:
        if op == "put":
            self._client.sadd(keys.districts(), district_id)
        changes.signal(self._client, "district", district_id, op)

    @staticmethod
    def _decode(row: dict) -> StoredDistrict:
        return StoredDistrict(District.from_geojson(json.loads(row[b"geojson"])), row[b"owner"].decode(),
                              row[b"created_at"].decode(), row[b"updated_at"].decode())
