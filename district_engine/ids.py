"""Ids of the objects a create makes (``cmp_``, ``lot_``, ``ep_``, ``op_``, ``ch_``): random, or,
inside ``derived_ids``, derived from the request's Idempotency-Key; and the ids of the requests a
client names by such a key (a grab, a location update: ``request_id``).

Why derived: a create can succeed in Redis while its answer is lost (a late reply, a 503), and the
client then sends the same request again with the same key. With the same ids, the second run
finds what the first one made (every create writes if absent) instead of making a second one.
The API sets the derivation around a request that carries a key (api/idempotency.py); library
callers, the CLI and requests without a key get random ids.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["new_id", "derived_ids", "request_id"]

# A context variable, not an argument: the request's seed reaches the stores through the
# services without every signature on the way carrying it. It follows the request into the thread
# pool that runs sync routes (anyio copies the context into the worker thread).
_seed: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("district_engine_id_seed", default=None)


def new_id(prefix: str) -> str:
    """``<prefix>_<16 hex digits>``. Inside ``derived_ids`` the same for the same request and
    prefix: one request makes at most one object of each kind."""
    seed = _seed.get()
    if seed is None:
        return f"{prefix}_{uuid.uuid4().hex[:16]}"
    return f"{prefix}_{hmac.new(seed, prefix.encode(), hashlib.sha256).hexdigest()[:16]}"


@contextmanager
def derived_ids(principal: str, idempotency_key: str, fingerprint: bytes) -> Iterator[None]:
    """Within this block ``new_id`` derives ids from (principal, Idempotency-Key, request
    fingerprint). The fingerprint is in it so that another request sent under a key whose first
    answer was lost is not answered with the object of the first one: it is a request of its own."""
    seed = hashlib.sha256(b"\0".join([b"ids", principal.encode(), idempotency_key.encode(), fingerprint])).digest()
    token = _seed.set(seed)
    try:
        yield
    finally:
        _seed.reset(token)


def request_id(prefix: str, request_key: str, *scope: str) -> str:
    """The id of a request the client named (its Idempotency-Key), within ``scope`` (the user, the
    rain): the same key from another user is another request."""
    return prefix + hashlib.sha256("\n".join((*scope, request_key)).encode()).hexdigest()[:32]
