"""Principals: who a request is from, and the users a channel may act for.

A channel's users are its own: channel A's ``u-1`` and channel B's ``u-1`` are two users. Every
piece of state keyed by a user (deliveries, positions, rain winners, rate limits, plates,
streams) is keyed by the *scoped* id ``<channel id>:<user id>``, made here and nowhere else.
Channel ids (``ch_`` + hex) never hold a colon, so the first colon splits a scoped id.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from district_engine.errors import ForbiddenError, InvalidInputError
from district_engine.validation import check_text

__all__ = ["Kind", "Principal", "scoped_user", "unscoped_user", "channel_of", "check_user_id", "check_scoped_user",
           "MAX_USER_ID_LEN"]

MAX_USER_ID_LEN = 128


class Kind(str, enum.Enum):
    """A kind of caller; each is one OpenAPI security scheme."""

    ADMIN = "admin"
    OPERATOR = "operator"
    CHANNEL = "channel"
    USER = "user"  # a user token: a device calling for its one user
    GATE = "gate"  # a lot's signed webhook; authenticated by the gate route itself


def check_user_id(user_id) -> str:
    return check_text(user_id, "user_id", MAX_USER_ID_LEN)


def check_scoped_user(user_id) -> str:
    """A user id as the engine keys state by it (scoped, or a bare one in library use)."""
    return check_text(user_id, "user_id", MAX_USER_ID_LEN + 32)


def scoped_user(channel_id: str, user_id: str) -> str:
    """The engine-wide id of a channel's user."""
    return f"{channel_id}:{check_user_id(user_id)}"


def channel_of(scoped: str) -> str:
    """The channel of a scoped user id ("" for a bare id, as the library's own callers may use)."""
    channel, sep, _ = scoped.partition(":")
    return channel if sep and channel.startswith("ch_") else ""


def unscoped_user(scoped: str) -> str:
    """The user id as its channel knows it."""
    return scoped[len(channel) + 1:] if (channel := channel_of(scoped)) else scoped


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``id`` is the operator's or the channel's id (for a user token, its
    channel's); ``user_id`` is a user token's subject. ``address`` is the client address, kept only
    for user-token calls (the only ones a rate limit counts by address)."""

    kind: Kind
    id: str = ""
    user_id: str | None = None
    address: str | None = None

    def user(self, user_id: str | None) -> str:
        """The scoped id of the user this call acts for. A channel names it (``user_id``); a user
        token is its subject, and naming anyone else is refused (403)."""
        if self.kind is Kind.USER:
            if user_id is not None and user_id != self.user_id:
                raise ForbiddenError("this user token acts only for its own user (its sub)", field="user_id",
                                     code="wrong_user")
            return scoped_user(self.id, self.user_id)
        if self.kind is Kind.CHANNEL:
            if user_id is None:
                raise InvalidInputError("is required with a channel key", field="user_id")
            return scoped_user(self.id, user_id)
        raise ForbiddenError(f"a {self.kind.value} acts for no user")
