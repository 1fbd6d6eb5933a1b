"""Resolving a bearer credential to a principal, and the admin's work on credentials.

Key lookups are cached in the process for ``cache_s`` (default 2 s), so authentication costs a
hash and a dict lookup, not a Redis round trip, per request. The process that rotates or revokes
a key forgets its cache at once; other processes stop accepting a revoked key within ``cache_s``.
"""

from __future__ import annotations

import hmac
import time
import uuid
from typing import Callable

from district_engine.errors import RateLimitedError, UnauthorizedError
from district_engine.identity.principals import Kind, Principal
from district_engine.identity.tokens import issue_user_token, looks_like_token, verify_user_token
from district_engine.store.channels import Channel, ChannelStore
from district_engine.store.credentials import digest
from district_engine.store.operators import Operator, OperatorStore
from district_engine.store.ratelimits import RateLimits

__all__ = ["Identity", "CacheMiss", "CALLS", "ORDERS"]

_CACHE_MAX = 100_000
# An operator's budgets per minute: its calls, and the orders its sales systems report, which come at
# the pace of its tills and web shops, not of its staff: one limit for both would cap a brand's sales.
CALLS, ORDERS = "calls", "orders"
_BUDGET_KEYS = {CALLS: "operator", ORDERS: "operator-orders"}


class CacheMiss(Exception):
    """``authenticate(..., cached_only=True)`` needs Redis for this credential."""


class Identity:
    def __init__(self, client, admin_token: str | None = None, cache_s: float = 2.0,
                 operator_calls_per_minute: int = 1200, operator_orders_per_minute: int = 60_000,
                 clock: Callable[[], float] = time.time):
        """``operator_calls_per_minute``: each operator's requests, over every process, but for
        ``operator_orders_per_minute``: the orders it reports (0: no limit)."""
        self.operators = OperatorStore(client)
        self.limits = RateLimits(client)
        self.operator_calls_per_minute = operator_calls_per_minute
        self.per_minute = {CALLS: operator_calls_per_minute, ORDERS: operator_orders_per_minute}
        self.channels = ChannelStore(client)
        self._admin = admin_token.encode() if admin_token else None
        self.cache_s = cache_s
        self._clock = clock
        self._keys: dict[str, tuple[Principal | None, float]] = {}  # key digest -> (principal, cached until)
        self._secrets: dict[str, tuple[list[str], float]] = {}  # channel id -> (token secrets, cached until)

    # ------------------------------------------------------------ authentication
    def authenticate(self, credential: str | None, cached_only: bool = False) -> Principal:
        """The principal a bearer credential names; UnauthorizedError (saying why) if none.
        ``cached_only``: answer from this process's cache or raise CacheMiss, never call Redis
        (the event loop's way: it then does the lookup on a Redis thread, api/offload.py)."""
        if not credential:
            raise UnauthorizedError("a credential is required: Authorization: Bearer <key or user token>")
        if self._admin is not None and hmac.compare_digest(credential.encode(), self._admin):
            return Principal(Kind.ADMIN)
        if looks_like_token(credential):
            secrets = self._cached_secrets if cached_only else self._token_secrets
            channel_id, user_id = verify_user_token(credential, secrets, self._clock())
            return Principal(Kind.USER, channel_id, user_id)
        principal = self._by_key(credential, cached_only)
        if principal is None:
            raise UnauthorizedError("this key is not valid (unknown, revoked or expired)")
        return principal

    def _by_key(self, api_key: str, cached_only: bool = False) -> Principal | None:
        d = digest(api_key)
        now = time.monotonic()
        hit = self._keys.get(d)
        if hit is not None and hit[1] > now:
            return hit[0]
        if cached_only:
            raise CacheMiss
        principal = None
        if (operator_id := self.operators.authenticate(api_key)) is not None:
            principal = Principal(Kind.OPERATOR, operator_id)
        elif (channel_id := self.channels.authenticate(api_key)) is not None:
            principal = Principal(Kind.CHANNEL, channel_id)
        if principal is not None:  # unknown keys are not cached: a flood of them cannot evict good ones
            if len(self._keys) >= _CACHE_MAX:
                self._keys.clear()
            self._keys[d] = (principal, now + self.cache_s)
        return principal

    def _cached_secrets(self, channel_id: str) -> list[str]:
        hit = self._secrets.get(channel_id)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        raise CacheMiss

    def _token_secrets(self, channel_id: str) -> list[str]:
        now = time.monotonic()
        hit = self._secrets.get(channel_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        secrets = self.channels.token_secrets(channel_id, int(self._clock() * 1000))
        if secrets:
            if len(self._secrets) >= _CACHE_MAX:
                self._secrets.clear()
            self._secrets[channel_id] = (secrets, now + self.cache_s)
        return secrets

    def counts_calls(self, principal: Principal, budget: str = CALLS) -> bool:
        """Whether ``admit`` counts this principal's calls (in Redis) against ``budget``. A channel's
        and its users' calls are limited where they move money instead: grabs, ``Rains.grab_many``."""
        return principal.kind is Kind.OPERATOR and bool(self.per_minute[budget])

    def admit(self, principal: Principal, budget: str = CALLS) -> None:
        """Count an operator's call against its limit; RateLimitedError past it."""
        refused = self.admit_many([(principal, budget)])[0]
        if refused is not None:
            raise refused

    def admit_many(self, calls: list[tuple[Principal, str]]) -> list[RateLimitedError | None]:
        """``admit`` of each (principal, budget) call, in one round trip: None for a call admitted
        (or not counted), the RateLimitedError of a call past its limit."""
        counted = [i for i, (p, budget) in enumerate(calls) if self.counts_calls(p, budget)]
        out: list[RateLimitedError | None] = [None] * len(calls)
        if not counted:
            return out
        waits = self.limits.admit_many([([f"{_BUDGET_KEYS[calls[i][1]]}:{calls[i][0].id}"],
                                         [self.per_minute[calls[i][1]]], uuid.uuid4().hex) for i in counted],
                                       int(self._clock() * 1000), 60_000)
        for i, wait_ms in zip(counted, waits):
            if wait_ms:
                out[i] = RateLimitedError(f"more than {self.per_minute[calls[i][1]]} {calls[i][1]} a minute from "
                                          "this operator", retry_after_s=max(1, -(-wait_ms // 1000)))
        return out

    def forget(self) -> None:
        """Drop cached lookups (after a rotation in this process)."""
        self._keys.clear()
        self._secrets.clear()

    # ------------------------------------------------------------ the admin's work
    def create_operator(self, name: str) -> tuple[Operator, str]:
        return self.operators.create(name)

    def create_channel(self, name: str) -> tuple[Channel, str, str]:
        return self.channels.create(name)

    def rotate_operator_key(self, operator_id: str, grace_s: int) -> str:
        key = self.operators.rotate_key(operator_id, grace_s)
        self.forget()
        return key

    def rotate_channel_key(self, channel_id: str, grace_s: int, token_secret: bool = False) -> tuple[str, str | None]:
        keys = self.channels.rotate(channel_id, grace_s, token_secret)
        self.forget()
        return keys

    def user_token(self, channel_id: str, user_id: str, ttl_s: int = 3600) -> str:
        """A token for one of the channel's users, signed with its newest secret (for trying things out)."""
        self.channels.get(channel_id)
        secret = self.channels.token_secrets(channel_id)[0]
        return issue_user_token(channel_id, secret, user_id, int(self._clock()), ttl_s)
