"""The city channel's side: the feed, users' location updates (one at a time, batched, or queued
for the matchers) and the offers they earn, and what checks a ping.

A location update is matched against the catalog's view in memory; its position and its
deliveries go to Redis in one round trip (``DeliveryStore.deliver_placed``), where the delivery
rule decides what is new for the user.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterator, NamedTuple, Protocol

import h3.api.basic_int as h3i

from district_engine.campaigns.model import CampaignState
from district_engine.campaigns.offers import Offer, member_campaigns, rank_offers
from district_engine.catalog import Catalog, View
from district_engine.clock import Clock, ms
from district_engine.errors import InvalidInputError
from district_engine.geo.coords import to_wgs84
from district_engine.ids import request_id
from district_engine.identity.principals import check_scoped_user
from district_engine.identity.trust import JUMP_WINDOW_MS, MAX_SPEED_KMH, MIN_SLACK_M, Fix, distrust, fix_time_problem
from district_engine.store.deliveries import POSITION_RES, Delivery, DeliveryStore, Outcome, Position
from district_engine.store.locations import LocationQueue

__all__ = ["Channel", "MemberDirectory", "Ping", "Placed", "check_ping", "MAX_LOCATION_BATCH", "JUMP_RULE"]

MAX_LOCATION_BATCH = 10_000
# The jump rule's figures, which the delivery script applies (identity/trust.py is its reference).
JUMP_RULE = (JUMP_WINDOW_MS, MIN_SLACK_M, MAX_SPEED_KMH / 3600)


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


def check_ping(user_id: str, lat: float, lng: float, coord: str = "wgs84", at: datetime | None = None,
               accuracy_m: float | None = None, mocked: bool = False, request_key: str | None = None) -> Ping:
    """The ``Ping`` of ``Channel.locate_many`` (WGS-84) for one update, checked. ``request_key``: the
    client's name for it (its Idempotency-Key): sent again, it answers the offers it gave."""
    check_scoped_user(user_id)
    if at is not None and at.tzinfo is None:
        raise InvalidInputError("must be an RFC 3339 time with a UTC offset", field="at")
    if accuracy_m is not None and not (isinstance(accuracy_m, (int, float)) and 0 <= accuracy_m < 1e7):
        raise InvalidInputError("must be a radius in metres, >= 0", field="accuracy_m")
    lat, lng = to_wgs84(lat, lng, coord)
    named = "" if request_key is None else request_id("loc_", request_key, user_id)
    return Ping(user_id, float(lat), float(lng), accuracy_m, bool(mocked), named)


class Channel:
    """Feeds and location updates for the channels' users. ``members``: who is whose member (the
    guides service), for members-only campaigns; None: such campaigns reach nobody.
    ``free_spaces(district, lot)``: a parking offer's live free spaces (the parking service's)."""

    def __init__(self, catalog: Catalog, deliveries: DeliveryStore, locations: LocationQueue, clock: Clock,
                 members: MemberDirectory | None = None,
                 free_spaces: Callable[[str, str | None], int | None] | None = None):
        self.catalog = catalog
        self.deliveries = deliveries
        self.locations = locations
        self.clock = clock
        self.members = members
        self._free_spaces = free_spaces
        self._guide_districts: dict[str, str] = {}

    def district_name(self, district_id: str) -> str:
        return self.catalog.district_name(district_id)

    def free_spaces(self, district_id: str, lot_id: str | None) -> int | None:
        """A parking offer's live free spaces (None without a parking service)."""
        return None if self._free_spaces is None else self._free_spaces(district_id, lot_id)

    def events_after(self, user_id: str, last_id: str):
        """The (scoped) user's pushed events after a stream id (what a server-sent-event stream resumes from)."""
        return self.deliveries.events_after(user_id, last_id)

    def locate(self, user_id: str, lat: float, lng: float, coord: str = "wgs84",
               at: datetime | None = None, accuracy_m: float | None = None, mocked: bool = False) -> list[Offer]:
        """Record a (scoped) user's position; return the offers in reach this user had not been given.

        An offer is new when the user enters its reach: the first time, and again after being out
        of it (not seen in it) for ``reentry_gap_s``, up to ``max_pushes_per_user``. The check and
        the count are atomic in Redis, so they hold across workers; position and deliveries go
        in one round trip. An untrusted position (identity/trust.py) gives nothing.
        """
        ping = check_ping(user_id, lat, lng, coord, at, accuracy_m, mocked)
        self.check_fix_time(at)
        return self.locate_many([ping])[0].offers

    def check_fix_time(self, at: datetime | None) -> None:
        """InvalidInputError (field ``at``) for a device's time that cannot be a fix of now
        (identity/trust.py ``fix_time_problem``)."""
        if at is not None and (problem := fix_time_problem(ms(at), ms(self.clock()),
                                                             self.deliveries.position_ttl_ms)):
            raise InvalidInputError(problem, field="at")

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
                ping = check_ping(*row[:4], None, *row[4:])
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
        view = self.catalog.view
        now = self.clock()
        now_ms = ms(now)
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

    def feed(self, lat: float, lng: float, coord: str = "wgs84", limit: int = 20,
             user_id: str | None = None) -> list[Offer]:
        """Live offers in reach of a point, nearest first; for a (scoped) ``user_id``, the
        members-only offers of the user's guides first (``members_live`` says whether any could
        be: only then does this read Redis). Records nothing."""
        view = self.catalog.view
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
                                                for c in self.catalog.view.members.values())

    def _member_offers(self, view: View, users: list[str], points: list[tuple[float, float]],
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

