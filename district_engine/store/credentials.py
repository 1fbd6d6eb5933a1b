"""API keys of operators and channels: issued, resolved, rotated, revoked.

A key is shown once; Redis keeps only its SHA-256 (keys are 256-bit random tokens, so a fast
hash is enough: there is nothing to brute-force), mapped to its holder's id, and the holder's set
of live digests, so that a rotation can retire the old ones: at once (grace 0) or by letting
them expire after the grace period. Writes are ordered so that a failure half-way leaves nothing
worse than a new key nobody has seen.
"""

from __future__ import annotations

import hashlib
import secrets

from district_engine.store import keys

__all__ = ["Credentials", "digest"]


def digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class Credentials:
    """The keys of one kind of holder, told apart by ``prefix`` (``de_live_`` for operators,
    ``de_chan_`` for channels), which also lets a caller's typo fail without a Redis read."""

    def __init__(self, client, prefix: str):
        self._client = client
        self.prefix = prefix

    def issue(self, holder_id: str) -> str:
        """A new key for ``holder_id`` (its others stay valid)."""
        api_key = self.prefix + secrets.token_urlsafe(32)
        d = digest(api_key)
        self._client.set(keys.api_key(d), holder_id)
        self._client.sadd(keys.holder_keys(holder_id), d)
        return api_key

    def resolve(self, api_key: str) -> str | None:
        """The holder of a live key, or None."""
        if not api_key or not api_key.startswith(self.prefix):
            return None
        found = self._client.get(keys.api_key(digest(api_key)))
        return found.decode() if found else None

    def rotate(self, holder_id: str, grace_ms: int) -> str:
        """A new key; every older one stays valid for ``grace_ms`` more (0: revoked now). A key
        already due to expire sooner keeps its earlier end."""
        old = [d.decode() for d in self._client.smembers(keys.holder_keys(holder_id))]
        new_key = self.issue(holder_id)
        ttls = self._client.pipeline(transaction=False)
        for d in old:
            ttls.pttl(keys.api_key(d))
        pipe = self._client.pipeline(transaction=False)
        gone = []
        for d, ttl in zip(old, ttls.execute()):
            if grace_ms <= 0 or ttl == -2:  # revoked now, or already expired
                pipe.delete(keys.api_key(d))
                gone.append(d)
            elif ttl == -1 or ttl > grace_ms:
                pipe.pexpire(keys.api_key(d), grace_ms)
        if gone:
            pipe.srem(keys.holder_keys(holder_id), *gone)
        pipe.execute()
        return new_key
