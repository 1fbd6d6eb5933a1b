"""The guides service: an operator's shopping guides, the members they serve, the orders the brand's
systems report (attributed to the guide who held the member at the order's time, and to the
campaign that converted it), refunds, commission reports and the audit.

It orchestrates the pure rules (rules.py) against the store (store/guides.py): it reads what a
decision needs, decides, and hands the result to one atomic script that writes it only if what it
read is unchanged; otherwise it reads and decides again. Every write is one script, so a Redis
fault leaves nothing half-written; orders and refunds are idempotent on their ids, so a request
sent again after a lost answer changes nothing (docs/guides.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from district_engine.errors import (ConflictError, DistrictEngineError, InvalidInputError, NotFoundError,
                                    StoreUnavailableError)
from district_engine.guides.model import MAX_ID_LEN, Guide, OrderRecord, RefundRecord
from district_engine.guides.rules import (DAY_MS, MAX_AHEAD_MS, SALES_CHANNELS, Binding, bind, campaign_at,
                                          check_amount_cents, check_sales_channel, check_time, commission_cents,
                                          decode_history, encode_history, guide_at, refund_figures, resolve, settle)
from district_engine.identity.principals import channel_of, scoped_user, unscoped_user
from district_engine.ids import new_id
from district_engine.quotas import check_quota
from district_engine.store.guides import PAGE, GuideStore, OrderWrite
from district_engine.validation import check_text

__all__ = ["Guides", "Membership", "NewOrder", "OrderOutcome", "RefundOutcome", "ChannelFigures", "CommissionReport"]

# What refuses one order of a batch, not the batch (a StoreUnavailableError stops the batch).
_REFUSED = (InvalidInputError, NotFoundError, ConflictError)
_TRIES = 8  # decisions made again when what they were made on changed meanwhile; then 503
_MOVE_CHUNK = 500  # members moved per script call (bounds how long one call holds the server)
MAX_REPORT_SPAN = timedelta(days=366)
DEFAULT_REPORT_SPAN = timedelta(days=30)


_FIRST_MS = int(datetime(1, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)


def _ms(t: datetime, field: str | None = None) -> int:
    if not isinstance(t, datetime) or t.tzinfo is None:
        raise InvalidInputError("must be an RFC 3339 time with a UTC offset", field=field)
    try:  # "0001-01-01T00:00:00+14:00" is before the year 1 in UTC, "9999-12-31T23:59:59-14:00" after 9999
        ms = int(t.timestamp() * 1000)
        datetime.fromtimestamp(ms / 1000, timezone.utc)  # and it must come back as a time of the API
        return ms
    except (OverflowError, ValueError, OSError):
        raise InvalidInputError("must be a time between the years 1 and 9999 in UTC", field=field) from None


def _busy() -> StoreUnavailableError:
    return StoreUnavailableError("the member's or the operator's guide data kept changing; retry shortly")


class Membership(NamedTuple):
    """A member's binding after a service. ``outcome``: bound (a first guide), renewed (the same
    guide), moved (from another guide), held (another guide holds it: ``guide_id`` is that one)."""

    guide_id: str
    channel_id: str
    user_id: str
    outcome: str
    bound_ms: int
    served_ms: int


class NewOrder(NamedTuple):
    """An order as the brand's systems report it (the body of ``POST /v1/orders``)."""

    order_id: str
    channel_id: str
    user_id: str
    amount_cents: int
    sales_channel: str
    at: datetime
    district_id: str | None = None


class OrderOutcome(NamedTuple):
    order_id: str
    guide_id: str | None
    commission_cents: int
    campaign_id: str | None
    replayed: bool  # the order was recorded already, by an earlier request with the same body


class RefundOutcome(NamedTuple):
    refund_id: str
    record: RefundRecord
    replayed: bool


class ChannelFigures(NamedTuple):
    orders: int
    revenue_cents: int
    commission_cents: int


class CommissionReport(NamedTuple):
    guide_id: str
    from_ms: int
    to_ms: int
    orders: int
    revenue_cents: int
    commission_cents: int
    by_sales_channel: dict[str, ChannelFigures]


class Guides:
    def __init__(self, store: GuideStore, *, clock: Callable[[], datetime], districts, channels, campaigns,
                 gifts_of: Callable[[str], Mapping[str, int]], binding_days: int = 365, order_max_age_days: int = 30,
                 guides_per_district: int | None = None,
                 gifts_of_many: Callable[[list[str]], list[Mapping[str, int]]] | None = None):
        """``districts``, ``channels``, ``campaigns``: the stores that say whether the operator owns a
        district, whether a channel exists, and whose a campaign is (and its attribution window).
        ``gifts_of(scoped user)``: campaign id -> when (ms) the user was last given its offer.
        ``gifts_of_many(scoped users)``: ``gifts_of`` of each, in one round trip, for ``record_orders``
        (default: ``gifts_of`` of one after another)."""
        self.store = store
        self.clock = clock
        self.districts = districts
        self.channels = channels
        self.campaigns = campaigns
        self.gifts_of = gifts_of
        if gifts_of_many is not None:
            self.gifts_of_many = gifts_of_many
        self.window_ms = binding_days * DAY_MS
        self.order_max_age_ms = order_max_age_days * DAY_MS
        self.guides_per_district = guides_per_district

    @property
    def gifts_of(self) -> Callable[[str], Mapping[str, int]]:
        return self._gifts_of

    @gifts_of.setter
    def gifts_of(self, gifts_of: Callable[[str], Mapping[str, int]]) -> None:
        """Another source of gift times (a test's): ``gifts_of_many`` asks it too, one member at a time."""
        self._gifts_of = gifts_of
        self.gifts_of_many = lambda members: [gifts_of(m) for m in members]

    def _now_ms(self) -> int:
        return _ms(self.clock())

    def _keep_after(self, now_ms: int) -> int:
        """Binding intervals ended before this can attribute no order any more (a day of slack
        for another process's clock)."""
        return now_ms - self.order_max_age_ms - DAY_MS

    # ------------------------------------------------------------ guides
    def create_guide(self, operator_id: str, district_id: str, name: str, commission_bps: int) -> Guide:
        """A guide of one of the operator's districts (its store). Made again by the same request
        (an Idempotency-Key, district_engine/ids.py), it is the guide made the first time."""
        self.districts.get(check_text(district_id, "district_id", MAX_ID_LEN), owner=operator_id)
        check_quota(self.store.district_guide_count(operator_id, district_id), self.guides_per_district,
                    "guides per district", "DE_QUOTA_GUIDES_PER_DISTRICT", field="district_id")
        guide = Guide(new_id("gd"), operator_id, district_id, name, commission_bps, self._now_ms())
        _, stored = self.store.put_guide(operator_id, guide.id, district_id, None, guide.to_json())
        return Guide.from_json(stored)

    def guide(self, guide_id: str, owner: str | None = None, field: str = "guide_id") -> Guide:
        """A guide (with ``owner``: only that operator's; another's is not found either)."""
        check_text(guide_id, field, MAX_ID_LEN)
        owner = owner or self.store.owner(guide_id)
        raw = self.store.guides(owner, [guide_id])[0] if owner else None
        if raw is None:
            raise NotFoundError(f"no guide {guide_id!r}", field=field)
        return Guide.from_json(raw)

    def guide_district(self, guide_id: str) -> str:
        """The district (store) a guide serves; it never changes."""
        return self.guide(guide_id).district_id

    def list_guides(self, operator_id: str, district_id: str | None = None, cursor: str | None = None,
                    limit: int = 100) -> tuple[list[Guide], str | None]:
        """The operator's guides (of one district), by id, ``limit`` after ``cursor``; and the cursor
        of the next page (None: no more)."""
        ids = self.store.guide_ids(operator_id, district_id, cursor, limit)
        guides = [Guide.from_json(r) for r in self.store.guides(operator_id, ids) if r]
        return guides, ids[-1] if len(ids) == limit else None

    def update_guide(self, guide_id: str, operator_id: str, name: str | None = None,
                     commission_bps: int | None = None) -> Guide:
        """A new name or rate; a rate applies to the orders recorded from now on."""
        for _ in range(_TRIES):
            guide = self.guide(guide_id, operator_id)
            if not guide.active:
                raise ConflictError(f"guide {guide_id!r} was deactivated", field="guide_id", code="guide_inactive")
            changed = guide.changed(name, commission_bps)
            if changed == guide:
                return guide
            status, _ = self.store.put_guide(operator_id, guide_id, guide.district_id, guide.to_json(),
                                             changed.to_json(), bump=changed.commission_bps != guide.commission_bps)
            if status == "ok":
                return changed
        raise _busy()

    def deactivate(self, guide_id: str, operator_id: str, transfer_to: str) -> Guide:
        """The guide leaves: from now on it takes no member and earns nothing, and its members are
        ``transfer_to``'s (another active guide of the operator's). It keeps its history and its
        commissions. Sent again with the same ``transfer_to``, it finishes moving the members (a
        move cut short by a fault) and answers the same."""
        self.guide(guide_id, operator_id)
        if transfer_to == guide_id:
            raise InvalidInputError("must be another guide: a guide cannot take over its own members",
                                    field="transfer_to")
        for _ in range(_TRIES):
            # The version first: a deactivation of the target after this read changes it, and the
            # write below is refused (two guides deactivated into each other would hold nobody).
            version = self.store.version(operator_id)
            guide = self.guide(guide_id, operator_id)
            target = self.guide(transfer_to, operator_id, field="transfer_to")
            if not guide.active:
                break
            if not target.active:
                raise ConflictError(f"guide {transfer_to!r} was deactivated", field="transfer_to",
                                    code="guide_inactive")
            now_ms = self._now_ms()
            gone = replace(guide, deactivated_ms=now_ms, transfer_to=transfer_to)
            status, _ = self.store.put_guide(operator_id, guide_id, guide.district_id, guide.to_json(), gone.to_json(),
                                             bump=True, inactive=f"{now_ms} {transfer_to}", version=version)
            if status == "ok":
                guide = gone
                break
        else:
            raise _busy()
        if guide.transfer_to != transfer_to:
            raise ConflictError(f"guide {guide_id!r} was deactivated already, its members going to "
                                f"{guide.transfer_to!r}", field="transfer_to", code="guide_inactive")
        self._move_members(operator_id, guide_id)
        return guide

    def _move_members(self, operator_id: str, guide_id: str) -> None:
        """Bind every member of a deactivated guide to the guide holding them now (``settle``), a
        chunk per script call, until its list is empty."""
        stalled = 0
        while rows := self.store.members(operator_id, guide_id, None, _MOVE_CHUNK):
            members = [m for m, _ in rows]
            state = self.store.member_state(operator_id, members)
            if guide_id not in state.inactive:
                return  # not deactivated: nothing to move
            # Not before the deactivation, whichever process's clock made it.
            at_ms = max(self._now_ms(), state.inactive[guide_id][0])
            moves: dict[str, list] = {}
            for member, raw_bind, raw_hist in zip(members, state.bindings, state.histories):
                current = Binding.decode(raw_bind)
                settled = None
                if current is not None and current.guide_id == guide_id:
                    settled, history = settle(current, decode_history(raw_hist), at_ms, state.inactive,
                                              self._keep_after(at_ms))
                if settled is None or settled.guide_id == guide_id:  # not (or no longer) this guide's to move
                    self.store.forget_member(operator_id, guide_id, member)
                    continue
                moves.setdefault(settled.guide_id, []).append(
                    (member, raw_bind or "", raw_hist or "", settled.encode(), encode_history(history)))
            moved = 0
            for holder, batch in moves.items():
                written = self.store.apply_bindings(operator_id, guide_id, holder, state.version, batch)
                moved += sum(written or ())
            stalled = 0 if moved or not moves else stalled + 1
            if stalled >= _TRIES:
                raise _busy()

    # ------------------------------------------------------------ members
    def record_service(self, guide_id: str, operator_id: str, channel_id: str, user_id: str,
                       served_at: datetime) -> Membership:
        """A service of a channel's user by the guide at ``served_at``, which binds the user (a member)
        to the guide (rules.bind). ``outcome`` held: another guide holds the member, nothing changed."""
        guide = self.guide(guide_id, operator_id)
        if not guide.active:
            raise ConflictError(f"guide {guide_id!r} was deactivated: it takes no members", field="guide_id",
                                code="guide_inactive")
        self.channels.get(check_text(channel_id, "channel_id", MAX_ID_LEN))
        member = scoped_user(channel_id, user_id)
        now_ms = self._now_ms()
        served_ms = check_time(_ms(served_at, "served_at"), now_ms, self.window_ms, "served_at", "the binding window")
        for _ in range(_TRIES):
            state = self.store.member_state(operator_id, [member])
            if guide_id in state.inactive:
                raise ConflictError(f"guide {guide_id!r} was deactivated: it takes no members", field="guide_id",
                                    code="guide_inactive")
            raw_bind, raw_hist = state.bindings[0], state.histories[0]
            current = Binding.decode(raw_bind)
            result = bind(current, decode_history(raw_hist), guide_id, served_ms, now_ms, self.window_ms,
                          state.inactive, self._keep_after(now_ms))
            b = result.binding
            if result.outcome != "held" and (b.encode(), encode_history(result.history)) != (raw_bind, raw_hist):
                written = self.store.apply_bindings(
                    operator_id, current.guide_id if current else guide_id, guide_id, state.version,
                    [(member, raw_bind or "", raw_hist or "", b.encode(), encode_history(result.history))])
                if not written or not written[0]:
                    continue
            return Membership(b.guide_id, channel_id, user_id, result.outcome, b.bound_ms, b.served_ms)
        raise _busy()

    def members(self, guide_id: str, operator_id: str, cursor: str | None = None,
                limit: int = 100) -> tuple[list[Membership], str | None]:
        """The guide's members now, ``limit`` after ``cursor`` (a member id as given back), and the
        next page's cursor (None: no more)."""
        self.guide(guide_id, operator_id)
        rows = self.store.members(operator_id, guide_id, cursor, limit)
        out = []
        for member, raw in rows:
            b = Binding.decode(raw)
            if b is not None and b.guide_id == guide_id:
                out.append(Membership(guide_id, channel_of(member), unscoped_user(member), "bound", b.bound_ms,
                                      b.served_ms))
        return out, rows[-1][0] if len(rows) == limit else None

    def current_guides(self, operator_id: str, scoped_users: list[str]) -> list[str | None]:
        """The guide of each of these members now (None: none), in one round trip."""
        if not scoped_users:
            return []
        bindings, inactive = self.store.bindings(operator_id, scoped_users)
        now_ms = self._now_ms()
        return [resolve(b.guide_id, now_ms, inactive)[0] if (b := Binding.decode(raw)) else None for raw in bindings]

    def district_members(self, operator_id: str, district_id: str, page: int = PAGE) -> Iterator[list[str]]:
        """The scoped user ids of the members of the district's active guides, up to ``page`` at a time."""
        after = None
        while ids := self.store.guide_ids(operator_id, district_id, after, PAGE):
            for raw in self.store.guides(operator_id, ids):
                guide = Guide.from_json(raw) if raw else None
                if guide is None or not guide.active:
                    continue
                member_after = None
                while rows := self.store.members(operator_id, guide.id, member_after, page):
                    found = [m for m, b in rows if (binding := Binding.decode(b)) and binding.guide_id == guide.id]
                    if found:
                        yield found
                    if len(rows) < page:
                        break
                    member_after = rows[-1][0]
            if len(ids) < PAGE:
                return
            after = ids[-1]

    # ------------------------------------------------------------ orders
    def record_order(self, operator_id: str, order_id: str, channel_id: str, user_id: str, amount_cents: int,
                     sales_channel: str, at: datetime, district_id: str | None = None) -> OrderOutcome:
        """Record an order, attributed to the guide who held the member at ``at`` (commission at
        the guide's rate now) and to the operator's campaign that converted it. Idempotent on
        ``order_id``: the same order again answers what it answered (``replayed``), with nothing
        written twice, even once ``at`` is past the bounds; another order under that id is a 409.
        A batch of one (``record_orders``)."""
        answer = self.record_orders(operator_id, [NewOrder(order_id, channel_id, user_id, amount_cents, sales_channel,
                                                           at, district_id)])[0]
        if isinstance(answer, DistrictEngineError):
            raise answer
        return answer

    def record_orders(self, operator_id: str, orders: Sequence[NewOrder]) -> list[OrderOutcome | DistrictEngineError]:
        """Many orders of the operator's, each recorded as ``record_order`` records it (the same
        checks and rules, each order all or nothing on its own), in a few round trips for the whole
        batch: one read of the orders and their members, one of their guides, one of the members'
        gift times (``gifts_of_many``) and one of the campaigns they may convert, one pipeline of
        the writes (record_orders.lua, a few hundred orders a call). For systems that report orders
        in bulk. Each order's answer is in its place: its outcome, or the error it alone was refused
        with. The orders whose member or guides changed between the read and the write are read,
        decided and written again (StoreUnavailableError after a few tries). A Redis fault raises for
        the whole batch: send it again, every order in it is idempotent on its id."""
        out: list[OrderOutcome | DistrictEngineError | None] = [None] * len(orders)
        checked: dict[int, tuple[str, tuple]] = {}
        for i, order in enumerate(orders):
            try:
                checked[i] = self._check_order(order)
            except _REFUSED as e:
                out[i] = e
        refs: dict[tuple, DistrictEngineError | None] = {}  # (channel, district): checked once a batch
        pending = list(checked)
        for _ in range(_TRIES):
            if not pending:
                return out
            pending = self._record_round(operator_id, orders, checked, pending, refs, out)
        if pending:
            raise _busy()
        return out

    def _record_round(self, operator_id: str, orders: Sequence[NewOrder], checked: dict[int, tuple[str, tuple]],
                      pending: list[int], refs: dict, out: list) -> list[int]:
        """Read, decide and write the ``pending`` orders once, their answers into ``out``: the
        orders to decide again (what they were decided on changed meanwhile)."""
        state = self.store.order_states(operator_id, [(orders[i].order_id, checked[i][0]) for i in pending])
        now_ms = self._now_ms()
        todo = []  # (index, history read, guide id)
        for i, raw, history in zip(pending, state.orders, state.histories):
            body = checked[i][1]
            try:
                if raw is not None:
                    out[i] = self._order_replay(orders[i].order_id, raw, body)
                    continue
                check_time(body[5], now_ms, self.order_max_age_ms, "at", "DE_ORDER_MAX_AGE_DAYS")
                ref = (body[0], body[4])
                if ref not in refs:
                    try:
                        self._check_order_refs(operator_id, body)
                        refs[ref] = None
                    except _REFUSED as e:
                        refs[ref] = e
                if refs[ref] is not None:
                    raise refs[ref]
            except _REFUSED as e:
                out[i] = e
                continue
            todo.append((i, history, guide_at(decode_history(history), body[5], state.inactive)))
        if not todo:
            return []
        ids = sorted({g for _, _, g in todo if g})
        guides = {g.id: g for g in map(Guide.from_json, filter(None, self.store.guides(operator_id, ids)))}
        gifts = [{c: ms for c, ms in given.items() if ms <= checked[i][1][5]} if given else given
                 for (i, _, _), given in zip(todo, self.gifts_of_many([checked[i][0] for i, _, _ in todo]))]
        windows = self._windows(operator_id, {c for given in gifts for c in given})
        decided = []  # (index, outcome, the store's write)
        for (i, history, guide_id), given in zip(todo, gifts):
            member, body = checked[i]
            guide = guides.get(guide_id) if guide_id else None
            if guide_id and guide is None:  # the guide's record is lost
                out[i] = NotFoundError(f"no guide {guide_id!r}", field="guide_id")
                continue
            campaign_id = campaign_at(given, body[5], windows) if given else None
            decided.append((i, *self._order_write(orders[i].order_id, member, body, history, guide, campaign_id,
                                                  now_ms)))
        stale = []
        results = self.store.record_orders(operator_id, state.version, [write for _, _, write in decided])
        for (i, outcome, _), (status, stored) in zip(decided, results):
            if status == "ok":
                out[i] = outcome
            elif status == "exists":
                try:
                    out[i] = self._order_replay(orders[i].order_id, stored, checked[i][1])
                except _REFUSED as e:
                    out[i] = e
            else:
                stale.append(i)
        return stale

    @staticmethod
    def _check_order(order: NewOrder) -> tuple[str, tuple]:
        """(the member, the order's body as recorded: the same body again is the same order)."""
        check_text(order.order_id, "order_id", MAX_ID_LEN)
        check_text(order.channel_id, "channel_id", MAX_ID_LEN)
        member = scoped_user(order.channel_id, order.user_id)
        amount_cents = check_amount_cents(order.amount_cents)
        sales_channel = check_sales_channel(order.sales_channel)
        if order.district_id is not None:
            check_text(order.district_id, "district_id", MAX_ID_LEN)
        at_ms = _ms(order.at, "at")
        return member, (order.channel_id, order.user_id, amount_cents, sales_channel, order.district_id, at_ms)

    def _check_order_refs(self, operator_id: str, body: tuple) -> None:
        """A new order's channel exists, its district is the operator's."""
        channel_id, _, _, _, district_id, _ = body
        self.channels.get(channel_id)
        if district_id is not None:
            self.districts.get(district_id, owner=operator_id)

    @staticmethod
    def _order_write(order_id: str, member: str, body: tuple, history: str | None, guide: Guide | None,
                     campaign_id: str | None, now_ms: int) -> tuple[OrderOutcome, OrderWrite]:
        """What the order answers once written, and the store's write of its record, ledger entry
        and totals (``GuideStore.record_orders``), if what it was decided on is unchanged."""
        channel_id, user_id, amount_cents, sales_channel, district_id, at_ms = body
        guide_id = guide.id if guide else None
        bps = guide.commission_bps if guide else 0
        commission = commission_cents(amount_cents, bps)
        record = OrderRecord(channel_id, user_id, amount_cents, sales_channel, district_id, at_ms, guide_id, bps,
                             commission, campaign_id, now_ms)
        ledger = ("order", order_id, member, guide_id or "", campaign_id or "", sales_channel, amount_cents, bps,
                  commission, at_ms, now_ms)  # as ORDER_LEDGER names them
        deltas: tuple = ()
        if guide_id:
            deltas = (f"g:{guide_id}:orders", 1, f"g:{guide_id}:revenue_cents", amount_cents)
            if commission:
                deltas += (f"g:{guide_id}:commission_cents", commission)
        if campaign_id:
            deltas += (f"c:{campaign_id}:conversions", 1, f"c:{campaign_id}:revenue_cents", amount_cents)
        return (OrderOutcome(order_id, guide_id, commission, campaign_id, False),
                OrderWrite(order_id, member, history, record.to_json(), at_ms, guide_id, ledger, deltas))

    @staticmethod
    def _order_replay(order_id: str, raw: str, body: tuple) -> OrderOutcome:
        record = OrderRecord.from_json(raw)
        if record.body() != body:
            raise ConflictError(f"order {order_id!r} was recorded with another body", field="order_id",
                                code="order_conflict")
        return OrderOutcome(order_id, record.guide_id, record.commission_cents, record.campaign_id, True)

    def _windows(self, operator_id: str, campaign_ids) -> dict[str, int]:
        """The attribution window (ms) of each of these campaigns that is the operator's."""
        if not campaign_ids:
            return {}
        return {c.id: c.attribution_days * DAY_MS for c in self.campaigns.get_many(list(campaign_ids))
                if c.owner == operator_id}

    def refund(self, operator_id: str, order_id: str, refund_id: str, amount_cents: int) -> RefundOutcome:
        """Refund part or all of an order: its commission is reversed in proportion (cumulative
        floor, rules.refund_figures), and its campaign conversion undone once it is refunded in
        full. Idempotent on ``refund_id``: the same refund again answers the same; another refund
        under that id is a 409."""
        check_text(order_id, "order_id", MAX_ID_LEN)
        check_text(refund_id, "refund_id", MAX_ID_LEN)
        amount_cents = check_amount_cents(amount_cents)
        for _ in range(_TRIES):
            raw_refund, raw_order = self.store.refund_state(operator_id, refund_id, order_id)
            if raw_refund is not None:
                return self._refund_replay(refund_id, raw_refund, order_id, amount_cents)
            if raw_order is None:
                raise NotFoundError(f"no order {order_id!r}", field="order_id")
            order = OrderRecord.from_json(raw_order)
            f = refund_figures(order.amount_cents, order.commission_cents, order.refunded_cents, order.reversed_cents,
                               amount_cents)
            now_ms = self._now_ms()
            record = RefundRecord(order_id, amount_cents, f.reversal_cents, f.refunded_cents,
                                  order.commission_cents - f.reversed_cents, now_ms)
            guide, campaign = order.guide_id, order.campaign_id
            ledger = {"type": "refund", "order_id": order_id, "refund_id": refund_id, "guide": guide or "",
                      "campaign": campaign or "", "sales_channel": order.sales_channel, "amount": amount_cents,
                      "reversal": f.reversal_cents, "full": int(f.completes), "recorded": now_ms}
            deltas = {}
            if guide:
                deltas |= {f"g:{guide}:orders": -int(f.completes), f"g:{guide}:revenue_cents": -amount_cents,
                           f"g:{guide}:commission_cents": -f.reversal_cents}
            if campaign:
                deltas |= {f"c:{campaign}:conversions": -int(f.completes), f"c:{campaign}:revenue_cents": -amount_cents}
            after = order.refunded(f.refunded_cents, f.reversed_cents)
            status, stored = self.store.record_refund(operator_id, order_id, refund_id, raw_order, after.to_json(),
                                                      record.to_json(), ledger, {k: d for k, d in deltas.items() if d})
            if status == "exists":
                return self._refund_replay(refund_id, stored, order_id, amount_cents)
            if status == "ok":
                return RefundOutcome(refund_id, record, False)
        raise _busy()

    @staticmethod
    def _refund_replay(refund_id: str, raw: str, order_id: str, amount_cents: int) -> RefundOutcome:
        record = RefundRecord.from_json(raw)
        if (record.order_id, record.amount_cents) != (order_id, amount_cents):
            raise ConflictError(f"refund {refund_id!r} was recorded with another body", field="refund_id",
                                code="refund_conflict")
        return RefundOutcome(refund_id, record, True)

    # ------------------------------------------------------------ reports
    def commissions(self, guide_id: str, operator_id: str, from_: datetime | None = None,
                    to: datetime | None = None) -> CommissionReport:
        """The guide's orders of [from_, to) by the order's time, net of every refund made so far:
        orders not refunded in full, revenue (amounts less refunds) and commission (less reversals),
        in all and by sales channel. Default: the 30 days to now (and the 5 minutes ahead of it an
        order's time may be); at most 366 days."""
        self.guide(guide_id, operator_id)
        to_ms = _ms(to, "to") if to is not None else self._now_ms() + MAX_AHEAD_MS + 1
        from_ms = _ms(from_, "from") if from_ is not None else to_ms - DEFAULT_REPORT_SPAN // timedelta(milliseconds=1)
        if from_ms < _FIRST_MS:  # 30 days before a "to" in the year 1's January
            raise InvalidInputError("must leave 30 days after the year 1 began, or come with from", field="to")
        if from_ms >= to_ms:
            raise InvalidInputError("must be before to", field="from")
        if to_ms - from_ms > MAX_REPORT_SPAN // timedelta(milliseconds=1):
            raise InvalidInputError(f"a report spans at most {MAX_REPORT_SPAN.days} days",
                                    field="to" if to is not None else "from")
        by = {sc: [0, 0, 0] for sc in SALES_CHANNELS}
        for page in self.store.orders_between(operator_id, guide_id, from_ms, to_ms):
            for raw in page:
                o = OrderRecord.from_json(raw)
                f = by[o.sales_channel]
                f[0] += o.refunded_cents < o.amount_cents
                f[1] += o.amount_cents - o.refunded_cents
                f[2] += o.commission_cents - o.reversed_cents
        channels = {sc: ChannelFigures(*f) for sc, f in by.items()}
        return CommissionReport(guide_id, from_ms, to_ms, *(sum(f[i] for f in channels.values()) for i in range(3)),
                                channels)

    def campaign_conversions(self, operator_id: str, campaign_id: str) -> tuple[int, int]:
        """(orders attributed to the campaign and not refunded in full, their revenue net of refunds)."""
        conversions, revenue = self.store.totals(operator_id, [f"c:{campaign_id}:conversions",
                                                               f"c:{campaign_id}:revenue_cents"])
        return conversions, revenue

    def audit(self, operator_id: str) -> tuple[dict, list[str]]:
        """The operator's figures recomputed from its ledger, and every mismatch found (store.audit)."""
        return self.store.audit(operator_id)
