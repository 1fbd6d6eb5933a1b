"""Time as the engine keeps it: aware UTC datetimes at the edges, integer milliseconds in Redis."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

__all__ = ["Clock", "DAY_MS", "ms", "utcnow"]

DAY_MS = 86_400_000

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def ms(t: datetime) -> int:
    """Milliseconds since the epoch (what scripts and sorted sets compare)."""
    return int(t.timestamp() * 1000)
