"""The engine's exception family: one root, typed leaves that also inherit the builtin a caller would catch.

Every leaf carries a stable ``code`` (what the HTTP API returns) and, where the error is about one
input, the ``field`` it names, so ``str(err)`` reads ``"lat: must be within [-90, 90], got 91.0"``.
"""

from __future__ import annotations

__all__ = [
    "DistrictEngineError",
    "InvalidInputError",
    "NotFoundError",
    "ConflictError",
    "ForbiddenError",
    "StoreUnavailableError",
    "StoreError",
    "UnauthorizedError",
    "RateLimitedError",
]


class DistrictEngineError(Exception):
    """Root of every error the engine raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        super().__init__(f"{field}: {message}" if field else message)


class InvalidInputError(DistrictEngineError, ValueError):
    """An input value is malformed or out of range; ``field`` names it."""

    code = "invalid_input"


class NotFoundError(DistrictEngineError, LookupError):
    code = "not_found"


class ConflictError(DistrictEngineError):
    code = "conflict"


class ForbiddenError(DistrictEngineError):
    code = "forbidden"


class StoreUnavailableError(DistrictEngineError):
    """The state store cannot answer now (lost, slow, or refusing: out of memory, a replica, a
    failover, loading): retry shortly."""

    code = "store_unavailable"


class StoreError(DistrictEngineError):
    """The state store answered with an error that no retry helps (a wrong command or key type): a
    bug of the engine's, an internal error. The Redis error is its ``__cause__``."""

    code = "internal"


class UnauthorizedError(DistrictEngineError):
    """No credentials, or credentials that name nobody."""

    code = "unauthorized"


class RateLimitedError(DistrictEngineError):
    """Too many requests from one user or address; ``retry_after_s`` says when to come back."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s
