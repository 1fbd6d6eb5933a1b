"""Users' last known positions (WGS-84), kept with a TTL; never exposed. Nothing reads
them yet: they are there for the broadcast on go-live (the push issue), which finds users by them.

Written in the same round trip as the deliveries of a location update (``record_command``)."""

from __future__ import annotations

import json

from district_engine.store import keys

__all__ = ["PositionStore"]


class PositionStore:
    def __init__(self, client, ttl_s: int):
        self._client = client
        self.ttl_s = ttl_s

    def record_command(self, user_id: str, lat: float, lng: float, at: str) -> tuple[str, tuple, dict]:
        """The command that records a position, for a caller's pipeline: (method, args, kwargs)."""
        return "set", (keys.user_position(user_id), json.dumps([lat, lng, at])), {"ex": self.ttl_s}
