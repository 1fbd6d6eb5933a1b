"""Districts in Redis: the system of record for operators' uploads.

Each district is a hash (``keys.district``) holding its GeoJSON Feature and owner; the id set
``keys.districts`` lists them; every change appends a signal to ``keys.changes`` so that workers
reload that one district (see ``changes``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import NamedTuple

from district_engine.districts.model import District
from district_engine.errors import ConflictError, NotFoundError, StoreError
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
        return self.put_many([district], owner) == 1

    def put_many(self, districts: list[District], owner: str, chunk: int = 1000) -> int:
        """``put`` for many districts (a bulk import), a chunk per two round trips (the districts,
        then their signals: a signal must not overtake what it announces); how many were new.
        Every district whose id is not another owner's is stored and signalled; then, if some
        were, ConflictError names the first."""
        created, taken = 0, []
        for start in range(0, len(districts), chunk):
            part = districts[start:start + chunk]
            calls = [("put_district", [keys.district(d.id)], [owner, json.dumps(d.to_geojson(), ensure_ascii=False), _now()])
                     for d in part]
            stored = []
            for d, status in zip(part, self._scripts.pipeline(calls, raise_on_error=False)):
                if isinstance(status, StoreError) and "OWNED_BY_OTHER" in str(status):
                    taken.append(d.id)
                elif isinstance(status, Exception):
                    raise status
                else:
                    stored.append(d.id)
                    created += status == 1
            pipe = self._client.pipeline(transaction=False)
            for district_id in stored:
                self._signal(district_id, "put", pipe)
            pipe.execute()
        if taken:
            raise ConflictError(f"this district id is taken: {taken[0]!r}", field="id", code="district_id_taken")
        return created

    def get(self, district_id: str, owner: str | None = None) -> StoredDistrict:
        """The district, or NotFoundError; with ``owner``, another owner's district is not found either."""
        row = self._client.hgetall(keys.district(district_id))
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

    def _signal(self, district_id: str, op: str, pipe=None) -> None:
        client = pipe if pipe is not None else self._client
        if op == "put":
            client.sadd(keys.districts(), district_id)
        changes.signal(client, "district", district_id, op)

    @staticmethod
    def _decode(row: dict) -> StoredDistrict:
        return StoredDistrict(District.from_geojson(json.loads(row[b"geojson"])), row[b"owner"].decode(),
                              row[b"created_at"].decode(), row[b"updated_at"].decode())
