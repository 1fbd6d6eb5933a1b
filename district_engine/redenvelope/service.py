"""Red-envelope rains as users meet them: a grab, checked (rate limits, a trusted position in the
rain's reach) and decided atomically in Redis, where the pool is; and a rain's figures for its owner."""

from __future__ import annotations

import uuid
from typing import NamedTuple

from district_engine.campaigns.model import CampaignState
from district_engine.catalog import Catalog, View
from district_engine.channel import Ping, check_ping
from district_engine.clock import Clock, ms
from district_engine.errors import DistrictEngineError, ForbiddenError, NotFoundError, RateLimitedError
from district_engine.ids import request_id
from district_engine.identity.principals import channel_of
from district_engine.identity.trust import Fix, distrust
from district_engine.store.campaigns import CampaignStore
from district_engine.store.deliveries import DeliveryStore
from district_engine.store.rains import Grab, RainFigures, RainStore
from district_engine.store.ratelimits import RateLimits

__all__ = ["GrabAttempt", "Rains", "check_grab"]


class GrabAttempt(NamedTuple):
    """One grab, checked: the rain, the (scoped) user at a position, the device's address when the
    call came from a device (a user token), which its own rate limit counts, and the grab's id
    when the client named the request (a retry of it then wins nothing more)."""

    campaign_id: str
    ping: Ping
    address: str | None = None
    grab_id: str | None = None


def check_grab(campaign_id: str, user_id: str, lat: float, lng: float, coord: str = "wgs84",
               address: str | None = None, accuracy_m: float | None = None, mocked: bool = False,
               request_key: str | None = None) -> GrabAttempt:
    """The ``GrabAttempt`` of ``Rains.grab_many`` for one grab, checked (WGS-84). ``request_key``:
    the client's name for this request (its Idempotency-Key), which makes the grab id: the same
    key from the same user is the same grab, whenever it is sent again."""
    ping = check_ping(user_id, lat, lng, coord, None, accuracy_m, mocked)
    grab_id = None if request_key is None else request_id("grk_", request_key, campaign_id, ping.user_id)
    return GrabAttempt(campaign_id, ping, address, grab_id)



class Rains:
    """``limits``: grabs per window of a user, an address and a channel; ``window_s``: that window."""

    def __init__(self, store: RainStore, catalog: Catalog, campaigns: CampaignStore, deliveries: DeliveryStore,
                 limits: RateLimits, clock: Clock, grab_limits: tuple[int, int, int] = (5, 200, 50_000),
                 window_s: float = 10.0):
        self.store = store
        self.catalog = catalog
        self.campaigns = campaigns
        self.deliveries = deliveries
        self.limits = limits
        self.clock = clock
        self.grab_limits = grab_limits
        self.window_s = window_s

    def grab(self, campaign_id: str, user_id: str, lat: float, lng: float, coord: str = "wgs84",
             address: str | None = None, accuracy_m: float | None = None, mocked: bool = False) -> tuple[Grab, str]:
        """Grab a packet of a live rain for a (scoped) user in its reach: (Grab, grab id). The
        errors are ``grab_many``'s, raised."""
        result = self.grab_many([check_grab(campaign_id, user_id, lat, lng, coord, address, accuracy_m, mocked)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def grab_many(self, attempts: list[GrabAttempt]) -> list[tuple[Grab, str] | DistrictEngineError]:
        """Grabs, each (Grab, grab id) or its error: RateLimitedError past the sliding window of
        the user, of its channel or (for a call from a device) of its address; NotFoundError for
        no such rain; ForbiddenError ``untrusted_location`` on a position the trust rule refuses
        (identity/trust.py), ``out_of_range`` beyond the campaign's radius. The window, the
        per-user rule and the pool are decided atomically in Redis (``RainStore.grab_many``).
        Three round trips for all of them: the limits, the users' last positions, the grabs."""
        now_ms = ms(self.clock())
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
        waits = self.limits.admit_many(events, now_ms, int(self.window_s * 1000))
        last = self.deliveries.last_fixes([a.ping.user_id for a, w in zip(attempts, waits) if not w])
        view = self.catalog.view
        out: list[tuple[Grab, str] | DistrictEngineError | None] = [None] * len(attempts)
        going = []
        for i, (a, wait_ms) in enumerate(zip(attempts, waits)):
            out[i] = self._refusal(view, a, wait_ms, last.get(a.ping.user_id), now_ms)
            if out[i] is None:
                going.append(i)
        grabs = self.store.grab_many([(attempts[i].campaign_id, attempts[i].ping.user_id, now_ms, grab_ids[i])
                                      for i in going])
        for i, g in zip(going, grabs):
            out[i] = g if isinstance(g, Exception) else (g, grab_ids[i])
        return [o for o in out if o is not None]  # each one answered: refused, or by its grab

    @staticmethod
    def _refusal(view: View, a: GrabAttempt, wait_ms: int, last: tuple[float, float, int] | None, now_ms: int) -> DistrictEngineError | None:
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

    def figures(self, campaign_id: str, owner: str) -> tuple[RainFigures, CampaignState]:
        """The rain's figures for its owner; past the window, what is left is refunded first (once)."""
        c = self.campaigns.get(campaign_id, owner=owner)
        if not c.rain:
            raise NotFoundError(f"no red-envelope rain {campaign_id!r}", field="campaign_id")
        now = self.clock()
        state = c.state(now)
        if state is CampaignState.ENDED:
            self.store.end(c.id, ms(now), early=True)
        return self.store.figures(c.id), state
