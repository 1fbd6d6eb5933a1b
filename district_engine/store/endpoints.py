"""Push endpoints in Redis: the webhook URLs that receive pushed offers, each with its signing
secret. One registered by an operator gets the events of that operator's campaigns; one
registered by a channel gets the events of that channel's users (and nothing else: a user's
pushes are where that user is). An owner has at most a given number of endpoints; each endpoint's
dead letters are its own stream (store/outbox.py) and go with it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone

from district_engine.errors import ConflictError, NotFoundError
from district_engine.identity.principals import channel_of
from district_engine.ids import new_id
from district_engine.signing import new_secret
from district_engine.store import keys
from district_engine.store.scripts import Scripts

__all__ = ["Endpoint", "EndpointStore"]


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    owner: str
    secret: str
    created_at: str
    state: str = "active"  # active | disabled (410 Gone, or nothing delivered for the retry period)
    disabled_reason: str | None = None

    def wants(self, campaign_owner: str, user_id: str) -> bool:
        """Whether an event of ``campaign_owner``'s campaign for (scoped) ``user_id`` goes here."""
        return self.state == "active" and self.owner in (campaign_owner, channel_of(user_id))


class EndpointStore:
    def __init__(self, client):
        self._client = client
        self._scripts = Scripts(client)

    def create(self, url: str, owner: str, max_per_owner: int = 10) -> Endpoint:
        """An endpoint of ``owner``, an operator or a channel id, unless it has ``max_per_owner``
        already (ConflictError ``too_many_endpoints``). Written if absent: the retry of a
        create whose answer was lost has the same id (district_engine/ids.py) and finds the endpoint;
        it gets a new secret, and the lost one, which nobody holds, no longer signs."""
        e = Endpoint(id=new_id("ep"), url=url, owner=owner, secret=new_secret(),
                     created_at=datetime.now(timezone.utc).isoformat())
        added = self._scripts("add_push_endpoint", [keys.push_endpoints(), keys.push_endpoints_of(owner)],
                              [e.id, json.dumps(asdict(e)), max_per_owner])
        if added == -1:
            raise ConflictError(f"an owner may have at most {max_per_owner} push endpoints; delete one first",
                                code="too_many_endpoints")
        if added == 0:
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
        """The endpoint, its place in its owner's count, its health and its dead letters."""
        self.get(endpoint_id, owner)
        pipe = self._client.pipeline(transaction=True)  # the hash and the owner's set share a slot
        pipe.hdel(keys.push_endpoints(), endpoint_id)
        pipe.srem(keys.push_endpoints_of(owner), endpoint_id)
        pipe.execute()
        self._client.hdel(keys.push_endpoint_health(), endpoint_id)
        self._client.delete(keys.dead_letters(endpoint_id))

    def disable(self, endpoint_id: str, reason: str) -> None:
        try:
            e = self.get(endpoint_id)
        except NotFoundError:
            return
        self._put(replace(e, state="disabled", disabled_reason=reason))

    def enable(self, endpoint_id: str, owner: str) -> Endpoint:
        """The owner's endpoint, active again. Counted as healthy from now, so that a delivery that
        failed for the retry period before it was enabled does not disable it again at once."""
        e = replace(self.get(endpoint_id, owner), state="active", disabled_reason=None)
        self.record_success(endpoint_id, int(datetime.now(timezone.utc).timestamp() * 1000))
        self._put(e)
        return e

    def record_success(self, endpoint_id: str, at_ms: int) -> None:
        """A delivery to the endpoint succeeded at ``at_ms`` (senders call it at most every minute)."""
        self._client.hset(keys.push_endpoint_health(), endpoint_id, at_ms)

    def last_success_ms(self, endpoint_id: str) -> int:
        """When a delivery to the endpoint last succeeded, as recorded; 0 if never."""
        return int(self._client.hget(keys.push_endpoint_health(), endpoint_id) or 0)

    def _put(self, e: Endpoint) -> None:
        self._client.hset(keys.push_endpoints(), e.id, json.dumps(asdict(e)))
