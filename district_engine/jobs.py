"""Scheduled jobs: a campaign's broadcast at its start, a rain's refund at its end. Any process may
run them; a job whose runner dies comes back after its lease."""

from __future__ import annotations

from district_engine.broadcasts import Broadcasts
from district_engine.campaigns.model import Campaign, CampaignState
from district_engine.catalog import Catalog
from district_engine.clock import Clock, ms
from district_engine.store.rains import RainStore
from district_engine.store.schedule import Schedule

__all__ = ["Jobs"]


class Jobs:
    def __init__(self, schedule: Schedule, catalog: Catalog, broadcasts: Broadcasts, rains: RainStore, clock: Clock):
        self.store = schedule
        self.catalog = catalog
        self.broadcasts = broadcasts
        self.rains = rains
        self.clock = clock

    def run_due_jobs(self, lease_s: float = 120, n: int = 100) -> int:
        """Run the scheduled jobs that are due (broadcasts at go-live, rain refunds at the end);
        returns how many ran. A job whose runner dies comes back after ``lease_s``."""
        jobs, receipt = self.store.claim(ms(self.clock()), int(lease_s * 1000), n)
        if jobs:
            self.catalog.refresh()
        for job in jobs:
            kind, campaign_id = job.split(":", 1)
            then = None
            if kind == "broadcast":
                self.broadcasts.broadcast(campaign_id)
            elif kind == "rain_end" and self.rains.end(campaign_id, ms(self.clock())) < 0:
                then = (job, ms(self.clock()) + 1000)  # this clock is behind the one that scheduled it
            self.store.finish(job, receipt, then)
        return len(jobs)

    def schedule(self, c: Campaign, before: Campaign | None = None) -> None:
        """Schedule a campaign's broadcast (at its start, or now if live) when it is new, starts
        at another time, or reaches farther; and a rain's refund at its end."""
        now = self.clock()
        if c.state(now) is CampaignState.ENDED:
            return
        if before is None or c.starts_at != before.starts_at or c.radius_m > before.radius_m:
            self.store.job("broadcast", c.id, max(ms(c.starts_at), ms(now)))
        if c.rain:
            self.store.job("rain_end", c.id, ms(c.ends_at))
