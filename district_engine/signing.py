"""Standard Webhooks signatures (https://www.standardwebhooks.com): sign what the engine sends
(push webhooks) and verify what it receives (gate events). Pure: values in, values out.

A secret is ``whsec_`` + base64 of the key. The signed content is ``{id}.{timestamp}.{body}`` with
the raw body bytes; the header carries one or more space-separated ``v1,<base64 HMAC-SHA256>``
(several while a secret is being rotated).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from district_engine.errors import UnauthorizedError

__all__ = ["new_secret", "sign", "headers", "verify", "TOLERANCE_S"]

PREFIX = "whsec_"
TOLERANCE_S = 300


def new_secret() -> str:
    """A fresh secret of 24 random bytes: ``whsec_...``."""
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def sign(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp_s}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def headers(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """The three headers of a signed request."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp_s),
            "webhook-signature": sign(secret, msg_id, timestamp_s, body)}


def verify(secrets_: list[str], msg_id: str | None, timestamp: str | None, signature: str | None,
           body: bytes, now_s: float, tolerance_s: int = TOLERANCE_S) -> int:
    """Check a received message against any of ``secrets_`` (the current one and, during a
    rotation, the previous one); returns its timestamp. UnauthorizedError (code
    ``bad_signature``) when a header is missing, the timestamp is more than ``tolerance_s`` away
    from ``now_s`` (either way: a replay or a wrong clock), or no signature matches."""
    if not msg_id or not timestamp or not signature:
        raise UnauthorizedError("webhook-id, webhook-timestamp and webhook-signature are required",
                                code="bad_signature")
    try:
        ts = int(timestamp)
    except ValueError:
        raise UnauthorizedError("webhook-timestamp must be Unix seconds", code="bad_signature") from None
    if abs(now_s - ts) > tolerance_s:
        raise UnauthorizedError(f"webhook-timestamp is more than {tolerance_s} s from now", code="bad_signature")
    offered = [s.split(",", 1)[1] for s in signature.split() if s.startswith("v1,")]
    for secret in secrets_:
        expected = sign(secret, msg_id, ts, body).split(",", 1)[1]
        # compare_digest on every candidate: the time taken says nothing about which bytes matched.
        if any(hmac.compare_digest(expected.encode(), o.encode()) for o in offered):
            return ts
    raise UnauthorizedError("no valid webhook signature", code="bad_signature")
