"""Payment gateways: how an exit's fee is charged to the account bound to the plate.

``LedgerGateway`` (the default) books the charge in the lot's own ledger stream, in the same atomic
script that closes the session: it cannot fail. ``HttpGateway`` (``DE_PAYMENT_URL``) POSTs a signed
charge request with ``Idempotency-Key`` = the session id (so a repeated request can never charge
twice) and an 800 ms timeout; a failure or a timeout is a ``Charge(ok=False)``, and the caller
applies the policy (``DE_PARKING_ON_PAYMENT_FAILURE``).
"""

from __future__ import annotations

import json
import time
from typing import NamedTuple, Protocol

import httpx

from district_engine.identity.principals import channel_of, unscoped_user
from district_engine.signing import headers as signed_headers

__all__ = ["Charge", "PaymentGateway", "LedgerGateway", "HttpGateway"]


class Charge(NamedTuple):
    ok: bool
    error: str = ""


class PaymentGateway(Protocol):
    name: str

    def charge(self, session_id: str, amount_cents: int, payment_token: str, user_id: str) -> Charge:
        """Charge once per session id, whatever the number of calls."""


class LedgerGateway:
    """Charges are entries of the lot's ledger, written with the session's close."""

    name = "ledger"

    def charge(self, session_id: str, amount_cents: int, payment_token: str, user_id: str) -> Charge:
        return Charge(True)


class HttpGateway:
    """A payment service over HTTP: ``POST url`` with JSON ``{session_id, amount_cents, currency,
    payment_token, user_id, channel_id}`` (the user as its channel knows it), signed per Standard Webhooks with ``secret``; 2xx is charged."""

    name = "http"

    def __init__(self, url: str, secret: str, timeout_s: float = 0.8):
        self.url = url
        self.secret = secret
        self._http = httpx.Client(timeout=timeout_s)

    def charge(self, session_id: str, amount_cents: int, payment_token: str, user_id: str) -> Charge:
        body = json.dumps({"session_id": session_id, "amount_cents": amount_cents, "currency": "CNY",
                           "payment_token": payment_token, "user_id": unscoped_user(user_id),
                           "channel_id": channel_of(user_id) or None}, separators=(",", ":")).encode()
        headers = signed_headers(self.secret, f"chg_{session_id}", int(time.time()), body)
        headers |= {"Idempotency-Key": session_id, "Content-Type": "application/json"}
        try:
            r = self._http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Charge(False, f"{type(exc).__name__}: {exc}"[:300])
        return Charge(True) if 200 <= r.status_code < 300 else Charge(False, f"HTTP {r.status_code}")

    def close(self) -> None:
        self._http.close()
