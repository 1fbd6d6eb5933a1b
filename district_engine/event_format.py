"""What an offer event's maker and its filler share: the template's separator, event ids, and the
JSON text of the holes that are not the domain's (the timestamp, the distance).

A campaign's event is serialized once as a template (``delivery/events.py``): its JSON in five
pieces around the event id, the timestamp, the user and the distance, joined by ``TEMPLATE_SEP``.
It is filled in Python (``delivery.events.render``) and in Redis (``store/lua/deliver_offers.lua``,
for what it pushes); both take these pieces from here, so neither side depends on the other.
Pure, but for the random part of an event id.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone

__all__ = ["TEMPLATE_SEP", "EventIds", "distance_json", "timestamp_json"]

TEMPLATE_SEP = "\x1f"  # a control character: JSON text never holds it raw


class EventIds:
    """Unique event ids (``evt_`` + 12 random hex + a counter in at least 8 hex digits): cheaper
    than a uuid per event, and unique across processes by the random part. The id is the
    webhook-id, stable across retries. Ids are handed out one at a time or as a block
    (``reserve``), which the delivery script numbers itself."""

    def __init__(self) -> None:
        self.prefix = f"evt_{os.urandom(6).hex()}"
        self._next = 0
        self._lock = threading.Lock()

    def reserve(self, n: int) -> int:
        """The first of ``n`` consecutive numbers now this caller's: ids ``format(first + i)``."""
        with self._lock:
            first, self._next = self._next, self._next + n
        return first

    def format(self, n: int) -> str:
        return f"{self.prefix}{n:08x}"

    def __call__(self) -> str:
        return self.format(self.reserve(1))


def distance_json(distance_m: float | None) -> str:
    """An event's distance as its JSON number: metres, to 0.1 m; null when unknown (a members-only
    offer pushed to a member whose position is not known)."""
    return "null" if distance_m is None else repr(round(float(distance_m), 1))


def timestamp_json(now_ms: int) -> str:
    """An event's timestamp as its JSON string: RFC 3339, UTC, to the millisecond."""
    return json.dumps(datetime.fromtimestamp(now_ms / 1000, timezone.utc).isoformat(timespec="milliseconds"))
