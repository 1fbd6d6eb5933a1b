"""Offer deliveries in Redis: per user, the at-most-once/entry check, the push frequency cap, the
user's recent events and its partition's outbox, all written by one atomic script
(``deliver_offers.lua``: one call per batch on a single server, per partition on a Cluster);
users' last positions and their index by H3 cell for broadcasts; each campaign's exact counts.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Callable, NamedTuple

import numpy as np

from district_engine.event_format import EventIds, distance_json, timestamp_json
from district_engine.store import keys
from district_engine.store.connection import is_cluster
from district_engine.store.layout import partition_count
from district_engine.store.scripts import Scripts

__all__ = ["Offering", "Delivery", "Position", "DeliveryStore", "Outcome", "CampaignCounts", "Positions",
           "POSITION_RES"]

POSITION_RES = 7  # H3 cells of ~5 km²: a 3 km reach reads a few dozen of them
_CHUNK = 500  # items per script call: bounds how long one call holds the server
# Per campaign in a partition's stats hash (keys.push_stats): pushed, held back by the cap, delivered
# again to a user who had it.
_COUNTS = "phr"


class Offering(NamedTuple):
    """What delivering one campaign's offer needs, made once per campaign and reason: its id,
    owner and max per user, how long users' state about it is kept (ms), and its event's template
    (``delivery.events.offer_template``), which the delivery script fills in for what it pushes."""

    campaign_id: str
    owner: str
    max_per_user: int
    keep_until_ms: int
    template: str


class Delivery(NamedTuple):
    """One offer for one user. ``found_ms`` is set by a broadcast: the time of the position it
    found, delivered only if that is still the user's last and the user never had the offer.
    ``request_id``: the location update's, when the client named it: an offer this request
    delivered before (its answer was lost) is answered delivered again, and not pushed again."""

    user_id: str
    offering: Offering
    distance_m: float
    found_ms: int | None = None
    request_id: str = ""


class Position(NamedTuple):
    """A user's position to record (WGS-84) and its H3 cell at POSITION_RES."""

    user_id: str
    lat: float
    lng: float
    cell: int


class Positions(NamedTuple):
    """Users' last positions (WGS-84) with when (ms) and their partitions; parallel arrays."""

    users: list[str]
    lats: np.ndarray
    lngs: np.ndarray
    found_ms: np.ndarray
    partitions: np.ndarray


class Outcome:
    NOT_DELIVERED, PUSHED, CAPPED, MOVED = 0, 1, 2, 3


class CampaignCounts(NamedTuple):
    delivered: int
    users: int
    pushed: int
    capped: int


def _gifts(state: dict) -> dict[str, int]:
    return {k[2:].decode(): int(v) for k, v in state.items() if k.startswith(b"g:")}


class DeliveryStore:
    def __init__(self, client, *, user_json: Callable[[str], str], reentry_gap_ms: int, pushes_per_window: int,
                 cap_window_ms: int = 3_600_000, history_ms: int = 900_000, outbox_keep_ms: int = 86_400_000,
                 position_ttl_ms: int = 1_800_000, event_ids: EventIds | None = None, partitions: int | None = None,
                 jump: tuple[int, float, float] = (0, 0.0, 0.0)):
        """``user_json``: what fills an event's user hole for a user id (``delivery.events.user_json``:
        how a user is named to its channel is the domain's, not the store's).
        ``partitions``: the deployment's count (``layout.partition_count``), read when None.
        ``jump``: the trusted-position rule's (window ms, slack m, speed m per ms); a recorded
        position that implies a faster move from the user's last one is refused (a window of 0:
        never)."""
        self._client = client
        self._user_json = user_json
        self.partitions = partitions or partition_count(client)
        self._scripts = Scripts(client)
        # A Cluster script takes keys of one slot: one call per partition. A single server takes
        # every partition in one call, which saves a call's fixed cost per partition.
        self._per_slot = is_cluster(client)
        self.reentry_gap_ms = reentry_gap_ms
        self.pushes_per_window = pushes_per_window
        self.cap_window_ms = cap_window_ms
        self.history_ms = history_ms
        self.outbox_keep_ms = outbox_keep_ms
        self.position_ttl_ms = position_ttl_ms
        self.event_ids = event_ids or EventIds()
        self.jump = jump

    def deliver(self, items: list[Delivery], now_ms: int, positions: list[Position] = ()) -> list[int]:
        """Deliver ``items`` and record ``positions`` (a user's last one wins); an ``Outcome`` code
        per item, in order. All in one round trip: one script call per chunk of items on a single
        server, per partition (one slot) and chunk on a Cluster. Each pushed event is rendered by
        the script from its offering's template, stamped ``now_ms``."""
        return self.deliver_placed(items, now_ms, positions)[0]

    def deliver_placed(self, items: list[Delivery], now_ms: int,
                       positions: list[Position] = ()) -> tuple[list[int], set[str]]:
        """``deliver``, and the users whose position jumped from their last one (the jump rule of
        ``jump``): their positions are not recorded and their items not delivered."""
        groups: dict[int, dict[str, list[int]]] = defaultdict(dict)  # call group -> user -> its items
        partition_of: dict[str, int] = {}

        def section(user_id: str) -> list[int]:
            p = partition_of.get(user_id)
            if p is None:
                p = partition_of[user_id] = keys.partition(user_id, self.partitions)
            return groups[p if self._per_slot else 0].setdefault(user_id, [])

        for i, d in enumerate(items):
            section(d.user_id).append(i)
        where = {}
        for pos in positions:
            where[pos.user_id] = pos
            section(pos.user_id)
        window_ms, slack_m, speed_m_per_ms = self.jump
        head = {"now_ms": now_ms, "reentry_gap_ms": self.reentry_gap_ms, "pushes_per_window": self.pushes_per_window,
                "cap_window_ms": self.cap_window_ms, "history_ms": self.history_ms,
                "outbox_keep_ms": self.outbox_keep_ms, "position_ttl_ms": self.position_ttl_ms,
                "timestamp": timestamp_json(now_ms), "event_id_prefix": self.event_ids.prefix,
                "jump": {"window_ms": window_ms, "slack_m": slack_m, "speed_m_per_ms": speed_m_per_ms}}
        calls, order = [], []
        for users in groups.values():
            batch, size = [], 0
            for user, idx in users.items():
                for s in range(0, max(1, len(idx)), _CHUNK):
                    piece = idx[s:s + _CHUNK]
                    if batch and (size + len(piece) > _CHUNK or len(batch) >= _CHUNK):
                        calls.append(self._call(batch, partition_of, items, where, now_ms, head, order))
                        batch, size = [], 0
                    batch.append((user, piece))
                    size += len(piece)
            calls.append(self._call(batch, partition_of, items, where, now_ms, head, order))
        if not calls:
            return [], set()
        out, refused = [0] * len(items), set()
        for (chunk, users), (codes, jumped) in zip(order, self._scripts.pipeline(calls)):
            for i, code in zip(chunk, codes):
                out[i] = int(code)
            refused.update(users[int(n) - 1] for n in jumped)
        return out, refused

    def _call(self, sections, partition_of, items, where, now_ms, head, order: list) -> tuple:
        """One script call for these (user, item indices) sections: its keys and its one JSON
        argument (the fields deliver_offers.lua's header names); appends to ``order`` the item
        indices in the order of its answer, and the sections' users."""
        numbers: dict[int, int] = {}  # id(offering) -> its 1-based number in this call
        partitions: dict[int, int] = {}  # partition -> its 1-based number in this call
        offerings, users, user_keys, chunk = [], [], [], []
        for user, idx in sections:
            p = partition_of[user]
            n_p = partitions.get(p)
            if n_p is None:
                n_p = partitions[p] = len(partitions) + 1
            user_keys.extend(keys.user_keys(user, self.partitions))
            section = {"partition": n_p, "user_id": user}
            pos = where.pop(user, None)  # recorded once, with the user's first section
            if pos is not None:
                bucket = now_ms // self.position_ttl_ms
                user_keys.append(keys.position_cell(p, pos.cell, bucket))
                section["position"] = f"{pos.lat:.7f},{pos.lng:.7f},{now_ms}"
                # The cell outlives its bucket by one TTL: readers look one bucket back.
                section["cell_expire_ms"] = (bucket + 2) * self.position_ttl_ms
            section_items = []
            for i in idx:
                d = items[i]
                o = d.offering
                n = numbers.get(id(o))
                if n is None:
                    n = numbers[id(o)] = len(numbers) + 1
                    offerings.append({"campaign_id": o.campaign_id, "owner": o.owner, "max_per_user": o.max_per_user,
                                      "keep_until_ms": o.keep_until_ms, "template": o.template})
                item = {"offering": n, "distance_json": distance_json(d.distance_m)}
                if d.found_ms is not None:
                    item["found_ms"] = d.found_ms
                if d.request_id:
                    item["request_id"] = d.request_id
                section_items.append(item)
                chunk.append(i)
            if idx:
                section["user_json"] = self._user_json(user)
            section["items"] = section_items
            users.append(section)
        order.append((chunk, [user for user, _ in sections]))
        arg = {**head, "first_event": self.event_ids.reserve(len(chunk)), "partitions": len(partitions),
               "offerings": offerings, "users": users}
        ks = [k for p in partitions for k in (keys.outbox(p), keys.push_stats(p))] + user_keys
        return "deliver_offers", ks, [json.dumps(arg, ensure_ascii=False, separators=(",", ":"))]

    def positions_in_cells(self, cells, now_ms: int) -> Positions:
        """Users whose last position within the TTL lies in one of ``cells`` (H3, POSITION_RES),
        with their partitions. A user seen in several of them appears once, at the latest."""
        bucket = now_ms // self.position_ttl_ms
        pipe = self._client.pipeline(transaction=False)
        owners = []
        for p in range(self.partitions):
            for cell in cells:
                for b in (bucket - 1, bucket):
                    pipe.hgetall(keys.position_cell(p, int(cell), b))
                    owners.append(p)
        users, values, partition = [], [], []
        for p, h in zip(owners, pipe.execute()):
            users.extend(h.keys())
            values.extend(h.values())
            partition.extend([p] * len(h))
        if not users:
            return Positions([], np.empty(0), np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64))
        flat = np.array(b",".join(values).split(b","), dtype=np.float64).reshape(-1, 3)
        ms = flat[:, 2].astype(np.int64)
        ids = np.array(users, dtype=np.bytes_)  # fixed-width bytes: sorted in C, unlike objects
        # Latest entry per user, then only those within the TTL.
        order = np.lexsort((-ms, ids))
        ids, flat, ms, part = ids[order], flat[order], ms[order], np.asarray(partition, np.int64)[order]
        first = np.ones(len(ids), dtype=bool)
        first[1:] = ids[1:] != ids[:-1]
        keep = first & (ms >= now_ms - self.position_ttl_ms)
        return Positions([u.decode() for u in ids[keep].tolist()], flat[keep, 0], flat[keep, 1], ms[keep], part[keep])

    def last_fixes(self, users: list[str]) -> dict[str, tuple[float, float, int]]:
        """The users' last recorded positions within the TTL: user -> (lat, lng, ms), in one round trip."""
        if not users:
            return {}
        pos_keys = [keys.user_keys(u, self.partitions)[2] for u in users]
        if self._per_slot:
            pipe = self._client.pipeline(transaction=False)
            for k in pos_keys:
                pipe.get(k)
            values = pipe.execute()
        else:
            values = self._client.mget(pos_keys)
        found = {}
        for u, v in zip(users, values):
            if v:
                lat, lng, ms = v.split(b",")
                found[u] = (float(lat), float(lng), int(ms))
        return found

    # ------------------------------------------------------------ counts and events
    def counts(self, campaign_id: str) -> CampaignCounts:
        """Exact counts over all partitions, in one round trip."""
        fields = [f"{campaign_id}:{x}" for x in _COUNTS]
        pipe = self._client.pipeline(transaction=False)
        for p in range(self.partitions):
            pipe.hmget(keys.push_stats(p), fields)
        totals = np.zeros(len(_COUNTS), dtype=np.int64)
        for row in pipe.execute():
            totals += [int(v or 0) for v in row]
        pushed, held, again = map(int, totals)
        return CampaignCounts(pushed + held, pushed + held - again, pushed, held)

    def gifts(self, user_id: str) -> dict[str, int]:
        """When the user was last given each campaign's offer (campaign id -> ms), for as long as
        the campaign's attribution window keeps it (``Offering.keep_until_ms``)."""
        return _gifts(self._client.hgetall(keys.user_keys(user_id, self.partitions)[0]))

    def gifts_many(self, user_ids: list[str]) -> list[dict[str, int]]:
        """``gifts`` of each user, in one round trip (a batch of orders, Guides.record_orders): one
        script call per partition (read_gifts.lua), not a command per user."""
        if not user_ids:
            return []
        of_partition: dict[int, list[int]] = defaultdict(list)
        for i, user_id in enumerate(user_ids):
            of_partition[keys.partition(user_id, self.partitions)].append(i)
        calls = [("read_gifts", [keys.user_keys(user_ids[i], self.partitions)[0] for i in at], [])
                 for at in of_partition.values()]
        out: list[dict[str, int]] = [{} for _ in user_ids]
        for at, found in zip(of_partition.values(), self._scripts.pipeline(calls)):
            for i, flat in zip(at, found):
                if flat:
                    out[i] = {c.decode(): int(ms) for c, ms in zip(flat[::2], flat[1::2])}
        return out

    def forget_campaign(self, campaign_id: str) -> None:
        """Drop a deleted campaign's counts (users' own state expires by itself)."""
        pipe = self._client.pipeline(transaction=False)
        for p in range(self.partitions):
            pipe.hdel(keys.push_stats(p), *[f"{campaign_id}:{x}" for x in _COUNTS])
        pipe.execute()

    def events_after(self, user_id: str, after: str | None, count: int = 1000) -> list[tuple[str, str]]:
        """The user's pushed events after stream id ``after`` (all kept when None): [(id, payload)]."""
        start = f"({after}" if after else "-"
        rows = self._client.xrange(keys.user_keys(user_id, self.partitions)[1], min=start, max="+", count=count)
        return [(sid.decode(), f[b"payload"].decode()) for sid, f in rows]
