"""User tokens: a JWT (RFC 7519) a channel signs for one of its users, for calls straight from the
user's device. HS256 with the channel's token secret; claims ``iss`` (the channel id), ``sub``
(the user id), ``aud`` (``district-engine``), ``iat`` and ``exp`` (at most 24 h after ``iat``).

Verified with PyJWT, never by hand: the algorithm is pinned (``alg: none`` and every other one is
refused), the audience and issuer are checked, and every claim is required. Each failure is an
UnauthorizedError whose code and message say why, so a channel's developer can fix their signer.
"""

from __future__ import annotations

import math
from typing import Callable

import jwt

from district_engine.errors import UnauthorizedError
from district_engine.identity.principals import MAX_USER_ID_LEN

__all__ = ["AUDIENCE", "ALGORITHM", "MAX_TTL_S", "issue_user_token", "verify_user_token", "looks_like_token"]

AUDIENCE = "district-engine"
ALGORITHM = "HS256"
MAX_TTL_S = 24 * 3600
LEEWAY_S = 30  # clock skew between a channel's signer and the engine
_REQUIRED = ["iss", "sub", "aud", "iat", "exp"]


def looks_like_token(credential: str) -> bool:
    """A JWT's compact form: three base64url parts, the first a JSON object (``eyJ``)."""
    return credential.startswith("eyJ") and credential.count(".") == 2


def issue_user_token(channel_id: str, secret: str, user_id: str, now_s: int, ttl_s: int = 3600) -> str:
    """A token for ``user_id`` of ``channel_id`` (what a channel's backend does; the CLI uses it)."""
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s must be within (0, {MAX_TTL_S}]")
    claims = {"iss": channel_id, "sub": user_id, "aud": AUDIENCE, "iat": now_s, "exp": now_s + ttl_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_user_token(token: str, secrets_of: Callable[[str], list[str]], now_s: float) -> tuple[str, str]:
    """(channel id, user id) of a valid token. ``secrets_of(channel_id)`` gives the channel's
    current token secrets ([] for no such channel)."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != ALGORITHM:
            raise _unauthorized("invalid_token", f"tokens are signed {ALGORITHM}; this one says {header.get('alg')!r}")
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise _unauthorized("invalid_token", f"not a well-formed token ({exc})") from None
    issuer = unverified.get("iss")
    secrets = secrets_of(issuer) if isinstance(issuer, str) and issuer else []
    if not secrets:
        raise _unauthorized("invalid_token", "iss names no channel")
    claims = None
    for secret in secrets:  # a rotated secret verifies during its grace period
        try:
            # Times are checked below against the engine's clock (``now_s``), PyJWT checks the rest.
            claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=issuer,
                                options={"require": _REQUIRED, "verify_exp": False, "verify_iat": False})
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidAudienceError:
            raise _unauthorized("invalid_token", f"aud must be {AUDIENCE!r}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _unauthorized("invalid_token", f"the {exc.claim!r} claim is required") from None
        except jwt.PyJWTError as exc:
            raise _unauthorized("invalid_token", f"the token is not valid ({exc})") from None
    if claims is None:
        raise _unauthorized("invalid_token", "the signature does not verify with the channel's token secret")
    sub, iat, exp = claims["sub"], claims["iat"], claims["exp"]
    if not isinstance(sub, str) or not sub or len(sub) > MAX_USER_ID_LEN:
        raise _unauthorized("invalid_token", f"sub must be a user id of 1..{MAX_USER_ID_LEN} characters")
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in (iat, exp)):
        raise _unauthorized("invalid_token", "iat and exp must be NumericDate (seconds since 1970)")
    if exp <= now_s - LEEWAY_S:
        raise _unauthorized("token_expired", "the token has expired (exp)")
    if iat > now_s + LEEWAY_S:
        raise _unauthorized("invalid_token", "the token is issued in the future (iat)")
    if exp - iat > MAX_TTL_S or exp > now_s + MAX_TTL_S + LEEWAY_S:
        raise _unauthorized("invalid_token", f"exp may be at most {MAX_TTL_S // 3600} h after iat and from now")
    return issuer, sub


def _unauthorized(code: str, message: str) -> UnauthorizedError:
    return UnauthorizedError(f"user token: {message}", code=code)
