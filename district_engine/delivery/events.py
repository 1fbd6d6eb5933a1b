"""Push events: what a webhook receiver and a server-sent-event client get for one offer to one
user. Pure: values in, a JSON string out. The shape follows Standard Webhooks' recommendation
(``type``, ``timestamp``, ``data``); coordinates are not included (the user's position never leaves
the engine)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from itertools import count
from typing import Callable

from district_engine.campaigns.model import Campaign

__all__ = ["EVENT_TYPE", "EventIds", "offer_events"]

EVENT_TYPE = "offer.delivered"


class EventIds:
    """Unique event ids (``evt_`` + 12 random hex + a counter): cheaper than a uuid per event, and
    unique across processes by the random part. The id is the webhook-id, stable across retries."""

    def __init__(self):
        self._prefix = f"evt_{os.urandom(6).hex()}"
        self._n = count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._n):08x}"


def offer_events(campaign: Campaign, district_name: str, reason: str) -> Callable[[str, str, float, datetime], str]:
    """A maker of this campaign's events: ``make(event_id, user_id, distance_m, now)`` -> compact
    JSON. ``reason`` is "entered" (the user came into reach) or "broadcast" (the campaign went live
    with the user in reach). The campaign's part is serialized once: keep the maker and reuse it."""
    c = campaign
    while True:  # a hole no field of the campaign contains (a random one, drawn again on the rare clash)
        hole = f"\x00{os.urandom(8).hex()}"
        doc = json.dumps({
            "id": hole, "type": EVENT_TYPE, "timestamp": hole,
            "data": {"user_id": hole, "reason": reason, "campaign_id": c.id, "district_id": c.district_id,
                     "district_name": district_name, "kind": c.kind.value, "title": c.title, "body": c.body,
                     "distance_m": hole, "starts_at": c.starts_at.isoformat(), "ends_at": c.ends_at.isoformat()},
        }, ensure_ascii=False, separators=(",", ":"))
        parts = doc.split(json.dumps(hole))
        if len(parts) == 5:
            break
    a, b, c_, d, e = parts

    def make(event_id: str, user_id: str, distance_m: float, now: datetime) -> str:
        return (f"{a}{json.dumps(event_id)}{b}\"{now.isoformat()}\"{c_}{json.dumps(user_id, ensure_ascii=False)}{d}"
                f"{round(distance_m, 1)}{e}")

    return make
