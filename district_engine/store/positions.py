"""Users' last known positions (WGS-84), kept with a TTL for the broadcast on go-live; never exposed."""

from __future__ import annotations

import json

from district_engine.store import keys

__all__ = ["PositionStore"]


class PositionStore:
    def __init__(self, client, ttl_s: int):
        self._client = client
        self.ttl_s = ttl_s

    def swap(self, user_id: str, lat: float, lng: float, at: str) -> tuple[float, float] | None:
        """Record the user's position and return the previous one (None if unknown or expired).

        One atomic SET ... GET, so two concurrent updates each see a real predecessor.
        """
        old = self._client.set(keys.user_position(user_id), json.dumps([lat, lng, at]), ex=self.ttl_s, get=True)
        if not old:
            return None
        prev = json.loads(old)
        return prev[0], prev[1]
