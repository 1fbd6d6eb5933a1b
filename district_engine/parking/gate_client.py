"""What a gate controller sends: one plate event, signed with its lot's webhook secret (Standard
Webhooks). The `district-engine gate` command, the benchmarks and the tests send theirs with it."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime

from district_engine.signing import headers

__all__ = ["gate_event_request"]


def gate_event_request(secret: str, event: str, plate: str, captured_at: datetime, lane: str = "lane-1",
                       confidence: float = 0.97, webhook_id: str | None = None) -> tuple[bytes, dict]:
    """The body and headers of ``POST /v1/parking/lots/{lot}/gate-events`` for ``event`` ("entry"
    or "exit"); a new webhook-id unless one is given (a retry sends the same one)."""
    body = json.dumps({"type": f"vehicle.{event}", "plate": plate, "confidence": confidence,
                       "captured_at": captured_at.isoformat(), "lane": lane}, ensure_ascii=False).encode()
    h = headers(secret, webhook_id or f"msg_{uuid.uuid4().hex}", int(time.time()), body)
    return body, h | {"Content-Type": "application/json"}
