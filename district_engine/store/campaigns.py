"""Campaigns in Redis (their deliveries are in ``deliveries``)."""

from __future__ import annotations

import json

from district_engine.campaigns.model import Campaign
from district_engine.errors import NotFoundError
from district_engine.store import changes, keys
from district_engine.store.scripts import Scripts

__all__ = ["CampaignStore"]

class CampaignStore:
    def __init__(self, client):
        self._client = client
        self._scripts = Scripts(client)

    def put(self, c: Campaign) -> None:
        self.put_many([c])

    def put_many(self, campaigns: list[Campaign], chunk: int = 1000) -> None:
        """Store campaigns, then signal them (a pipeline keeps its order only within a Cluster
        node: a signal must not overtake what it announces), a chunk per two round trips."""
        for start in range(0, len(campaigns), chunk):
            part = campaigns[start:start + chunk]
            pipe = self._client.pipeline(transaction=False)
            for c in part:
                pipe.hset(keys.campaign(c.id), mapping={"json": json.dumps(c.to_dict(), ensure_ascii=False),
                                                        "owner": c.owner, "district_id": c.district_id})
                pipe.sadd(keys.campaigns(), c.id)
                pipe.sadd(keys.operator_campaigns(c.owner), c.id)
            pipe.execute()
            pipe = self._client.pipeline(transaction=False)
            for c in part:
                self._signal(c.id, "put", pipe)
            pipe.execute()

    def get(self, campaign_id: str, owner: str | None = None) -> Campaign:
        raw = self._client.hget(keys.campaign(campaign_id), "json")
        c = Campaign.from_dict(json.loads(raw)) if raw else None
        if c is None or (owner is not None and c.owner != owner):
            raise NotFoundError(f"no campaign {campaign_id!r}", field="campaign_id")
        return c

    def get_many(self, campaign_ids: list[str]) -> list[Campaign]:
        """The campaigns of these ids that exist, in one round trip."""
        return self._load([i.encode() for i in campaign_ids])

    def delete(self, c: Campaign) -> None:
        self._client.delete(keys.campaign(c.id))
        self._client.srem(keys.campaigns(), c.id)
        self._client.srem(keys.operator_campaigns(c.owner), c.id)
        self._signal(c.id, "delete")

    def of_operator(self, owner: str) -> list[Campaign]:
        return self._load(self._client.smembers(keys.operator_campaigns(owner)))

    def all(self) -> list[Campaign]:
        return self._load(self._client.smembers(keys.campaigns()))

    def _load(self, ids) -> list[Campaign]:
        ids = sorted(i.decode() for i in ids)
        pipe = self._client.pipeline(transaction=False)
        for campaign_id in ids:
            pipe.hget(keys.campaign(campaign_id), "json")
        return [Campaign.from_dict(json.loads(raw)) for raw in pipe.execute() if raw]

    def _signal(self, campaign_id: str, op: str, pipe=None) -> None:
        changes.signal(pipe if pipe is not None else self._client, "campaign", campaign_id, op)
