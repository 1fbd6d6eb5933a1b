"""Timed work in Redis sorted sets (score: when due, ms), claimed under a lease so that work whose
claimer dies comes back by itself: the job schedule (broadcasts on go-live, rain refunds at the
end) and the webhook retries both use it. Work done twice must be harmless: it is (broadcasts
and refunds are idempotent, a webhook is at least once)."""

from __future__ import annotations

from district_engine.store import keys
from district_engine.store.scripts import Scripts

__all__ = ["Schedule", "TimedSet"]


class TimedSet:
    """One sorted set of timed work."""

    def __init__(self, client, key: str):
        self._client = client
        self._scripts = Scripts(client)
        self.key = key

    def put(self, member: str, due_ms: int) -> None:
        self._client.zadd(self.key, {member: due_ms})

    def claim(self, now_ms: int, lease_ms: int, n: int = 100) -> tuple[list[str], int]:
        """Due members (at most n) and the receipt to finish them with."""
        claimed = TimedSet.claim_each([self], now_ms, lease_ms, n)
        return (claimed[0][1] if claimed else []), now_ms + lease_ms

    @staticmethod
    def claim_each(sets: list[TimedSet], now_ms: int, lease_ms: int,
                   n: int = 100) -> list[tuple[TimedSet, list[str], int]]:
        """``claim`` on every one of ``sets`` (of one client) in one round trip: (set, members,
        receipt) for each set that had due members."""
        if not sets:
            return []
        calls = [("claim_due", [s.key], [now_ms, lease_ms, n]) for s in sets]
        return [(s, [m.decode() for m in due], now_ms + lease_ms)
                for s, due in zip(sets, sets[0]._scripts.pipeline(calls)) if due]

    def finish(self, member: str, receipt: int, then: tuple[str, int] | None = None) -> bool:
        """Remove a claimed member (unless re-scheduled or re-claimed since) and, atomically, put
        ``then`` = (member, due ms) in its place; False if it was left alone."""
        follow, due_ms = then or ("", 0)
        return bool(self._scripts("finish_claimed", [self.key], [member, receipt, follow, due_ms]))

    def __len__(self) -> int:
        return self._client.zcard(self.key)


class Schedule(TimedSet):
    """The engine's jobs: ``"<kind>:<campaign id>"``."""

    def __init__(self, client):
        super().__init__(client, keys.schedule())

    def job(self, kind: str, campaign_id: str, due_ms: int) -> None:
        self.put(f"{kind}:{campaign_id}", due_ms)
