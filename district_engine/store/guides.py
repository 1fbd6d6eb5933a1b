"""Exclusive guides in Redis: one operator's guides, member bindings, orders, refunds, ledger and
running totals under one hash tag ({gd:<operator id>}), each write one atomic script that applies
what the rules (district_engine/guides/rules.py) decided, and only if what they decided on is
unchanged (``stale`` otherwise: the caller reads and decides again). ``audit`` recomputes every
figure from the ledger.

Records are stored as the caller gives them (JSON strings) and returned as strings: the store
never interprets a rule, so there is one copy of each, in Python.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import NamedTuple

from district_engine.store import keys
from district_engine.store.scripts import Scripts
from district_engine.store.streams import read_all

__all__ = ["GuideStore", "MemberState", "OrderStates", "OrderWrite", "ORDER_LEDGER", "ORDERS_PER_CALL", "PAGE"]

PAGE = 1000  # ids per read of a listing or a report
ORDERS_PER_CALL = 250  # orders per script call (bounds how long one call holds the server: a few ms)
# An order's ledger entry, field by field (``audit`` reads it back).
ORDER_LEDGER = ("type", "order_id", "member", "guide", "campaign", "sales_channel", "amount", "bps", "commission",
                "at", "recorded")


def _s(raw) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


def _inactive(raw: dict) -> dict[str, tuple[int, str]]:
    out = {}
    for guide_id, value in raw.items():
        deactivated, transfer_to = _s(value).split(" ")
        out[_s(guide_id)] = (int(deactivated), transfer_to)
    return out


def _flat(fields: dict) -> list:
    return [x for pair in fields.items() for x in pair]


class MemberState(NamedTuple):
    """Members' bindings and histories as read (None: none), the operator's guides' version and
    its inactive guides (guide id -> (deactivated ms, transfer to)), all in one read."""

    bindings: list[str | None]
    histories: list[str | None]
    version: str
    inactive: dict[str, tuple[int, str]]


class OrderStates(NamedTuple):
    """Orders' records and their members' binding histories as read (None: none), in the order
    asked, with the operator's guides' version and inactive guides, all in one read."""

    orders: list[str | None]
    histories: list[str | None]
    version: str
    inactive: dict[str, tuple[int, str]]


class OrderWrite(NamedTuple):
    """An order to record (``record_orders``): what it was decided on and what it writes."""

    order_id: str
    member: str
    history: str | None  # the member's binding history as read
    record: str  # its JSON record
    at_ms: int
    guide_id: str | None
    ledger: tuple  # its ledger entry's values, in ORDER_LEDGER's order
    deltas: tuple  # field, increment, field, increment, ... of the running totals (none zero)


class GuideStore:
    def __init__(self, client):
        self._client = client
        self._scripts = Scripts(client)
        self._inactive_seen: dict[str, tuple] = {}  # operator -> (version, inactive guides) (``bindings``)

    # ------------------------------------------------------------ guides
    def put_guide(self, operator_id: str, guide_id: str, district_id: str, expected: str | None, record: str,
                  bump: bool = False, inactive: str = "", version: str | None = None) -> tuple[str, str]:
        """Write a guide's record if it is still ``expected`` (None: a creation, if the id is new)
        and, with ``version``, if the operator's guides are still at that version. (status, the
        record stored now): ok | exists | stale (put_guide.lua)."""
        k = keys.guide_keys(operator_id)
        if expected is None:
            self._client.hset(keys.guide_owners(), guide_id, operator_id)
        status, stored = self._scripts(
            "put_guide", [k["guides"], k["guide_ids"], keys.district_guides(operator_id, district_id), k["version"],
                          k["inactive"]],
            [guide_id, expected or "", record, int(bump), inactive, version or ""])
        return _s(status), _s(stored)

    def version(self, operator_id: str) -> str:
        """The operator's guides' version (bumped by every change that can change an attribution)."""
        return _s(self._client.get(keys.guide_keys(operator_id)["version"])) or "0"

    def guides(self, operator_id: str, guide_ids: list[str]) -> list[str | None]:
        """The records of these guides of the operator (None: no such guide of this operator)."""
        if not guide_ids:
            return []
        return [_s(r) for r in self._client.hmget(keys.guide_keys(operator_id)["guides"], guide_ids)]

    def owner(self, guide_id: str) -> str | None:
        return _s(self._client.hget(keys.guide_owners(), guide_id))

    def guide_ids(self, operator_id: str, district_id: str | None = None, after: str | None = None,
                  limit: int = PAGE) -> list[str]:
        """The operator's guide ids (of one district), in id order, after ``after``."""
        k = keys.guide_keys(operator_id)
        key = keys.district_guides(operator_id, district_id) if district_id else k["guide_ids"]
        return [_s(g) for g in self._client.zrangebylex(key, f"({after}" if after else "-", "+", start=0, num=limit)]

    def district_guide_count(self, operator_id: str, district_id: str) -> int:
        return int(self._client.zcard(keys.district_guides(operator_id, district_id)))

    # ------------------------------------------------------------ members
    def member_state(self, operator_id: str, members: list[str]) -> MemberState:
        k = keys.guide_keys(operator_id)
        pipe = self._client.pipeline(transaction=False)
        pipe.hmget(k["bind"], members)
        pipe.hmget(k["hist"], members)
        pipe.get(k["version"])
        pipe.hgetall(k["inactive"])
        binds, hists, version, inactive = pipe.execute()
        return MemberState([_s(b) for b in binds], [_s(h) for h in hists], _s(version) or "0", _inactive(inactive))

    def bindings(self, operator_id: str, members: list[str]) -> tuple[list[str | None], dict[str, tuple[int, str]]]:
        """Members' bindings and the operator's inactive guides, in one round trip. Members-only
        campaigns read this for every location update while one is live, whoever sends it: the
        inactive guides (which grow with every guide who ever left) are read again only when
        the operator's version says they changed (every deactivation bumps it), so one tenant's
        history does not weigh on every other tenant's requests."""
        k = keys.guide_keys(operator_id)
        pipe = self._client.pipeline(transaction=False)
        pipe.hmget(k["bind"], members)
        pipe.get(k["version"])
        binds, version = pipe.execute()
        cached = self._inactive_seen.get(operator_id)
        if cached is None or cached[0] != version:
            # Read after the version: a deactivation in between is in it, or bumps the version again.
            cached = self._inactive_seen[operator_id] = (version, _inactive(self._client.hgetall(k["inactive"])))
        return [_s(b) for b in binds], cached[1]

    def apply_bindings(self, operator_id: str, old_guide: str, new_guide: str, version: str,
                       rows: list[tuple[str, str, str, str, str]]) -> list[bool] | None:
        """Rows (member, binding read, history read, new binding, new history) of members going
        from ``old_guide`` to ``new_guide``: which were written (a member changed since read is
        not); None if the operator's guides changed since read (none was)."""
        k = keys.guide_keys(operator_id)
        result = self._scripts("bind_members", [k["bind"], k["hist"], k["version"],
                                                keys.guide_members(operator_id, old_guide),
                                                keys.guide_members(operator_id, new_guide)],
                               [version, *(x for row in rows for x in row)])
        return None if result == -1 else [bool(r) for r in result]

    def members(self, operator_id: str, guide_id: str, after: str | None = None,
                limit: int = PAGE) -> list[tuple[str, str | None]]:
        """(member, binding) of the guide's members in member order, after ``after``."""
        found = [_s(m) for m in self._client.zrangebylex(keys.guide_members(operator_id, guide_id),
                                                          f"({after}" if after else "-", "+", start=0, num=limit)]
        if not found:
            return []
        return list(zip(found, [_s(b) for b in self._client.hmget(keys.guide_keys(operator_id)["bind"], found)]))

    def forget_member(self, operator_id: str, guide_id: str, member: str) -> None:
        """Take ``member`` off the guide's list (a list entry its binding no longer backs)."""
        self._client.zrem(keys.guide_members(operator_id, guide_id), member)

    # ------------------------------------------------------------ orders and refunds
    def order_states(self, operator_id: str, orders: list[tuple[str, str]]) -> OrderStates:
        """What orders are decided on, for (order id, member) pairs, in one round trip."""
        k = keys.guide_keys(operator_id)
        pipe = self._client.pipeline(transaction=False)
        pipe.hmget(k["orders"], [o for o, _ in orders])
        pipe.hmget(k["hist"], [m for _, m in orders])
        pipe.get(k["version"])
        pipe.hgetall(k["inactive"])
        records, hists, version, inactive = pipe.execute()
        return OrderStates([_s(o) for o in records], [_s(h) for h in hists], _s(version) or "0", _inactive(inactive))

    def record_orders(self, operator_id: str, version: str, writes: list[OrderWrite]) -> list[tuple[str, str]]:
        """Record each order if its id is new and neither the member's history nor the operator's
        guides' ``version`` changed since read: (status, the order's record stored now) of each, in
        order: ok | exists | stale (record_orders.lua). One pipeline round trip, ORDERS_PER_CALL
        orders a script call; each order all or nothing on its own, seeing the writes before it (an
        order id twice: the second is ``exists``)."""
        k = keys.guide_keys(operator_id)
        head = [version, len(ORDER_LEDGER), *ORDER_LEDGER]
        calls = []
        for start in range(0, len(writes), ORDERS_PER_CALL):
            call_keys = [k["orders"], k["hist"], k["version"], k["ledger"], k["totals"]]
            guide_key: dict[str, int] = {}  # guide id -> its orders' key's index in call_keys (from 1, as in Lua)
            args = head.copy()
            for w in writes[start:start + ORDERS_PER_CALL]:
                index = 0
                if w.guide_id is not None:
                    index = guide_key.get(w.guide_id, 0)
                    if not index:
                        call_keys.append(keys.guide_orders(operator_id, w.guide_id))
                        index = guide_key[w.guide_id] = len(call_keys)
                args += (w.order_id, w.member, w.history or "", w.record, w.at_ms, index, len(w.deltas) // 2,
                         *w.ledger, *w.deltas)
            calls.append(("record_orders", call_keys, args))
        out = []
        for result in self._scripts.pipeline(calls):
            out += zip(map(_s, result[::2]), map(_s, result[1::2]))
        return [(status, w.record if status == "ok" else stored) for (status, stored), w in zip(out, writes)]

    def refund_state(self, operator_id: str, refund_id: str, order_id: str) -> tuple[str | None, str | None]:
        """(the refund's record, if recorded already; the order's record)."""
        k = keys.guide_keys(operator_id)
        pipe = self._client.pipeline(transaction=False)
        pipe.hget(k["refunds"], refund_id)
        pipe.hget(k["orders"], order_id)
        refund, order = pipe.execute()
        return _s(refund), _s(order)

    def record_refund(self, operator_id: str, order_id: str, refund_id: str, order_read: str, order_now: str,
                      refund: str, ledger: dict, deltas: dict) -> tuple[str, str]:
        """(status, the refund's record stored now): ok | exists | stale (record_refund.lua)."""
        k = keys.guide_keys(operator_id)
        status, stored = self._scripts(
            "record_refund", [k["orders"], k["refunds"], k["ledger"], k["totals"]],
            [order_id, refund_id, order_read, order_now, refund, len(ledger), *_flat(ledger), *_flat(deltas)])
        return _s(status), _s(stored)

    def orders_between(self, operator_id: str, guide_id: str, from_ms: int, to_ms: int,
                       page: int = PAGE) -> Iterator[list[str]]:
        """The records of the guide's orders of [from_ms, to_ms), a page at a time."""
        key, orders = keys.guide_orders(operator_id, guide_id), keys.guide_keys(operator_id)["orders"]
        offset = 0
        while ids := self._client.zrangebyscore(key, from_ms, f"({to_ms}", start=offset, num=page):
            yield [_s(r) for r in self._client.hmget(orders, ids) if r is not None]
            if len(ids) < page:
                return
            offset += page

    def totals(self, operator_id: str, fields: list[str]) -> list[int]:
        return [int(v or 0) for v in self._client.hmget(keys.guide_keys(operator_id)["totals"], fields)]

    # ------------------------------------------------------------ audit
    def operators(self) -> list[str]:
        """Every operator with a guide ledger."""
        ids = sorted(_s(o) for o in self._client.smembers(keys.operators()))
        pipe = self._client.pipeline(transaction=False)
        for operator_id in ids:
            pipe.exists(keys.guide_keys(operator_id)["ledger"])
        return [o for o, n in zip(ids, pipe.execute()) if n]

    def audit(self, operator_id: str) -> tuple[dict, list[str]]:
        """Recompute every figure of the operator's guides from its ledger: ({the ledger's figures},
        the mismatches found: empty when every record and total reconciles)."""
        from district_engine.guides.rules import commission_cents, reversed_cents

        k = keys.guide_keys(operator_id)
        problems: list[str] = []
        orders: dict[str, dict] = {}
        refunds: dict[str, dict] = {}
        for _, e in read_all(self._client, k["ledger"]):
            e = {_s(f): _s(v) for f, v in e.items()}
            if e["type"] == "order":
                if e["order_id"] in orders:
                    problems.append(f"order {e['order_id']!r} is booked more than once")
                orders[e["order_id"]] = e | {"refunded": 0, "reversed": 0}
            elif e["type"] == "refund":
                if e["refund_id"] in refunds:
                    problems.append(f"refund {e['refund_id']!r} is booked more than once")
                refunds[e["refund_id"]] = e
                o = orders.get(e["order_id"])
                if o is None:
                    problems.append(f"refund {e['refund_id']!r} is booked before its order {e['order_id']!r}")
                    continue
                o["refunded"] += int(e["amount"])
                o["reversed"] += int(e["reversal"])
        records = {_s(i): json.loads(r) for i, r in self._client.hscan_iter(k["orders"])}
        refund_records = {_s(i): json.loads(r) for i, r in self._client.hscan_iter(k["refunds"])}
        for what, recorded, booked in (("orders", records, orders), ("refunds", refund_records, refunds)):
            if set(recorded) != set(booked):
                problems.append(f"{what} recorded but not in the ledger: {sorted(set(recorded) - set(booked))[:10]}; "
                                f"in the ledger but not recorded: {sorted(set(booked) - set(recorded))[:10]}")
        totals: dict[str, int] = defaultdict(int)
        by_guide: dict[str, set] = defaultdict(set)
        figures = {"orders": len(orders), "refunds": len(refunds), "revenue_cents": 0, "commission_cents": 0,
                   "reversed_cents": 0}
        for order_id, o in orders.items():
            amount, commission, bps = int(o["amount"]), int(o["commission"]), int(o["bps"])
            guide, campaign = o["guide"] or None, o["campaign"] or None
            figures["revenue_cents"] += amount - o["refunded"]
            figures["commission_cents"] += commission
            figures["reversed_cents"] += o["reversed"]
            want = commission_cents(amount, bps) if guide else 0
            if commission != want:
                problems.append(f"order {order_id!r}: commission {commission} != floor({amount} x {bps} / 10000) "
                                f"= {want}")
            if o["refunded"] > amount:
                problems.append(f"order {order_id!r}: refunded {o['refunded']} > amount {amount}")
            if o["reversed"] != reversed_cents(commission, amount, o["refunded"]):
                problems.append(f"order {order_id!r}: reversed {o['reversed']} != floor({commission} x "
                                f"{o['refunded']} / {amount})")
            r = records.get(order_id)
            if r is not None:
                got = (r["amount_cents"], r["commission_cents"], r["bps"], r["guide_id"], r["campaign_id"],
                       r["refunded_cents"], r["reversed_cents"], r["sales_channel"])
                booked = (amount, commission, bps, guide, campaign, o["refunded"], o["reversed"], o["sales_channel"])
                if got != booked:
                    problems.append(f"order {order_id!r}: recorded {got} != booked {booked}")
            live, net, earned = int(o["refunded"] < amount), amount - o["refunded"], commission - o["reversed"]
            if guide:
                by_guide[guide].add(order_id)
                totals[f"g:{guide}:orders"] += live
                totals[f"g:{guide}:revenue_cents"] += net
                totals[f"g:{guide}:commission_cents"] += earned
            if campaign:
                totals[f"c:{campaign}:conversions"] += live
                totals[f"c:{campaign}:revenue_cents"] += net
        for refund_id, e in refunds.items():
            r = refund_records.get(refund_id)
            if r is not None and (r["order_id"], r["amount_cents"], r["reversal_cents"]) != (
                    e["order_id"], int(e["amount"]), int(e["reversal"])):
                problems.append(f"refund {refund_id!r}: recorded {r} != booked {e}")
        kept = {_s(f): int(v) for f, v in self._client.hgetall(k["totals"]).items()}
        for field in sorted(set(kept) | set(totals)):
            if kept.get(field, 0) != totals.get(field, 0):
                problems.append(f"total {field}: {kept.get(field, 0)} != {totals.get(field, 0)} from the ledger")
        every_guide = {_s(g) for g in self._client.zrange(k["guide_ids"], 0, -1)} | set(by_guide)
        for guide in sorted(every_guide):
            ids = by_guide.get(guide, set())
            listed = {_s(i) for i in self._client.zrange(keys.guide_orders(operator_id, guide), 0, -1)}
            if listed != ids:
                problems.append(f"guide {guide!r}: its order list holds {len(listed)} orders, the ledger {len(ids)}")
        return figures, problems
