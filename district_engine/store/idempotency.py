"""Idempotency-Key records (api/idempotency.py), one Redis key each, so one slot on a Cluster.

A request that runs under a key claims it (``pending``, for a minute at most, so that a process
that dies mid-request frees the key soon); its 2xx answer is then kept for 24 h for the retries,
and any other outcome releases the claim, so that a retry runs again.

Redis never holds the Idempotency-Key: the record is named by a SHA-256 of (principal, key), and
the answer (which may carry an API key or a webhook secret, shown once) is encrypted with AES-GCM
under HMAC-SHA256(key, principal). Whoever reads Redis holds neither the key nor the answer. The
request's fingerprint is kept under the same keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from district_engine.store import keys
from district_engine.store.scripts import Scripts

__all__ = ["IdempotencyStore", "Claim", "Answer", "record_key", "PENDING_MS", "KEEP_MS"]

PENDING_MS = 60_000  # a claim outlives a create by far; a crashed process holds the key no longer
KEEP_MS = 24 * 3600 * 1000  # Stripe's window: retries come within a day


class Answer(NamedTuple):
    status: int
    content_type: str
    body: bytes


class Claim(NamedTuple):
    """What ``claim`` found. ``state``: run (this request holds the key now), in_flight (the same
    request is running), reused (the key went with another request), replay (``answer``)."""

    state: str
    record: str  # the record's Redis key
    fingerprint: bytes  # keyed: what Redis holds
    cipher: bytes  # the answer's AES key
    token: str  # this run's hold on the key
    answer: Answer | None = None


def record_key(principal: str, idempotency_key: str) -> str:
    """The Redis key of one principal's use of one Idempotency-Key."""
    name = hashlib.sha256(b"\0".join([principal.encode(), idempotency_key.encode()])).hexdigest()
    return keys.idempotency(name)


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else v


class IdempotencyStore:
    def __init__(self, client, pending_ms: int = PENDING_MS, keep_ms: int = KEEP_MS):
        self._scripts = Scripts(client)
        self.pending_ms = pending_ms
        self.keep_ms = keep_ms

    def claim(self, principal: str, idempotency_key: str, fingerprint: bytes) -> Claim:
        """Claim the key for a request (``fingerprint``: a hash of its method, path and body), or
        find what the key holds."""
        cipher = hmac.new(idempotency_key.encode(), principal.encode(), hashlib.sha256).digest()
        record = record_key(principal, idempotency_key)
        keyed = hmac.new(cipher, fingerprint, hashlib.sha256).digest()
        token = uuid.uuid4().hex
        found = self._scripts("claim_idempotency_key", [record], [keyed, token, self.pending_ms])
        state = _s(found[0])
        claim = Claim(state, record, keyed, cipher, token)
        if state != "replay":
            return claim
        status, content_type, sealed = int(found[1]), _s(found[2]), found[3]
        body = AESGCM(cipher).decrypt(sealed[:12], sealed[12:], _bound(record, status, content_type))
        return claim._replace(answer=Answer(status, content_type, body))

    def record(self, claim: Claim, answer: Answer) -> None:
        """Keep the answer of the request that holds ``claim``, for 24 h."""
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(claim.cipher).encrypt(nonce, answer.body,
                                                      _bound(claim.record, answer.status, answer.content_type))
        self._scripts("record_idempotent_answer", [claim.record],
                      [claim.token, claim.fingerprint, answer.status, answer.content_type, sealed, self.keep_ms])

    def release(self, claim: Claim) -> None:
        """Free the key: the request answered something else than 2xx, and a retry runs again."""
        self._scripts("release_idempotency_key", [claim.record], [claim.token])


def _bound(record: str, status: int, content_type: str) -> bytes:
    """What the ciphertext is bound to besides its body: a record moved to another name, or an
    answer given another status, does not decrypt."""
    return f"{record}\0{status}\0{content_type}".encode()
