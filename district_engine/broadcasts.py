"""Broadcasts: a campaign going live reaches the users already in its reach (or, members-only, the
members of its store's guides), through fan-out chunks that the workers deliver."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import numpy as np

from district_engine.campaigns.model import Audience, Campaign, CampaignState
from district_engine.catalog import Catalog, View
from district_engine.channel import MemberDirectory
from district_engine.clock import Clock, ms
from district_engine.districts.model import District
from district_engine.geo.cover import reach_cover
from district_engine.geo.geodesy import compile_footprints, ecef
from district_engine.geo.kernels import distances_to_footprint
from district_engine.store.deliveries import POSITION_RES, Delivery, DeliveryStore, Positions
from district_engine.store.fanout import FanoutQueue

__all__ = ["Broadcast", "Broadcasts", "users_in_reach"]


def users_in_reach(deliveries: DeliveryStore, district: District, radius_m: float,
                   now: datetime) -> tuple[Positions, np.ndarray, np.ndarray]:
    """Users whose last position (within its TTL) is within ``radius_m`` of the footprint: what
    was found in the cells covering that reach (an exact superset), every one's geodesic distance,
    and the indices of those in reach."""
    fp = compile_footprints([district.geometry])
    cells = reach_cover(fp, radius_m, res=POSITION_RES).cells
    found = deliveries.positions_in_cells(cells, ms(now))
    distance = (distances_to_footprint(ecef(found.lats, found.lngs), fp.frames, fp.edges) if found.users
                else np.empty(0))
    return found, distance, np.flatnonzero(distance <= radius_m)


class Broadcast(NamedTuple):
    """What one broadcast did: users found in the cells read, users in reach (queued for fan-out),
    chunks queued. What was pushed or capped shows in the campaign's counts once fanned out."""

    candidates: int
    in_reach: int
    chunks: int


class Broadcasts:
    def __init__(self, catalog: Catalog, deliveries: DeliveryStore, fanout: FanoutQueue, clock: Clock,
                 members: MemberDirectory | None = None):
        self.catalog = catalog
        self.deliveries = deliveries
        self.fanout = fanout
        self.clock = clock
        self.members = members

    def broadcast(self, campaign_id: str) -> Broadcast:
        """Queue a live campaign for every user whose last position (within its TTL) is in its
        reach; the workers' fan-out (``fan_out``) delivers it, to each at most once ever: users who
        had it already (from an entry or an earlier broadcast, e.g. before the radius grew) and
        users who moved since are skipped then. Safe to run again.

        Users are found through the index of last positions by H3 cell (the cells covering the
        reach, an exact superset), then kept by their exact geodesic distance to the footprint.
        """
        view = self.catalog.view
        c = view.campaigns.get(campaign_id)
        now = self.clock()
        if c is None or c.state(now) is not CampaignState.LIVE or c.district_id not in view.stored:
            return Broadcast(0, 0, 0)
        if c.audience is Audience.MEMBERS:
            return self._broadcast_to_members(view, c)
        found, distance, reach = users_in_reach(self.deliveries, view.stored[c.district_id].district, c.radius_m, now)
        chunks = self.fanout.add(c.id, [found.users[i] for i in reach.tolist()], found.found_ms[reach],
                                 distance[reach], found.partitions[reach])
        return Broadcast(len(found.users), int(reach.size), chunks)

    def _broadcast_to_members(self, view: View, c: Campaign) -> Broadcast:
        """A members-only campaign's go-live: queued for every member of its district's guides,
        wherever they are (with the distance from their last position, if one is known)."""
        if self.members is None:
            return Broadcast(0, 0, 0)
        n = chunks = 0
        for users in self.members.district_members(c.owner, c.district_id):
            fixes = self.deliveries.last_fixes(users)
            distance = np.array([view.distance_m(c.district_id, *fixes[u][:2]) if u in fixes else np.nan
                                 for u in users], dtype=float)
            chunks += self.fanout.add(c.id, users, np.zeros(len(users), dtype=np.int64), distance)
            n += len(users)
        return Broadcast(n, n, chunks)

    def fan_out(self, consumer: str, count: int = 20, block_ms: int = 0, reclaim_idle_ms: int | None = None) -> int:
        """Deliver queued broadcast chunks (at most ``count`` per partition, waiting up to
        ``block_ms`` for some); the users handled. At least once: a chunk delivered twice changes
        nothing, as a broadcast delivers only to users who never had the offer."""
        chunks = self.fanout.read(consumer, count, block_ms, reclaim_idle_ms)
        if not chunks:
            return 0
        view = self.catalog.view
        now = self.clock()
        items = []
        for ch in chunks:
            c = view.campaigns.get(ch.campaign_id)
            if c is None or c.state(now) is not CampaignState.LIVE:
                continue  # deleted or ended since it was found
            if c.audience is Audience.MEMBERS:  # wherever they are: delivered as an entry, once
                offering = view.offering(c, "member", self.deliveries.reentry_gap_ms)
                items += [Delivery(user_id, offering, distance_m) for user_id, _, distance_m in ch.users]
            else:
                offering = view.offering(c, "broadcast", self.deliveries.reentry_gap_ms)
                items += [Delivery(user_id, offering, distance_m, found_ms) for user_id, found_ms, distance_m in ch.users]
        self.deliveries.deliver(items, ms(now))
        self.fanout.ack(chunks)
        return sum(len(ch.users) for ch in chunks)
