"""Sliding-window rate limits in Redis (``rate_limit.lua``), one sorted set per subject, so that a
limit holds across every API process."""

from __future__ import annotations

from district_engine.store import keys
from district_engine.store.scripts import Scripts

__all__ = ["RateLimits"]


class RateLimits:
    def __init__(self, client):
        self._scripts = Scripts(client)

    def admit(self, subjects: list[str], now_ms: int, window_ms: int, limits: list[int], event_id: str) -> int:
        """Count one event against each subject's window (one round trip); 0 if all allow it, else
        the ms to wait. An event refused by one subject is still counted by the others, which
        only makes a flood wait longer."""
        calls = [("rate_limit", [keys.rate_limit(s)], [now_ms, window_ms, limit, event_id])
                 for s, limit in zip(subjects, limits)]
        return max((int(x) for x in self._scripts.pipeline(calls)), default=0)
