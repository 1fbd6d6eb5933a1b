"""The engine service: operators' districts and campaigns, the city channel's feed and locations.

It orchestrates the pure rules (reach index, offer ranking, geofence transitions) against the
store. Each process keeps the reach index and the campaigns in memory, so the geo match of a feed
or location request reads no Redis; ``refresh`` follows the change signals to stay fresh.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator, NamedTuple, Protocol

import h3.api.basic_int as h3i
import numpy as np
import shapely

from district_engine.campaigns.model import Audience, Campaign, CampaignState
from district_engine.campaigns.offers import Offer, member_campaigns, rank_offers
from district_engine.districts.model import District
from district_engine.delivery.events import offer_template, user_json
from district_engine.errors import (DistrictEngineError, ForbiddenError, InvalidInputError, NotFoundError,
                                    RateLimitedError, StoreUnavailableError)
from district_engine.geo.coords import to_wgs84
from district_engine.geo.cover import REACH_RES, reach_cover
from district_engine.geo.geodesy import compile_footprints, ecef
from district_engine.geo.kernels import distances_to_footprint
from district_engine.geo.mapping import MIN_USERS_SHOWN, binned_counts, cell_features, reach_outline
from district_engine.geo.points import MAX_RADIUS_M, check_radius_m
from district_engine.ids import new_id, request_id
from district_engine.identity.principals import channel_of, check_scoped_user
from district_engine.identity.trust import JUMP_WINDOW_MS, MAX_SPEED_KMH, MIN_SLACK_M, Fix, distrust, fix_time_problem
from district_engine.matching.layered import LayeredIndex
from district_engine.quotas import Quotas, check_quota
from district_engine.parking.payments import PaymentGateway
from district_engine.parking.service import Parking
from district_engine.redenvelope.split import split_packets
from district_engine.store import UNAVAILABLE, changes
from district_engine.store.campaigns import CampaignStore
from district_engine.store.deliveries import (POSITION_RES, Delivery, DeliveryStore, Offering, Outcome, Position,
                                              Positions)
from district_engine.store.districts import DistrictStore, StoredDistrict
from district_engine.store.endpoints import EndpointStore
from district_engine.store.fanout import FanoutQueue
from district_engine.store.layout import partition_count
from district_engine.store.locations import LocationQueue
from district_engine.store.operators import OperatorStore
from district_engine.store.outbox import Outbox
from district_engine.store.parking import ParkingStore
from district_engine.store.rains import Grab, RainFigures, RainStore
from district_engine.store.ratelimits import RateLimits
from district_engine.store.schedule import Schedule

__all__ = ["Engine", "Broadcast", "Ping", "Placed", "GrabAttempt", "MemberDirectory", "follow_changes", "utcnow"]

log = logging.getLogger("district_engine.engine")

MAX_LOCATION_BATCH = 10_000
DENSITY_RES = 8  # ~0.7 km² cells for the console's density layer
DAY_MS = 86_400_000


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


class Ping(NamedTuple):
    """One location update, checked: the (scoped) user, WGS-84, what the device says of it, and
    the update's id when the client named the request (sent again, it answers the same)."""

    user_id: str
    lat: float
    lng: float
    accuracy_m: float | None = None
    mocked: bool = False
    request_id: str = ""


JUMPED = (f"jumped: reaching it from the previous position would take more than {MAX_SPEED_KMH:g} km/h "
          f"(distance beyond {MIN_SLACK_M:g} m)")


class Placed(NamedTuple):
    """What one location update did: the new offers, or why the position was not trusted (then
    it counted as no presence: no offers, no recorded position)."""

    offers: list[Offer]
    untrusted: str | None = None


class MemberDirectory(Protocol):
    """Who is whose member (district_engine/guides): what members-only campaigns need."""

    def current_guides(self, operator_id: str, users: list[str]) -> list[str | None]:
        """Each (scoped) user's guide with the operator, None for none: one round trip."""

    def guide_district(self, guide_id: str) -> str:
        """The district (store) a guide serves; it never changes."""

    def district_members(self, operator_id: str, district_id: str) -> Iterator[list[str]]:
        """The members of the district's active guides, in pages."""


class GrabAttempt(NamedTuple):
    """One grab, checked: the rain, the (scoped) user at a position, the device's address when the
    call came from a device (a user token), which its own rate limit counts, and the grab's id
    when the client named the request (a retry of it then wins nothing more)."""

    campaign_id: str
    ping: Ping
    address: str | None = None
    grab_id: str | None = None


class _View:
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
                districts: Iterable[str] = (), campaign_ids: Iterable[str] = ()) -> _View:
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
        return _View(stored, campaigns, index, by_district, offerings, members, footprints)

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
            o = by_reason[reason] = Offering(c.id, c.owner, c.max_pushes_per_user, _ms(c.ends_at) + keep_ms, template)
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


class Broadcast(NamedTuple):
    """What one broadcast did: users found in the cells read, users in reach (queued for fan-out),
    chunks queued. What was pushed or capped shows in the campaign's counts once fanned out."""

    candidates: int
    in_reach: int
    chunks: int


class Engine:
    def __init__(self, client, position_ttl_s: int = 1800, reentry_gap_s: int = 900,
                 grab_limits: tuple[int, int, int] = (5, 200, 50_000), grab_window_s: float = 10.0, wait: tuple[int, int] = (0, 200),
                 max_pushes_per_hour: int = 5, payment_gateway: PaymentGateway | None = None,
                 on_payment_failure: str = "open_and_bill", parking_retry_s: float = 30.0,
                 clock: Callable[[], datetime] = utcnow, partitions: int | None = None,
                 parking_charge_attempts: int = 5, quotas: Quotas = Quotas()):
        """``partitions``: for a new deployment, how many partitions its users are spread over
        (None: 16); an existing one keeps the count it was laid out with (store/layout.py).
        ``quotas``: what one tenant may create (district_engine/quotas.py; none by default)."""
        self.client = client
        self.quotas = quotas
        self.partitions = partition_count(client, partitions)
        self.districts = DistrictStore(client)
        self.campaigns = CampaignStore(client)
        self.operators = OperatorStore(client)
        self.deliveries = DeliveryStore(client, user_json=user_json, reentry_gap_ms=reentry_gap_s * 1000,
                                        pushes_per_window=max_pushes_per_hour,
                                        position_ttl_ms=position_ttl_s * 1000, partitions=self.partitions,
                                        jump=(JUMP_WINDOW_MS, MIN_SLACK_M, MAX_SPEED_KMH / 3600))
        self.schedule = Schedule(client)
        self.locations = LocationQueue(client, self.partitions)
        self.fanout = FanoutQueue(client, self.partitions)
        self.endpoints = EndpointStore(client)
        self.outbox = Outbox(client, partitions=self.partitions)
        self.parking = Parking(ParkingStore(client), gateway=payment_gateway, on_payment_failure=on_payment_failure,
                               retry_s=parking_retry_s, clock=clock, campaign_free_minutes=self.parking_free_minutes,
                               wait=wait, charge_attempts=parking_charge_attempts)
        self.rains = RainStore(client, wait_replicas=wait[0], wait_ms=wait[1])
        self.limits = RateLimits(client)
        self.reentry_gap_s = reentry_gap_s
        self.grab_limits = grab_limits
        self.grab_window_s = grab_window_s
        self.clock = clock
        # Who is whose member, for members-only campaigns: the guides service, set by the
        # composition root (api/main.py); None: such campaigns reach nobody.
        self.members: MemberDirectory | None = None
        self._guide_districts: dict[str, str] = {}
        self._lock = threading.RLock()  # refresh may load the first view while holding it
        self._last_change = "0-0"
        self._view: _View | None = None

    # ------------------------------------------------------------ freshness
    def load(self) -> None:
        """Build the in-memory view from Redis in full (at start-up)."""
        with self._lock:
            self._last_change = changes.last_id(self.client)
            stored = {s.district.id: s for s in self.districts.all()}
            self._view = _View(stored, {c.id: c for c in self.campaigns.all()})

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
    def view(self) -> _View:
        if self._view is None:
            self.load()
        return self._view

    # ------------------------------------------------------------ districts
    def put_district(self, district: District, owner: str) -> bool:
        mine = sum(1 for s in self.view.stored.values() if s.owner == owner and s.district.id != district.id)
        check_quota(mine, self.quotas.districts_per_operator, "districts per operator",
                    "DE_QUOTA_DISTRICTS_PER_OPERATOR")
        created = self.districts.put(district, owner)
        self.refresh()
        return created

    def delete_district(self, district_id: str, owner: str) -> None:
        """Delete the owner's district; its campaigns end now."""
        self.districts.get(district_id, owner=owner)
        now = self.clock()
        for c in self.campaigns.of_operator(owner):
            if c.district_id == district_id and c.state(now) is not CampaignState.ENDED:
                self.campaigns.put(c.ended(now))
        self.districts.delete(district_id, owner)
        self.refresh()

    # ------------------------------------------------------------ campaigns
    _RAIN_FIELDS = ("total_cents", "packets", "min_cents", "split", "per_user_limit")
    _PARKING_FIELDS = ("lot_id", "free_minutes")

    def create_campaign(self, owner: str, **fields) -> Campaign:
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
        try:
            self.districts.get(district_id, owner=owner)
        except NotFoundError:
            raise NotFoundError(f"no district {district_id!r}", field="district_id") from None
        c = Campaign(id=new_id("cmp"), owner=owner, **fields)
        now = self.clock()
        if c.ends_at <= now:  # it would never run: an operator's mistake, said now
            raise InvalidInputError("must be in the future: this campaign would never run", field="ends_at")
        running = sum(1 for x in self.view.campaigns.values()
                      if x.district_id == c.district_id and x.id != c.id and x.state(now) is not CampaignState.ENDED)
        check_quota(running, self.quotas.live_campaigns_per_district, "live or scheduled campaigns per district",
                    "DE_QUOTA_LIVE_CAMPAIGNS_PER_DISTRICT", field="district_id")
        try:
            c = self.campaigns.get(c.id, owner=owner)  # stored by a run whose answer was lost
            stored = True
        except NotFoundError:
            stored = False
        if not stored:
            if c.parking and c.parking["lot_id"] is not None:
                self.parking.lot_of_district(c.parking["lot_id"], c.district_id, owner)
            if c.rain:
                amounts = split_packets(c.rain["total_cents"], c.rain["packets"], c.rain["min_cents"], c.rain["split"])
                # A run of this same request that stopped before the campaign may have funded it:
                # the same figures, left as they are (RainStore.create).
                self.rains.create(c.id, amounts, _ms(c.starts_at), _ms(c.ends_at), c.rain["per_user_limit"])
            self.campaigns.put(c)
        # Again on a retry: the lost run may have stopped before its jobs were in (scheduling twice
        # is harmless: a broadcast delivers once per user, a rain ends once).
        self._schedule_jobs(c)
        self.refresh()
        return c

    def update_campaign(self, campaign_id: str, owner: str, **changes_) -> Campaign:
        c = self.campaigns.get(campaign_id, owner=owner)
        if "district_id" in changes_ and changes_["district_id"] != c.district_id:
            raise InvalidInputError("a campaign cannot move to another district", field="district_id")
        for name in ("starts_at", "ends_at"):
            if c.rain and name in changes_ and changes_[name] != getattr(c, name):
                raise InvalidInputError("a rain's window is fixed; DELETE ends it early and refunds the rest", field=name)
        updated = replace(c, **changes_)
        self.campaigns.put(updated)
        self._schedule_jobs(updated, before=c)
        self.refresh()
        return updated

    def end_campaign(self, campaign_id: str, owner: str) -> Campaign:
        """End the owner's campaign now, live or scheduled (a no-op once it has ended). It stays
        readable with its stats; a rain refunds what is left at once and keeps its figures."""
        c = self.campaigns.get(campaign_id, owner=owner)
        now = self.clock()
        ended = c.ended(now)
        if ended is not c:
            self.campaigns.put(ended)
            self.refresh()
        if c.rain:
            self.rains.end(c.id, _ms(now), early=True)
        return ended

    def delete_campaign(self, campaign_id: str, owner: str) -> None:
        """Delete a campaign; a rain ends first and refunds what is left (its figures stay readable)."""
        c = self.campaigns.get(campaign_id, owner=owner)
        if c.rain:
            self.rains.end(c.id, _ms(self.clock()), early=True)
        self.campaigns.delete(c)
        self.deliveries.forget_campaign(c.id)
        self.refresh()

    # ------------------------------------------------------------ parking
    def create_lot(self, owner: str, district_id: str, lat: float, lng: float, **fields):
        """A parking lot of one of the owner's districts, within its 3 km reach: (lot, webhook secret)."""
        try:
            self.districts.get(district_id, owner=owner)
        except NotFoundError:
            raise NotFoundError(f"no district {district_id!r}", field="district_id") from None
        lat, lng = self.parking.check_location(lat, lng)
        if not any(m.district_id == district_id for m in self.view.index.match(lat, lng)):
            raise InvalidInputError(f"must be within {MAX_RADIUS_M:g} m of district {district_id}", field="location")
        if self.quotas.lots_per_district:
            lots = sum(1 for i in self.parking.store.lots_of(owner) if self.parking.lot(i).data["district_id"] == district_id)
            check_quota(lots, self.quotas.lots_per_district, "lots per district", "DE_QUOTA_LOTS_PER_DISTRICT",
                        field="district_id")
        return self.parking.create_lot(owner, district_id, lat=lat, lng=lng, **fields)

    def parking_free_minutes(self, district_id: str, lot_id: str, at: datetime) -> int:
        """The free minutes the district's live parking campaigns give a stay in this lot (the best one)."""
        return max((c.parking["free_minutes"] for c in self.view.by_district.get(district_id, ())
                    if c.parking and c.parking["lot_id"] in (None, lot_id) and c.state(at) is CampaignState.LIVE),
                   default=0)

    # ------------------------------------------------------------ red-envelope rains
    def grab(self, campaign_id: str, user_id: str, lat: float, lng: float, coord: str = "wgs84",
             address: str | None = None, accuracy_m: float | None = None, mocked: bool = False) -> tuple[Grab, str]:
        """Grab a packet of a live rain for a (scoped) user in its reach: (Grab, grab id). The
        errors are ``grab_many``'s, raised."""
        result = self.grab_many([self.check_grab(campaign_id, user_id, lat, lng, coord, address, accuracy_m, mocked)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    @staticmethod
    def check_grab(campaign_id: str, user_id: str, lat: float, lng: float, coord: str = "wgs84",
                   address: str | None = None, accuracy_m: float | None = None, mocked: bool = False,
                   request_key: str | None = None) -> GrabAttempt:
        """The ``GrabAttempt`` of ``grab_many`` for one grab, checked (WGS-84). ``request_key``:
        the client's name for this request (its Idempotency-Key), which makes the grab id: the same
        key from the same user is the same grab, whenever it is sent again."""
        ping = Engine.check_location(user_id, lat, lng, coord, None, accuracy_m, mocked)
        grab_id = None if request_key is None else request_id("grk_", request_key, campaign_id, ping.user_id)
        return GrabAttempt(campaign_id, ping, address, grab_id)

    def grab_many(self, attempts: list[GrabAttempt]) -> list[tuple[Grab, str] | DistrictEngineError]:
        """Grabs, each (Grab, grab id) or its error: RateLimitedError past the sliding window of
        the user, of its channel or (for a call from a device) of its address; NotFoundError for
        no such rain; ForbiddenError ``untrusted_location`` on a position the trust rule refuses
        (identity/trust.py), ``out_of_range`` beyond the campaign's radius. The window, the
        per-user rule and the pool are decided atomically in Redis (``RainStore.grab_many``).
        Three round trips for all of them: the limits, the users' last positions, the grabs."""
        now_ms = _ms(self.clock())
        per_user, per_address, per_channel = self.grab_limits
        grab_ids = [a.grab_id or f"grb_{uuid.uuid4().hex[:20]}" for a in attempts]
        events = []
        for a, grab_id in zip(attempts, grab_ids):
            subjects, limits = [f"grab:user:{a.ping.user_id}"], [per_user]
            if channel := channel_of(a.ping.user_id):
                subjects.append(f"grab:channel:{channel}")
                limits.append(per_channel)
            if a.address:
                subjects.append(f"grab:ip:{a.address}")
                limits.append(per_address)
            events.append((subjects, limits, grab_id))
        waits = self.limits.admit_many(events, now_ms, int(self.grab_window_s * 1000))
        last = self.deliveries.last_fixes([a.ping.user_id for a, w in zip(attempts, waits) if not w])
        view = self.view
        out: list = [None] * len(attempts)
        going = []
        for i, (a, wait_ms) in enumerate(zip(attempts, waits)):
            out[i] = self._refusal(view, a, wait_ms, last.get(a.ping.user_id), now_ms)
            if out[i] is None:
                going.append(i)
        grabs = self.rains.grab_many([(attempts[i].campaign_id, attempts[i].ping.user_id, now_ms, grab_ids[i])
                                      for i in going])
        for i, g in zip(going, grabs):
            out[i] = g if isinstance(g, Exception) else (g, grab_ids[i])
        return out

    @staticmethod
    def _refusal(view: _View, a: GrabAttempt, wait_ms: int, last: tuple | None, now_ms: int) -> DistrictEngineError | None:
        """Why a grab goes no further than its checks, or None."""
        if wait_ms:
            return RateLimitedError("too many grab attempts; slow down", retry_after_s=max(1, -(-wait_ms // 1000)))
        c = view.campaigns.get(a.campaign_id)
        if c is None or not c.rain:
            return NotFoundError(f"no red-envelope rain {a.campaign_id!r}", field="campaign_id")
        p = a.ping
        reason = distrust(Fix(*last) if last else None, Fix(p.lat, p.lng, now_ms, p.accuracy_m, p.mocked))
        if reason is not None:
            return ForbiddenError(f"untrusted location: {reason}", code="untrusted_location")
        distance = next((m.distance_m for m in view.index.match(p.lat, p.lng) if m.district_id == c.district_id), None)
        if distance is None or distance > c.radius_m:
            return ForbiddenError(f"more than {c.radius_m:g} m from {c.district_id}", code="out_of_range")
        return None

    def rain_figures(self, campaign_id: str, owner: str) -> tuple[RainFigures, CampaignState]:
        """The rain's figures for its owner; past the window, what is left is refunded first (once)."""
        c = self.campaigns.get(campaign_id, owner=owner)
        if not c.rain:
            raise NotFoundError(f"no red-envelope rain {campaign_id!r}", field="campaign_id")
        now = self.clock()
        state = c.state(now)
        if state is CampaignState.ENDED:
            self.rains.end(c.id, _ms(now), early=True)
        return self.rains.figures(c.id), state

    # ------------------------------------------------------------ city channel
    def feed(self, lat: float, lng: float, coord: str = "wgs84", limit: int = 20,
             user_id: str | None = None) -> list[Offer]:
        """Live offers in reach of a point, nearest first; for a (scoped) ``user_id``, the
        members-only offers of the user's guides first (``members_live`` says whether any could
        be: only then does this read Redis). Records nothing."""
        view = self.view
        now = self.clock()
        offers = rank_offers(view.index.match(lat, lng, coord), view.by_district, now, limit)
        if user_id is None or not self.members_live():
            return offers
        lat, lng = to_wgs84(lat, lng, coord)
        return (self._member_offers(view, [user_id], [(float(lat), float(lng))], now)[0] + offers)[:limit]

    def members_live(self) -> bool:
        """Whether a members-only campaign is live now (they cost a Redis read only then)."""
        now = self.clock()
        return self.members is not None and any(c.state(now) is CampaignState.LIVE
                                                for c in self.view.members.values())

    def _member_offers(self, view: _View, users: list[str], points: list[tuple[float, float]],
                       now: datetime) -> list[list[Offer]]:
        """Per (scoped) user at a WGS-84 point, the live members-only campaigns of the districts
        of the user's guides (``member_campaigns``), with the distance from the point: one read
        per operator that has one live."""
        out: list[list[Offer]] = [[] for _ in users]
        live = [c for c in view.members.values() if c.state(now) is CampaignState.LIVE]
        if not live or self.members is None or not users:
            return out
        guide_districts: list[dict[str, str]] = [{} for _ in users]
        for owner in {c.owner for c in live}:
            for i, guide_id in enumerate(self.members.current_guides(owner, users)):
                if guide_id is not None:
                    guide_districts[i][owner] = self._guide_district(guide_id)
        for i, districts in enumerate(guide_districts):
            for c in member_campaigns(districts, live, now) if districts else ():
                distance = view.distance_m(c.district_id, *points[i])
                if distance is not None:
                    out[i].append(Offer(c, distance))
        return out

    def _guide_district(self, guide_id: str) -> str:
        district = self._guide_districts.get(guide_id)
        if district is None:
            district = self._guide_districts[guide_id] = self.members.guide_district(guide_id)
        return district

    def locate(self, user_id: str, lat: float, lng: float, coord: str = "wgs84",
               at: datetime | None = None, accuracy_m: float | None = None, mocked: bool = False) -> list[Offer]:
        """Record a (scoped) user's position; return the offers in reach this user had not been given.

        An offer is new when the user enters its reach: the first time, and again after being out
        of it (not seen in it) for ``reentry_gap_s``, up to ``max_pushes_per_user``. The check and
        the count are atomic in Redis, so they hold across workers; position and deliveries go
        in one round trip. An untrusted position (identity/trust.py) gives nothing.
        """
        ping = self.check_location(user_id, lat, lng, coord, at, accuracy_m, mocked)
        self.check_fix_time(at)
        return self.locate_many([ping])[0].offers

    def check_fix_time(self, at: datetime | None) -> None:
        """InvalidInputError (field ``at``) for a device's time that cannot be a fix of now
        (identity/trust.py ``fix_time_problem``)."""
        if at is not None and (problem := fix_time_problem(_ms(at), _ms(self.clock()),
                                                             self.deliveries.position_ttl_ms)):
            raise InvalidInputError(problem, field="at")

    @staticmethod
    def check_location(user_id: str, lat: float, lng: float, coord: str = "wgs84", at: datetime | None = None,
                       accuracy_m: float | None = None, mocked: bool = False, request_key: str | None = None) -> Ping:
        """The ``Ping`` of ``locate_many`` (WGS-84) for one update, checked. ``request_key``: the
        client's name for it (its Idempotency-Key): sent again, it answers the offers it gave."""
        check_scoped_user(user_id)
        if at is not None and at.tzinfo is None:
            raise InvalidInputError("must be an RFC 3339 time with a UTC offset", field="at")
        if accuracy_m is not None and not (isinstance(accuracy_m, (int, float)) and 0 <= accuracy_m < 1e7):
            raise InvalidInputError("must be a radius in metres, >= 0", field="accuracy_m")
        lat, lng = to_wgs84(lat, lng, coord)
        named = "" if request_key is None else request_id("loc_", request_key, user_id)
        return Ping(user_id, float(lat), float(lng), accuracy_m, bool(mocked), named)

    def enqueue_locations(self, rows: list[tuple]) -> int:
        """Check and queue (user id, lat, lng, coord[, accuracy_m, mocked]) rows for the matchers
        (``locate_many`` in a worker); all or nothing: a bad row is an InvalidInputError naming
        ``locations.<i>.<field>`` (as the API names fields). A mocked or inaccurate position is
        accepted but not queued: it cannot count as presence."""
        if len(rows) > MAX_LOCATION_BATCH:
            raise InvalidInputError(f"at most {MAX_LOCATION_BATCH} per request, got {len(rows)}", field="locations")
        checked = []
        for i, row in enumerate(rows):
            try:
                ping = self.check_location(*row[:4], None, *row[4:])
            except InvalidInputError as e:
                raise InvalidInputError(e.message, field=f"locations.{i}.{e.field}") from None
            if distrust(None, Fix(ping.lat, ping.lng, 0, ping.accuracy_m, ping.mocked)) is None:
                checked.append((ping.user_id, ping.lat, ping.lng))
        self.locations.add(checked)
        return len(checked)

    def locate_many(self, rows: list[Ping]) -> list[Placed]:
        """``locate`` for many checked pings (WGS-84; the queued bulk updates too): every position
        and every delivery in one round trip. A mocked or inaccurate fix is refused here; the jump
        rule, which needs the user's last position, is applied by the delivery script in the same
        round trip (``DeliveryStore.deliver_placed``; identity/trust.py is its reference)."""
        view = self.view
        now = self.clock()
        now_ms = _ms(now)
        gap_ms = self.deliveries.reentry_gap_ms
        per_row, items, positions, untrusted = [], [], [], {}
        members = (self._member_offers(view, [p.user_id for p in rows], [(p.lat, p.lng) for p in rows], now)
                   if view.members else [()] * len(rows))  # none at all: nothing built per ping
        for i, ping in enumerate(rows):
            reason = distrust(None, Fix(ping.lat, ping.lng, now_ms, ping.accuracy_m, ping.mocked))
            if reason is not None:
                untrusted[i] = reason
                per_row.append([])
                continue
            offers = rank_offers(view.index.match(ping.lat, ping.lng), view.by_district, now)
            per_row.append([*members[i], *offers])
            items += [Delivery(ping.user_id, view.offering(o.campaign, "member", gap_ms), o.distance_m,
                               request_id=ping.request_id) for o in members[i]]
            items += [Delivery(ping.user_id, view.offering(o.campaign, "entered", gap_ms), o.distance_m,
                               request_id=ping.request_id) for o in offers]
            positions.append(Position(ping.user_id, ping.lat, ping.lng,
                                      h3i.latlng_to_cell(ping.lat, ping.lng, POSITION_RES)))
        codes, jumped = self.deliveries.deliver_placed(items, now_ms, positions)
        codes = iter(codes)
        placed = []
        for i, (ping, offers) in enumerate(zip(rows, per_row)):
            got = [o for o, code in zip(offers, codes) if code in (Outcome.PUSHED, Outcome.CAPPED)]
            if i not in untrusted and ping.user_id in jumped:
                untrusted[i] = JUMPED
            placed.append(Placed(got, untrusted.get(i)))
        return placed

    # ------------------------------------------------------------ broadcast on go-live
    def broadcast(self, campaign_id: str) -> Broadcast:
        """Queue a live campaign for every user whose last position (within its TTL) is in its
        reach; the workers' fan-out (``fan_out``) delivers it, to each at most once ever: users who
        had it already (from an entry or an earlier broadcast, e.g. before the radius grew) and
        users who moved since are skipped then. Safe to run again.

        Users are found through the index of last positions by H3 cell (the cells covering the
        reach, an exact superset), then kept by their exact geodesic distance to the footprint.
        """
        view = self.view
        c = view.campaigns.get(campaign_id)
        now = self.clock()
        if c is None or c.state(now) is not CampaignState.LIVE or c.district_id not in view.stored:
            return Broadcast(0, 0, 0)
        if c.audience is Audience.MEMBERS:
            return self._broadcast_to_members(view, c)
        found, distance, reach = self._positions_in_reach(view.stored[c.district_id].district, c.radius_m, now)
        chunks = self.fanout.add(c.id, [found.users[i] for i in reach.tolist()], found.found_ms[reach],
                                 distance[reach], found.partitions[reach])
        return Broadcast(len(found.users), int(reach.size), chunks)

    def _broadcast_to_members(self, view: _View, c: Campaign) -> Broadcast:
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

    def _positions_in_reach(self, district: District, radius_m: float,
                            now: datetime) -> tuple[Positions, np.ndarray, np.ndarray]:
        """Users whose last position (within its TTL) is within ``radius_m`` of the footprint:
        what was found in the cells covering that reach (an exact superset), every one's geodesic
        distance, and the indices of those in reach."""
        fp = compile_footprints([district.geometry])
        cells = reach_cover(fp, radius_m, res=POSITION_RES).cells
        found = self.deliveries.positions_in_cells(cells, _ms(now))
        distance = (distances_to_footprint(ecef(found.lats, found.lngs), fp.frames, fp.edges) if found.users
                    else np.empty(0))
        return found, distance, np.flatnonzero(distance <= radius_m)

    def fan_out(self, consumer: str, count: int = 20, block_ms: int = 0, reclaim_idle_ms: int | None = None) -> int:
        """Deliver queued broadcast chunks (at most ``count`` per partition, waiting up to
        ``block_ms`` for some); the users handled. At least once: a chunk delivered twice changes
        nothing, as a broadcast delivers only to users who never had the offer."""
        chunks = self.fanout.read(consumer, count, block_ms, reclaim_idle_ms)
        if not chunks:
            return 0
        view = self.view
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
        self.deliveries.deliver(items, _ms(now))
        self.fanout.ack(chunks)
        return sum(len(ch.users) for ch in chunks)

    def run_due_jobs(self, lease_s: float = 120, n: int = 100) -> int:
        """Run the scheduled jobs that are due (broadcasts at go-live, rain refunds at the end);
        returns how many ran. A job whose runner dies comes back after ``lease_s``."""
        jobs, receipt = self.schedule.claim(_ms(self.clock()), int(lease_s * 1000), n)
        if jobs:
            self.refresh()
        for job in jobs:
            kind, campaign_id = job.split(":", 1)
            then = None
            if kind == "broadcast":
                self.broadcast(campaign_id)
            elif kind == "rain_end" and self.rains.end(campaign_id, _ms(self.clock())) < 0:
                then = (job, _ms(self.clock()) + 1000)  # this clock is behind the one that scheduled it
            self.schedule.finish(job, receipt, then)
        return len(jobs)

    def _schedule_jobs(self, c: Campaign, before: Campaign | None = None) -> None:
        """Schedule a campaign's broadcast (at its start, or now if live) when it is new, starts
        at another time, or reaches farther; and a rain's refund at its end."""
        now = self.clock()
        if c.state(now) is CampaignState.ENDED:
            return
        if before is None or c.starts_at != before.starts_at or c.radius_m > before.radius_m:
            self.schedule.job("broadcast", c.id, max(_ms(c.starts_at), _ms(now)))
        if c.rain:
            self.schedule.job("rain_end", c.id, _ms(c.ends_at))

    def district_name(self, district_id: str) -> str:
        return self.view.district_name(district_id)

    # ------------------------------------------------------------ maps (the console draws these)
    def reach_map(self, district_id: str, radius_m: float = MAX_RADIUS_M) -> dict:
        """The district's reach at ``radius_m`` (a campaign's radius; 3 km by default), a GeoJSON
        FeatureCollection: the H3 cells covering it as the matcher covers it (``interior``: every
        point in reach; ``boundary``: an exact distance check decides there) and its ``outline``.
        Cells are not compacted: a parent cell's outline is not its children's."""
        radius_m = check_radius_m(radius_m)
        stored = self.view.stored.get(district_id)
        if stored is None:
            raise NotFoundError(f"no district {district_id!r}", field="district_id")
        district = stored.district
        cover = reach_cover(compile_footprints([district.geometry]), radius_m, res=REACH_RES)
        outline = reach_outline(district.geometry, radius_m, district.centre)
        return {"type": "FeatureCollection", "radius_m": radius_m, "res": REACH_RES, "features": [
            *cell_features(cover.cells, [{"kind": "interior" if i else "boundary"} for i in cover.interior.tolist()]),
            {"type": "Feature", "properties": {"kind": "outline", "radius_m": radius_m},
             "geometry": shapely.geometry.mapping(outline)},
        ]}

    def density(self, district_id: str, owner: str) -> dict:
        """Users in the owner's district's reach now, counted per H3 cell (DENSITY_RES), as a GeoJSON
        FeatureCollection. Counts only: a cell with fewer than MIN_USERS_SHOWN users is left out."""
        self.districts.get(district_id, owner=owner)
        stored = self.view.stored.get(district_id)
        if stored is None:
            raise NotFoundError(f"no district {district_id!r}", field="district_id")
        found, _, reach = self._positions_in_reach(stored.district, MAX_RADIUS_M, self.clock())
        cells, counts = binned_counts(found.lats[reach], found.lngs[reach], DENSITY_RES)
        return {"type": "FeatureCollection", "res": DENSITY_RES, "min_users": MIN_USERS_SHOWN,
                "features": cell_features(cells, [{"users": int(n)} for n in counts.tolist()])}


def follow_changes(engine: Engine, stop: threading.Event, resync_s: float) -> None:
    """Keep this process's index and campaigns fresh: block on the change stream, apply, repeat;
    now and then reload everything, the backstop for a change whose signal was lost."""
    next_resync = time.monotonic() + resync_s
    while not stop.is_set():
        try:
            engine.refresh(block_ms=200)
            engine.compact()
            if time.monotonic() >= next_resync:
                engine.resync()
                next_resync = time.monotonic() + resync_s
        except UNAVAILABLE + (StoreUnavailableError,):
            log.warning("change follower: store unavailable, retrying")  # keep serving the last view
            stop.wait(0.5)
        except Exception:  # noqa: BLE001 - a bug or bad stored data: say so loudly, keep the thread alive
            log.exception("change follower failed; retrying")
            stop.wait(1.0)
