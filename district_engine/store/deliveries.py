"""Offer deliveries in Redis: per user, the at-most-once/entry check, the push frequency cap, the
user's recent events and the partition's outbox, all written by one atomic script per partition
(``deliver_offers.lua``); users' last positions and their index by H3 cell for broadcasts; each
campaign's exact counts.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

import numpy as np

from district_engine.store import keys
from district_engine.store.scripts import Scripts

__all__ = ["Delivery", "DeliveryStore", "Outcome", "CampaignCounts", "Positions", "POSITION_RES"]

POSITION_RES = 7  # H3 cells of ~5 km²: a 3 km reach reads a few dozen of them
_CHUNK = 500  # items per script call: bounds how long one call holds the server


class Delivery(NamedTuple):
    """One offer for one user. ``found_ms`` is set by a broadcast: the time of the position it
    found, delivered only if that is still the user's last and the user never had the offer."""

    user_id: str
    campaign_id: str
    owner: str
    max_per_user: int
    keep_until_ms: int
    event_id: str
    payload: str
    found_ms: int | None = None


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


class DeliveryStore:
    def __init__(self, client, *, reentry_gap_ms: int, pushes_per_window: int, cap_window_ms: int = 3_600_000,
                 history_ms: int = 900_000, outbox_keep_ms: int = 86_400_000, position_ttl_ms: int = 1_800_000):
        self._client = client
        self._scripts = Scripts(client)
        self.reentry_gap_ms = reentry_gap_ms
        self.pushes_per_window = pushes_per_window
        self.cap_window_ms = cap_window_ms
        self.history_ms = history_ms
        self.outbox_keep_ms = outbox_keep_ms
        self.position_ttl_ms = position_ttl_ms

    def deliver(self, items: list[Delivery], now_ms: int, commands: list = ()) -> list[int]:
        """Deliver ``items``; an ``Outcome`` code per item, in order. Items are grouped by their
        user's partition, one script call per partition (and chunk); all of them, and any plain
        ``commands`` (method, args, kwargs) first, go in one round trip."""
        groups = defaultdict(list)
        for i, d in enumerate(items):
            groups[keys.partition(d.user_id)].append(i)
        calls, order = [], []
        head = [now_ms, self.reentry_gap_ms, self.pushes_per_window, self.cap_window_ms, self.history_ms,
                self.outbox_keep_ms]
        for p, idx in groups.items():
            for start in range(0, len(idx), _CHUNK):
                chunk = idx[start:start + _CHUNK]
                user_slot: dict[str, int] = {}
                ks, args = [keys.outbox(p), keys.push_stats(p)], list(head)
                for i in chunk:
                    d = items[i]
                    u = user_slot.get(d.user_id)
                    if u is None:
                        u = user_slot[d.user_id] = len(user_slot) + 1
                        ks.extend(keys.user_keys(d.user_id))
                    args += [u, d.campaign_id, d.max_per_user, d.keep_until_ms,
                             "" if d.found_ms is None else d.found_ms, d.event_id, d.owner, d.user_id, d.payload]
                calls.append(("deliver_offers", ks, args))
                order.append(chunk)
        if not calls and not commands:
            return []
        out = [0] * len(items)
        for chunk, codes in zip(order, self._scripts.pipeline(calls, commands)):
            for i, code in zip(chunk, codes):
                out[i] = int(code)
        return out

    # ------------------------------------------------------------ positions
    def position_commands(self, user_id: str, lat: float, lng: float, cell: int, now_ms: int) -> list:
        """The commands that record a user's position (WGS-84) and index it under its H3 cell, for
        the caller's pipeline: [(method, args, kwargs)]."""
        value = f"{lat:.7f},{lng:.7f},{now_ms}"
        bucket = now_ms // self.position_ttl_ms
        cell_key = keys.position_cell(keys.partition(user_id), cell, bucket)
        return [("set", (keys.user_keys(user_id)[2], value), {"px": self.position_ttl_ms}),
                ("hset", (cell_key, user_id, value), {}),
                # The bucket key outlives its bucket by one TTL: the reader looks one bucket back.
                ("pexpireat", (cell_key, (bucket + 2) * self.position_ttl_ms), {})]

    def positions_in_cells(self, cells, now_ms: int) -> Positions:
        """Users whose last position within the TTL lies in one of ``cells`` (H3, POSITION_RES),
        with their partitions. A user seen in several of them appears once, at the latest."""
        bucket = now_ms // self.position_ttl_ms
        pipe = self._client.pipeline(transaction=False)
        owners = []
        for p in range(keys.PARTITIONS):
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

    # ------------------------------------------------------------ counts and events
    def counts(self, campaign_id: str) -> CampaignCounts:
        """Exact counts over all partitions, in one round trip."""
        fields = [f"{campaign_id}:{x}" for x in "dupc"]
        pipe = self._client.pipeline(transaction=False)
        for p in range(keys.PARTITIONS):
            pipe.hmget(keys.push_stats(p), fields)
        totals = np.zeros(4, dtype=np.int64)
        for row in pipe.execute():
            totals += [int(v or 0) for v in row]
        return CampaignCounts(*map(int, totals))

    def forget_campaign(self, campaign_id: str) -> None:
        """Drop a deleted campaign's counts (users' own state expires by itself)."""
        pipe = self._client.pipeline(transaction=False)
        for p in range(keys.PARTITIONS):
            pipe.hdel(keys.push_stats(p), *[f"{campaign_id}:{x}" for x in "dupc"])
        pipe.execute()

    def events_after(self, user_id: str, after: str | None, count: int = 1000) -> list[tuple[str, str]]:
        """The user's pushed events after stream id ``after`` (all kept when None): [(id, payload)]."""
        start = f"({after}" if after else "-"
        rows = self._client.xrange(keys.user_keys(user_id)[1], min=start, max="+", count=count)
        return [(sid.decode(), f[b"payload"].decode()) for sid, f in rows]
