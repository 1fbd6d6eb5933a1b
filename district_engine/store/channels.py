"""Channels (app backends serving end users), their API keys (hashed, store/credentials.py) and
their token secrets, which sign their users' tokens. A token secret must be read back to verify a
token, so it is kept as it is: whoever reads Redis can sign user tokens (as they could change any
state); the API key, which need not be read back, is kept hashed."""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timezone
from typing import NamedTuple

from district_engine.errors import NotFoundError
from district_engine.ids import new_id
from district_engine.store import keys
from district_engine.store.credentials import Credentials
from district_engine.store.operators import check_name

__all__ = ["ChannelStore", "Channel", "KEY_PREFIX"]

KEY_PREFIX = "de_chan_"


class Channel(NamedTuple):
    id: str
    name: str
    created_at: str


def _new_secret() -> str:
    return "dets_" + secrets.token_urlsafe(32)


class ChannelStore:
    def __init__(self, client):
        self._client = client
        self.keys = Credentials(client, KEY_PREFIX)

    def create(self, name: str) -> tuple[Channel, str, str]:
        """A new channel, its API key and its token secret (the only time either is seen). The
        retry of a create whose answer was lost has the same id (district_engine/ids.py): it finds
        the channel and gives it a new key and token secret, revoking the lost ones (nobody holds them)."""
        ch = Channel(new_id("ch"), check_name(name), datetime.now(timezone.utc).isoformat(timespec="seconds"))
        before = self._client.hget(keys.channel(ch.id), "created_at")
        if before is not None:
            ch = ch._replace(created_at=before.decode())
        token_secret = _new_secret()
        self._client.hset(keys.channel(ch.id), mapping={"name": ch.name, "created_at": ch.created_at,
                                                        "token_secrets": json.dumps([[token_secret, 0]])})
        api_key = self.keys.rotate(ch.id, 0) if before is not None else self.keys.issue(ch.id)
        self._client.sadd(keys.channels(), ch.id)
        return ch, api_key, token_secret

    def get(self, channel_id: str) -> Channel:
        row = self._client.hmget(keys.channel(channel_id), ["name", "created_at"])
        if row[0] is None:
            raise NotFoundError(f"no channel {channel_id!r}", field="channel_id")
        return Channel(channel_id, row[0].decode(), row[1].decode())

    def authenticate(self, api_key: str) -> str | None:
        """The channel id an API key belongs to, or None."""
        return self.keys.resolve(api_key)

    def token_secrets(self, channel_id: str, now_ms: int | None = None) -> list[str]:
        """The secrets a user token of this channel may be signed with now ([] for no channel)."""
        if not channel_id.startswith("ch_"):
            return []
        raw = self._client.hget(keys.channel(channel_id), "token_secrets")
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return [s for s, until in json.loads(raw or "[]") if not until or until > now_ms]

    def rotate(self, channel_id: str, grace_s: int, token_secret: bool = False) -> tuple[str, str | None]:
        """A new API key (and, with ``token_secret``, a new token secret); the old ones work
        ``grace_s`` more (0: revoked now)."""
        self.get(channel_id)
        new_secret = None
        if token_secret:
            now_ms = int(time.time() * 1000)
            until = now_ms + grace_s * 1000
            raw = self._client.hget(keys.channel(channel_id), "token_secrets")
            kept = [[s, min(u, until) if u else until] for s, u in json.loads(raw or "[]")
                    if grace_s > 0 and (not u or u > now_ms)]
            new_secret = _new_secret()
            self._client.hset(keys.channel(channel_id), "token_secrets", json.dumps([[new_secret, 0], *kept]))
        return self.keys.rotate(channel_id, grace_s * 1000), new_secret
