"""Operators' districts: upload (or replace), delete (its campaigns end), and the public reads,
served from the catalog's view in memory."""

from __future__ import annotations

from district_engine.campaigns.model import CampaignState
from district_engine.catalog import Catalog
from district_engine.clock import Clock
from district_engine.districts.model import District
from district_engine.errors import NotFoundError
from district_engine.quotas import Quotas, check_quota
from district_engine.store.campaigns import CampaignStore
from district_engine.store.districts import DistrictStore, StoredDistrict

__all__ = ["Districts"]


class Districts:
    def __init__(self, store: DistrictStore, campaigns: CampaignStore, catalog: Catalog, clock: Clock,
                 quotas: Quotas = Quotas()):
        self.store = store
        self.campaigns = campaigns
        self.catalog = catalog
        self.clock = clock
        self.quotas = quotas

    def all(self, owner: str | None = None) -> list[StoredDistrict]:
        """Every district (or the owner's), as this process's view has them."""
        return [s for s in self.catalog.view.stored.values() if owner is None or s.owner == owner]

    def get(self, district_id: str) -> District:
        stored = self.catalog.view.stored.get(district_id)
        if stored is None:
            raise NotFoundError(f"no district {district_id!r}", field="district_id")
        return stored.district

    def put(self, district: District, owner: str) -> bool:
        mine = sum(1 for s in self.catalog.view.stored.values() if s.owner == owner and s.district.id != district.id)
        check_quota(mine, self.quotas.districts_per_operator, "districts per operator",
                    "DE_QUOTA_DISTRICTS_PER_OPERATOR")
        created = self.store.put(district, owner)
        self.catalog.refresh()
        return created

    def delete(self, district_id: str, owner: str) -> None:
        """Delete the owner's district; its campaigns end now."""
        self.catalog.owned(district_id, owner)
        now = self.clock()
        for c in self.campaigns.of_operator(owner):
            if c.district_id == district_id and c.state(now) is not CampaignState.ENDED:
                self.campaigns.put(c.ended(now))
        self.store.delete(district_id, owner)
        self.catalog.refresh()
