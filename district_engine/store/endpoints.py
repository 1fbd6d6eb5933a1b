"""Push endpoints in Redis: the webhook URLs that receive pushed offers, each with its signing
secret. One registered by an operator gets the events of that operator's campaigns; one
registered by a channel gets the events of that channel's users (and nothing else: a user's
pushes are where that user is)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone

from district_engine.errors import NotFoundError
from district_engine.identity.principals import channel_of
from district_engine.ids import new_id
from district_engine.signing import new_secret
from district_engine.store import keys

__all__ = ["Endpoint", "EndpointStore"]


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    owner: str
    secret: str
    created_at: str
    state: str = "active"  # active | disabled (the receiver answered 410 Gone)
    disabled_reason: str | None = None

    def wants(self, campaign_owner: str, user_id: str) -> bool:
        """Whether an event of ``campaign_owner``'s campaign for (scoped) ``user_id`` goes here."""
        return self.state == "active" and self.owner in (campaign_owner, channel_of(user_id))


class EndpointStore:
    def __init__(self, client):
        self._client = client

    def create(self, url: str, owner: str) -> Endpoint:
        """An endpoint of ``owner``, an operator or a channel id. Written if absent: the retry of a
        create whose answer was lost has the same id (district_engine/ids.py) and finds the endpoint;
        it gets a new secret, and the lost one, which nobody holds, no longer signs."""
        e = Endpoint(id=new_id("ep"), url=url, owner=owner, secret=new_secret(),
                     created_at=datetime.now(timezone.utc).isoformat())
        if not self._client.hsetnx(keys.push_endpoints(), e.id, json.dumps(asdict(e))):
            e = replace(self.get(e.id, owner), secret=e.secret)
            self._put(e)
        return e

    def all(self) -> list[Endpoint]:
        return sorted((Endpoint(**json.loads(v)) for v in self._client.hvals(keys.push_endpoints())),
                      key=lambda e: (e.created_at, e.id))

    def of(self, owner: str) -> list[Endpoint]:
        """The owner's endpoints."""
        return [e for e in self.all() if e.owner == owner]

    def get(self, endpoint_id: str, owner: str | None = None) -> Endpoint:
        """An endpoint; with ``owner``, only that owner's (another's is absent)."""
        raw = self._client.hget(keys.push_endpoints(), endpoint_id)
        e = Endpoint(**json.loads(raw)) if raw else None
        if e is None or owner not in (None, e.owner):
            raise NotFoundError(f"no push endpoint {endpoint_id!r}", field="endpoint_id")
        return e

    def delete(self, endpoint_id: str, owner: str) -> None:
        self.get(endpoint_id, owner)
        self._client.hdel(keys.push_endpoints(), endpoint_id)

    def disable(self, endpoint_id: str, reason: str) -> None:
        try:
            e = self.get(endpoint_id)
        except NotFoundError:
            return
        self._put(replace(e, state="disabled", disabled_reason=reason))

    def _put(self, e: Endpoint) -> None:
        self._client.hset(keys.push_endpoints(), e.id, json.dumps(asdict(e)))
