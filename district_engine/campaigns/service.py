"""Operators' campaigns: create (a rain funds its pool first), change, end, delete, read, and
what each one delivered and converted."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, NamedTuple

from district_engine.campaigns.model import Campaign, CampaignState
from district_engine.catalog import Catalog
from district_engine.clock import Clock, ms
from district_engine.errors import InvalidInputError, NotFoundError
from district_engine.ids import new_id
from district_engine.jobs import Jobs
from district_engine.quotas import Quotas, check_quota
from district_engine.redenvelope.split import split_packets
from district_engine.store.campaigns import CampaignStore
from district_engine.store.deliveries import DeliveryStore
from district_engine.store.rains import RainStore

__all__ = ["Campaigns", "Stats"]


class Stats(NamedTuple):
    """What a campaign did: offers delivered (pushed + capped), users reached, and the orders it converted."""

    delivered: int
    users: int
    pushed: int
    capped: int
    conversions: int
    revenue_cents: int


class Campaigns:
    """``lot_of_district(lot_id, district_id, owner)``: checks a parking campaign's lot (the parking
    service's); ``conversions(owner, campaign_id)``: (orders, revenue in cents) it converted (the
    guides service's)."""

    def __init__(self, store: CampaignStore, catalog: Catalog, rains: RainStore, deliveries: DeliveryStore,
                 jobs: Jobs, clock: Clock, quotas: Quotas = Quotas(),
                 lot_of_district: Callable[[str, str, str], object] = lambda lot_id, district_id, owner: None,
                 conversions: Callable[[str, str], tuple[int, int]] = lambda owner, campaign_id: (0, 0)):
        self.store = store
        self.catalog = catalog
        self.rains = rains
        self.deliveries = deliveries
        self.jobs = jobs
        self.clock = clock
        self.quotas = quotas
        self.lot_of_district = lot_of_district
        self.conversions = conversions

    def get(self, campaign_id: str, owner: str) -> Campaign:
        return self.store.get(campaign_id, owner=owner)

    def of_operator(self, owner: str, district_id: str | None = None,
                    state: CampaignState | None = None) -> list[Campaign]:
        """The owner's campaigns, of one district and in one state now when given."""
        now = self.clock()
        return [c for c in self.store.of_operator(owner)
                if (district_id is None or c.district_id == district_id) and (state is None or c.state(now) is state)]

    def stats(self, campaign_id: str, owner: str) -> Stats:
        self.store.get(campaign_id, owner=owner)
        n = self.deliveries.counts(campaign_id)
        conversions, revenue_cents = self.conversions(owner, campaign_id)
        return Stats(n.delivered, n.users, n.pushed, n.capped, conversions, revenue_cents)

    _RAIN_FIELDS = ("total_cents", "packets", "min_cents", "split", "per_user_limit")
    _PARKING_FIELDS = ("lot_id", "free_minutes")

    def create(self, owner: str, **fields: Any) -> Campaign:
        """A campaign of one of the owner's districts; a red_envelope one also gets its pool,
        pre-split and shuffled, before the campaign becomes visible. The retry of a create whose
        answer was lost has the same id (district_engine/ids.py): it answers the campaign the first
        run stored, or finishes what that run began, and funds a rain once."""
        rain = {k: fields.pop(k) for k in self._RAIN_FIELDS if k in fields}
        if fields.get("kind") == "red_envelope" or rain.get("total_cents") is not None or rain.get("packets") is not None:
            fields["rain"] = rain
        parking = {k: v for k in self._PARKING_FIELDS if (v := fields.pop(k, None)) is not None}
        if fields.get("kind") == "parking" or parking:
            fields["parking"] = parking
        district_id = fields.get("district_id")
        if not isinstance(district_id, str):
            raise InvalidInputError("must be the id of one of your districts", field="district_id")
        self.catalog.owned(district_id, owner)
        c = Campaign(id=new_id("cmp"), owner=owner, **fields)
        now = self.clock()
        if c.ends_at <= now:  # it would never run: an operator's mistake, said now
            raise InvalidInputError("must be in the future: this campaign would never run", field="ends_at")
        running = sum(1 for x in self.catalog.view.campaigns.values()
                      if x.district_id == c.district_id and x.id != c.id and x.state(now) is not CampaignState.ENDED)
        check_quota(running, self.quotas.live_campaigns_per_district, "live or scheduled campaigns per district",
                    "DE_QUOTA_LIVE_CAMPAIGNS_PER_DISTRICT", field="district_id")
        try:
            c = self.store.get(c.id, owner=owner)  # stored by a run whose answer was lost
            stored = True
        except NotFoundError:
            stored = False
        if not stored:
            if c.parking and c.parking["lot_id"] is not None:
                self.lot_of_district(c.parking["lot_id"], c.district_id, owner)
            if c.rain:
                amounts = split_packets(c.rain["total_cents"], c.rain["packets"], c.rain["min_cents"], c.rain["split"])
                # A run of this same request that stopped before the campaign may have funded it:
                # the same figures, left as they are (RainStore.create).
                self.rains.create(c.id, amounts, ms(c.starts_at), ms(c.ends_at), c.rain["per_user_limit"])
            self.store.put(c)
        # Again on a retry: the lost run may have stopped before its jobs were in (scheduling twice
        # is harmless: a broadcast delivers once per user, a rain ends once).
        self.jobs.schedule(c)
        self.catalog.refresh()
        return c

    def update(self, campaign_id: str, owner: str, **changes_: Any) -> Campaign:
        c = self.store.get(campaign_id, owner=owner)
        if "district_id" in changes_ and changes_["district_id"] != c.district_id:
            raise InvalidInputError("a campaign cannot move to another district", field="district_id")
        for name in ("starts_at", "ends_at"):
            if c.rain and name in changes_ and changes_[name] != getattr(c, name):
                raise InvalidInputError("a rain's window is fixed; DELETE ends it early and refunds the rest", field=name)
        updated = replace(c, **changes_)
        self.store.put(updated)
        self.jobs.schedule(updated, before=c)
        self.catalog.refresh()
        return updated

    def end(self, campaign_id: str, owner: str) -> Campaign:
        """End the owner's campaign now, live or scheduled (a no-op once it has ended). It stays
        readable with its stats; a rain refunds what is left at once and keeps its figures."""
        c = self.store.get(campaign_id, owner=owner)
        now = self.clock()
        ended = c.ended(now)
        if ended is not c:
            self.store.put(ended)
            self.catalog.refresh()
        if c.rain:
            self.rains.end(c.id, ms(now), early=True)
        return ended

    def delete(self, campaign_id: str, owner: str) -> None:
        """Delete a campaign; a rain ends first and refunds what is left (its figures stay readable)."""
        c = self.store.get(campaign_id, owner=owner)
        if c.rain:
            self.rains.end(c.id, ms(self.clock()), early=True)
        self.store.delete(c)
        self.deliveries.forget_campaign(c.id)
        self.catalog.refresh()
