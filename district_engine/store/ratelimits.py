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
        return self.admit_many([(subjects, limits, event_id)], now_ms, window_ms)[0]

    def admit_many(self, events: list[tuple[list[str], list[int], str]], now_ms: int, window_ms: int) -> list[int]:
        """``admit`` for many (subjects, limits, event id) events, in one round trip."""
        calls = [("rate_limit", [keys.rate_limit(s)], [now_ms, window_ms, limit, event_id])
                 for subjects, limits, event_id in events for s, limit in zip(subjects, limits)]
        waits = iter(self._scripts.pipeline(calls))
        return [max((int(next(waits)) for _ in subjects), default=0) for subjects, _, _ in events]
