"""The catalog: each process's live, in-memory view of the districts and the campaigns (the reach
index, the campaigns by district, the offerings made from them), kept fresh from the change stream.

The geo match of a feed, a location update or a grab reads no Redis: it reads the view. Writers
refresh after their write; ``follow_changes`` applies every other process's changes and now and
then compares the whole store with the view, the backstop for a lost signal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import datetime
from typing import Iterable

import numpy as np

from district_engine.campaigns.model import Audience, Campaign, CampaignState
from district_engine.delivery.events import offer_template
from district_engine.errors import NotFoundError, StoreUnavailableError
from district_engine.geo.geodesy import compile_footprints, ecef
from district_engine.geo.kernels import distances_to_footprint
from district_engine.geo.points import MAX_RADIUS_M
from district_engine.matching.layered import LayeredIndex
from district_engine.store import changes
from district_engine.store.campaigns import CampaignStore
from district_engine.store.connection import ping
from district_engine.store.deliveries import Offering
from district_engine.store.districts import DistrictStore, StoredDistrict
from district_engine.clock import DAY_MS, ms

__all__ = ["Catalog", "View", "follow_changes"]

log = logging.getLogger("district_engine.catalog")


class View:
    """One consistent in-memory snapshot: the districts, the campaigns and the campaigns by
    district, the reach index, and the offerings made from them. Swapped whole; a change makes
    the next one from this one (``changed``) at the cost of what it touches plus shallow copies of
    the dicts, not a regroup of every campaign: every process applies every change, so its cost
    must follow the change, not the size of the catalog (figures: docs/scaling.md)."""

    def __init__(self, stored: dict[str, StoredDistrict], campaigns: dict[str, Campaign],
                 index: LayeredIndex | None = None, by_district: dict[str, tuple[Campaign, ...]] | None = None,
                 offerings: dict[str, dict[str, Offering]] | None = None, members: dict[str, Campaign] | None = None,
                 footprints: dict | None = None):
        self.stored = stored
        self.campaigns = campaigns
        # Members-only campaigns (few), which are offered by membership, not by place.
        self.members = ({i: c for i, c in campaigns.items() if c.audience is Audience.MEMBERS} if members is None
                        else members)
        self._footprints = {} if footprints is None else footprints  # district id -> compiled, made on use
        if index is None:
            index = LayeredIndex([s.district for s in stored.values()], radius_m=MAX_RADIUS_M)
        self.index = index
        if by_district is None:
            grouped = defaultdict(list)
            for c in campaigns.values():
                grouped[c.district_id].append(c)
            by_district = {d: tuple(cs) for d, cs in grouped.items()}
        self.by_district = by_district
        self._offerings = {} if offerings is None else offerings  # campaign id -> reason -> offering

    def changed(self, stored: dict[str, StoredDistrict], campaigns: dict[str, Campaign], index: LayeredIndex,
                districts: Iterable[str] = (), campaign_ids: Iterable[str] = ()) -> View:
        """The view of ``stored``, ``campaigns`` and ``index``, which differ from this one's only
        in the districts ``districts`` and the campaigns ``campaign_ids`` (added, replaced or
        gone). Offerings are kept but for the campaigns changed or of a changed district (its
        name is in their events)."""
        campaign_ids, districts = set(campaign_ids), set(districts)
        by_district, offerings = dict(self.by_district), dict(self._offerings)
        members = {i: c for i, c in self.members.items() if i not in campaign_ids}
        members.update((i, c) for i in campaign_ids if (c := campaigns.get(i)) is not None and c.audience)
        footprints = {d: fp for d, fp in self._footprints.items() if d not in districts}
        for cid in campaign_ids | {c.id for d in districts for c in by_district.get(d, ())}:
            offerings.pop(cid, None)
        regroup = {c.district_id for cid in campaign_ids for c in (self.campaigns.get(cid), campaigns.get(cid))
                   if c is not None}
        for d in regroup:
            group = [c for c in by_district.pop(d, ()) if c.id not in campaign_ids]
            group += [c for cid in campaign_ids if (c := campaigns.get(cid)) is not None and c.district_id == d]
            if group:
                by_district[d] = tuple(group)
        return View(stored, campaigns, index, by_district, offerings, members, footprints)

    def offering(self, c: Campaign, reason: str, reentry_gap_ms: int) -> Offering:
        """What delivering the campaign's offer needs, with its event's template, made once and
        kept until the campaign or its district changes, so an offering never outlives what it
        serialized. Users' state about it is kept until it ends plus the re-entry gap."""
        by_reason = self._offerings.get(c.id)
        if by_reason is None:
            by_reason = self._offerings[c.id] = {}
        o = by_reason.get(reason)
        if o is None:
            template = offer_template(c, self.district_name(c.district_id), reason)
            # Users' state about it outlives it by the re-entry gap, and its gift times (g:) by the
            # attribution window: an order that long after still finds the offer it converts.
            keep_ms = max(reentry_gap_ms, c.attribution_days * DAY_MS)
            o = by_reason[reason] = Offering(c.id, c.owner, c.max_pushes_per_user, ms(c.ends_at) + keep_ms, template)
        return o

    def district_name(self, district_id: str) -> str:
        stored = self.stored.get(district_id)
        return stored.district.name if stored else district_id

    def distance_m(self, district_id: str, lat: float, lng: float) -> float | None:
        """The geodesic distance (m, WGS-84) from a point to the district's footprint, 0 inside;
        None when the district is gone. For points the reach index does not cover (farther than
        3 km): members' offers."""
        fp = self._footprints.get(district_id)
        if fp is None:
            stored = self.stored.get(district_id)
            if stored is None:
                return None
            fp = self._footprints[district_id] = compile_footprints([stored.district.geometry])
        return float(distances_to_footprint(ecef(np.array([lat]), np.array([lng])), fp.frames, fp.edges)[0])


class Catalog:
    """The view, and how it follows the store: ``load`` at start-up, ``refresh`` after a write and
    on every change signal, ``resync`` as the backstop, ``compact`` to fold the index's overlay."""

    def __init__(self, client, districts: DistrictStore, campaigns: CampaignStore):
        self.client = client
        self.districts = districts
        self.campaigns = campaigns
        self._lock = threading.RLock()  # refresh may load the first view while holding it
        self._last_change = "0-0"
        self._view: View | None = None

    def load(self) -> None:
        """Build the in-memory view from Redis in full (at start-up)."""
        with self._lock:
            self._last_change = changes.last_id(self.client)
            stored = {s.district.id: s for s in self.districts.all()}
            self._view = View(stored, {c.id: c for c in self.campaigns.all()})

    def resync(self) -> int:
        """Compare the whole store with the view and apply what differs, as changes: the backstop
        for a change whose signal was lost. Reads everything, builds only what changed."""
        stored = {s.district.id: s for s in self.districts.all()}
        campaigns = {c.id: c for c in self.campaigns.all()}
        with self._lock:
            view = self.view
            put = [s.district for i, s in stored.items()
                   if i not in view.stored or view.stored[i].updated_at != s.updated_at]
            gone = [i for i in view.stored if i not in stored]
            changed = {i for i, c in campaigns.items() if view.campaigns.get(i) != c}
            changed |= {i for i in view.campaigns if i not in campaigns}
            if not put and not gone and not changed:
                return 0
            # Unchanged campaigns keep their objects: what is cached by them stays valid.
            campaigns = {i: view.campaigns[i] if i in view.campaigns and i not in changed else c
                         for i, c in campaigns.items()}
            index = view.index.with_changes(put, gone) if put or gone else view.index
            self._view = view.changed(stored, campaigns, index, [d.id for d in put] + gone, changed)
        return len(put) + len(gone) + len(changed)

    def refresh(self, block_ms: int | None = None) -> int:
        """Apply change signals newer than the last seen; returns how many were applied."""
        news = changes.read_after(self.client, self._last_change, block_ms=block_ms)
        if not news:
            return 0
        with self._lock:
            # Another thread (a writer's own refresh, or the follower) may have applied some already.
            news = [ch for ch in news if changes.newer(ch.stream_id, self._last_change)]
            if not news:
                return 0
            view = self.view
            stored, campaigns = dict(view.stored), dict(view.campaigns)
            touched, touched_campaigns = set(), set()
            for ch in news:
                table, loader = ((stored, self._load_district) if ch.entity == "district"
                                 else (campaigns, self._load_campaign))
                table.pop(ch.id, None)
                if ch.op == "put" and (item := loader(ch.id)) is not None:
                    table[ch.id] = item
                (touched if ch.entity == "district" else touched_campaigns).add(ch.id)
            # Changed districts go to the index's small overlay: no full rebuild on the way.
            index = view.index.with_changes([stored[i].district for i in touched if i in stored],
                                            [i for i in touched if i not in stored]) if touched else view.index
            self._view = view.changed(stored, campaigns, index, touched, touched_campaigns)
            self._last_change = news[-1].stream_id
        return len(news)

    def compact(self, overlay_limit: int = 256) -> bool:
        """Fold the index's overlay into a new base once it has grown past ``overlay_limit``.

        A full build, made outside the lock (writers' refreshes go on meanwhile) and swapped in
        only if no change arrived during it; otherwise the next call tries again.
        """
        view = self.view
        if view.index.overlay_size <= overlay_limit:
            return False
        compacted = view.index.compacted()
        with self._lock:
            if self._view is not view:
                return False
            self._view = view.changed(view.stored, view.campaigns, compacted)
        return True

    def _load_district(self, district_id):
        try:
            return self.districts.get(district_id)
        except NotFoundError:
            return None

    def _load_campaign(self, campaign_id):
        try:
            return self.campaigns.get(campaign_id)
        except NotFoundError:
            return None

    @property
    def view(self) -> View:
        if self._view is None:
            self.load()
        return self._view

    def district_name(self, district_id: str) -> str:
        return self.view.district_name(district_id)

    def ping(self) -> None:
        """Whether the store answers (readiness): raises if it does not."""
        ping(self.client)

    def owned(self, district_id: str, owner: str) -> StoredDistrict:
        """The owner's district, read from the store (the view may not have it yet); NotFoundError
        naming ``district_id`` otherwise."""
        try:
            return self.districts.get(district_id, owner=owner)
        except NotFoundError:
            raise NotFoundError(f"no district {district_id!r}", field="district_id") from None

    def parking_free_minutes(self, district_id: str, lot_id: str, at: datetime) -> int:
        """The free minutes the district's live parking campaigns give a stay in this lot (the best one)."""
        return max((c.parking["free_minutes"] for c in self.view.by_district.get(district_id, ())
                    if c.parking and c.parking["lot_id"] in (None, lot_id) and c.state(at) is CampaignState.LIVE),
                   default=0)


def follow_changes(catalog: Catalog, stop: threading.Event, resync_s: float) -> None:
    """Keep this process's view fresh: block on the change stream, apply, repeat; now and then
    compare everything, the backstop for a change whose signal was lost."""
    next_resync = time.monotonic() + resync_s
    while not stop.is_set():
        try:
            catalog.refresh(block_ms=200)
            catalog.compact()
            if time.monotonic() >= next_resync:
                catalog.resync()
                next_resync = time.monotonic() + resync_s
        except StoreUnavailableError:
            log.warning("change follower: store unavailable, retrying")  # keep serving the last view
            stop.wait(0.5)
        except Exception:  # noqa: BLE001 - a bug or bad stored data: say so loudly, keep the thread alive
            log.exception("change follower failed; retrying")
            stop.wait(1.0)
