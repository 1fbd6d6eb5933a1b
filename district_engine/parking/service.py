"""The parking service: lots, plate bindings, merchant validations, and the gate's decision on each
signed plate event: open, pay, or full, answered in milliseconds.

An event is decided once: a repeated webhook-id, or a second read of the plate on the same lane
within 20 s, gets the first answer byte for byte (``claim_gate_event.lua``). An exit prices the
session (pure ``price_session``, with the discounts of the lot's live parking campaigns and the
merchants' validations), charges the account bound to the plate, and closes the session in one
atomic script; a session closes once, so it is charged once.

What is not believed goes to the lot's review list, for staff (``resolve``): a camera clock out of
bounds is refused (422), an exit before its entry or a fee above the lot's ``max_auto_charge_cents``
holds the car (``pay``), and a charge declined at every retry ends there. A debt stays with the
account charged at the exit (kept on the session), whatever becomes of the plate's binding.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Callable, NamedTuple

from district_engine.catalog import Catalog
from district_engine.clock import ms
from district_engine.errors import ConflictError, InvalidInputError, NotFoundError, StoreError, StoreUnavailableError
from district_engine.validation import check_int
from district_engine.geo.points import MAX_RADIUS_M, check_latlng
from district_engine.ids import new_id
from district_engine.quotas import check_quota
from district_engine.parking.payments import LedgerGateway, PaymentGateway
from district_engine.parking.plates import check_plate, lookalikes
from district_engine.parking.policy import (MAX_AUTO_CHARGE_CENTS, MAX_BACKFILL_HOURS, RETRY_SPAN_S, check_captured_at,
                                            check_lot_limits, retry_delays)
from district_engine.parking.tariff import Tariff, price_session
from district_engine.signing import new_secret, verify
from district_engine.store.parking import Binding, LotRecord, ParkingStore
from district_engine.store.streams import STREAM_ID

log = logging.getLogger("district_engine.parking")

__all__ = ["Parking", "GateEvent", "POLICIES", "PENDING_WAIT_S", "RESOLUTIONS", "messages", "pending_too_long"]

POLICIES = ("open_and_bill", "pay_at_gate")
RESOLUTIONS = ("charge", "adjust", "waive")
RESOLUTION_CLAIM_MS = 60_000  # a resolution's remote charge holds the session this long (far above its timeout)
PAID_AT_GATE = ("cash", "card", "qr")
ROTATION_GRACE = timedelta(hours=24)
PENDING_WAIT_S = 2.0  # how long a repeat waits for the first delivery's answer


def pending_too_long() -> StoreUnavailableError:
    return StoreUnavailableError("the same gate event is being decided elsewhere; send it again")


class GateEvent(NamedTuple):
    """A checked gate event: ``plate`` normalised, ``captured_at`` timezone-aware."""

    type: str  # vehicle.entry | vehicle.exit
    plate: str
    confidence: float
    captured_at: datetime
    lane: str


def _yuan(cents: int) -> str:
    return f"¥{cents // 100}.{cents % 100:02d}"


def messages(kind: str, fee_cents: int = 0) -> str:
    """What the gate's display shows, in Chinese and English."""
    fee = _yuan(fee_cents)
    return {
        "welcome": "欢迎光临 Welcome",
        "inside": "欢迎光临 Welcome (already inside)",
        "full": "车位已满 Car park full",
        "free": "免费离场，一路顺风 Free exit, goodbye",
        "paid": f"已自动扣费 {fee}，一路顺风 Paid {fee}, goodbye",
        "billed": f"已放行，{fee} 稍后扣费 {fee} will be charged later, goodbye",
        "pay": f"请缴费 {fee} Please pay {fee}",
        "no_entry": "未找到入场记录，请联系工作人员 No entry record found, staff will assist",
        "left": "已离场 Already exited",
        "review": f"请稍候，工作人员将核对费用 {fee} Fee {fee} needs staff: please wait for the attendant",
        "clock": "时间记录有误，请稍候，工作人员将协助 Times do not match: please wait for the attendant",
    }[kind]


def _answer(decision: str, session_id: str | None, fee_cents: int, charged_cents: int, message: str) -> bytes:
    return json.dumps({"decision": decision, "session_id": session_id, "fee_cents": fee_cents,
                       "charged_cents": charged_cents, "message": message},
                      ensure_ascii=False, separators=(",", ":")).encode()


@lru_cache(maxsize=1024)
def _tariff(tariff_json: str) -> Tariff:
    """A lot's tariff, parsed once: a time-of-day tariff checks all 1,440 minutes of the day."""
    return Tariff.from_dict(json.loads(tariff_json))


def lot_of_session(session_id: str) -> str:
    """Session ids carry their lot: ``ses_<12 hex>_<lot id>``."""
    parts = session_id.split("_", 2)
    if len(parts) != 3 or parts[0] != "ses" or not parts[2]:
        raise NotFoundError(f"no parking session {session_id!r}", field="session_id")
    return parts[2]


class Parking:
    def __init__(self, store: ParkingStore, gateway: PaymentGateway | None = None,
                 on_payment_failure: str = "open_and_bill", retry_s: float = 30.0,
                 clock: Callable[[], datetime] | None = None,
                 catalog: Catalog | None = None, lots_per_district: int = 0,
                 wait: tuple[int, int] = (0, 200), charge_attempts: int = 5, retry_span_s: float = RETRY_SPAN_S):
        if on_payment_failure not in POLICIES:
            raise InvalidInputError(f"must be one of {', '.join(POLICIES)}", field="on_payment_failure")
        self.store = store
        self.gateway = gateway or LedgerGateway()
        self.on_payment_failure = on_payment_failure
        # The waits before each retry of a declined charge; after the last, staff decide.
        self.retry_ms = [int(d * 1000) for d in retry_delays(charge_attempts, retry_s, retry_span_s)]
        self.clock = clock
        # Where lots may be (within reach of the owner's district) and the free minutes of live
        # parking campaigns; None (a service used alone): sites unchecked, no campaign minutes.
        self.catalog = catalog
        self.lots_per_district = lots_per_district
        self.wait_replicas, self.wait_ms = wait  # see try_decide
        self.rotation_grace = ROTATION_GRACE
        self._occupancy: tuple[float, dict] = (0.0, {})
        self._refreshing = threading.Lock()

    def _now(self) -> datetime:
        return self.clock()

    # ------------------------------------------------------------ lots
    def create_lot(self, owner: str, district_id: str, name: str, capacity: int, lat: float, lng: float,
                   tariff: dict, name_zh: str | None = None, lot_id: str | None = None,
                   max_auto_charge_cents: int = MAX_AUTO_CHARGE_CENTS,
                   max_backfill_hours: int = MAX_BACKFILL_HOURS) -> tuple[LotRecord, str]:
        """A lot of one of the owner's districts (the caller checked it); returns it and its webhook
        secret, which is shown only now. The retry of a create whose answer was lost has the same id
        (district_engine/ids.py): it writes the same lot again with a new secret, which replaces the
        lost one (nobody holds it); the lot's occupancy is kept."""
        if self.catalog is not None:
            lat, lng = self._check_site(owner, district_id, lat, lng)
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise InvalidInputError("must be a non-empty string of at most 200 characters", field="name")
        check_int(capacity, "capacity", 1, 100_000)
        lat, lng = self.check_location(lat, lng)
        tariff = Tariff.from_dict(tariff).to_dict()
        limits = check_lot_limits(max_auto_charge_cents, max_backfill_hours)
        lot_id = lot_id or new_id("lot")
        secret = new_secret()
        data = {"id": lot_id, "district_id": district_id, "name": name, "name_zh": name_zh, "capacity": capacity,
                "location": {"lat": lat, "lng": lng}, "tariff": tariff} | limits
        self.store.put_lot(lot_id, owner, data, secret)
        return self.lot(lot_id), secret

    def _check_site(self, owner: str, district_id: str, lat: float, lng: float) -> tuple[float, float]:
        """A new lot's place: one of the owner's districts, within its reach, under the quota."""
        assert self.catalog is not None
        self.catalog.owned(district_id, owner)
        lat, lng = self.check_location(lat, lng)
        if not any(m.district_id == district_id for m in self.catalog.view.index.match(lat, lng)):
            raise InvalidInputError(f"must be within {MAX_RADIUS_M:g} m of district {district_id}", field="location")
        if self.lots_per_district:
            lots = sum(1 for i in self.store.lots_of(owner) if self.lot(i).data["district_id"] == district_id)
            check_quota(lots, self.lots_per_district, "lots per district", "DE_QUOTA_LOTS_PER_DISTRICT",
                        field="district_id")
        return lat, lng

    def _campaign_minutes(self, district_id: str, lot_id: str, at: datetime) -> int:
        return 0 if self.catalog is None else self.catalog.parking_free_minutes(district_id, lot_id, at)

    def lots(self, owner: str) -> list[LotRecord]:
        return [self.lot(i) for i in self.store.lots_of(owner)]

    def session(self, session_id: str, owner: str) -> dict:
        """The owner's parking session (its lot is in its id)."""
        lot_id = lot_of_session(session_id)
        self.lot(lot_id, owner)
        return self.store.session(lot_id, session_id)

    @staticmethod
    def check_location(lat, lng) -> tuple[float, float]:
        """A lot's (lat, lng), WGS-84; InvalidInputError naming ``location.lat`` or ``location.lng``."""
        try:
            lat_a, lng_a = check_latlng(lat, lng)
        except InvalidInputError as e:
            raise InvalidInputError(e.message, field=f"location.{e.field}") from None
        if lat_a.ndim:
            raise InvalidInputError("must be a number", field="location.lat")
        return float(lat_a), float(lng_a)

    def lot(self, lot_id: str, owner: str | None = None) -> LotRecord:
        """The lot; its ``data`` has the limits (the defaults for a lot made before they existed)."""
        lot = self.store.get_lot(lot_id, ms(self._now()), owner)
        lot.data.setdefault("max_auto_charge_cents", MAX_AUTO_CHARGE_CENTS)
        lot.data.setdefault("max_backfill_hours", MAX_BACKFILL_HOURS)
        return lot

    def lot_of_district(self, lot_id: str, district_id: str, owner: str) -> LotRecord:
        lot = self.lot(lot_id, owner)
        if lot.data["district_id"] != district_id:
            raise InvalidInputError(f"lot {lot_id!r} is not in district {district_id!r}", field="lot_id")
        return lot

    def free_spaces(self, district_id: str, lot_id: str | None = None) -> int | None:
        """Free spaces of one lot, or of all the district's lots (``lot_id`` None); None if there is
        no such lot. From a table in memory: the feed shows it on the event loop, and it need not
        be exact. A table older than a second is read again on a thread of its own, meanwhile the
        old one answers (a stalled Redis then leaves it old, and stalls no request)."""
        at, table = self._occupancy
        if time.monotonic() - at > 1.0 and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh_occupancy, daemon=True, name="occupancy").start()
        rows = [v for k, v in table.items() if k == lot_id or (lot_id is None and v[0] == district_id)]
        return sum(max(0, capacity - occupied) for _, capacity, occupied in rows) if rows else None

    def _refresh_occupancy(self) -> None:
        try:
            self._occupancy = (time.monotonic(), self.store.occupancy())
        except Exception:  # noqa: BLE001 - a lost store: the old table answers; the next call tries again
            log.warning("parking: reading the occupancy failed", exc_info=True)
        finally:
            self._refreshing.release()

    def rotate_secret(self, lot_id: str, owner: str) -> str:
        """A new webhook secret; the old one stays valid for 24 h, while the gates are updated."""
        self.lot(lot_id, owner)
        secret = new_secret()
        self.store.rotate_secret(lot_id, secret, ms(self._now() + ROTATION_GRACE))
        return secret

    # ------------------------------------------------------------ plates and validations
    def bind_plate(self, user_id: str, plate: str, payment_token: str) -> Binding:
        plate = check_plate(plate)
        if not isinstance(payment_token, str) or not 1 <= len(payment_token) <= 256:
            raise InvalidInputError("must be a non-empty string of at most 256 characters", field="payment_token")
        b = Binding(plate, user_id, payment_token, self._now().isoformat())
        kept = self.store.bind(b)
        if kept.user_id != user_id:
            raise ConflictError(f"plate {plate} is bound to another account; it must be unbound first", field="plate")
        return kept

    def unbind_plate(self, plate: str, user_id: str) -> None:
        plate = check_plate(plate)
        b = self.store.binding(plate)
        if b is None or b.user_id != user_id:
            raise NotFoundError(f"plate {plate} is not bound to this user", field="plate")
        self.store.unbind(plate)

    def add_validation(self, session_id: str, owner: str, merchant: str, free_minutes: int,
                       validation_id: str | None = None) -> int:
        """A merchant's free minutes on an open session of one of the owner's lots; the session's
        total. Once per ``validation_id`` (the merchant's own, for its retries; else one made here,
        which a resend of the script carries too)."""
        lot_id = lot_of_session(session_id)
        try:
            self.lot(lot_id, owner)
        except NotFoundError:
            raise NotFoundError(f"no parking session {session_id!r}", field="session_id") from None
        if not isinstance(merchant, str) or not merchant.strip() or len(merchant) > 200:
            raise InvalidInputError("must be a non-empty string of at most 200 characters", field="merchant")
        check_int(free_minutes, "free_minutes", 1, 1440)
        self.store.session(lot_id, session_id)
        if validation_id is not None and (not isinstance(validation_id, str) or not 1 <= len(validation_id) <= 64):
            raise InvalidInputError("must be a string of 1 to 64 characters", field="validation_id")
        total = self.store.add_validation(lot_id, session_id, free_minutes, {
            "id": validation_id or f"val_{uuid.uuid4().hex}", "merchant": merchant, "free_minutes": free_minutes,
            "at": self._now().isoformat()})
        if total < 0:
            raise ConflictError("the session is closed: the car has left", field="session_id")
        return total

    def settle_at_gate(self, session_id: str, owner: str, paid_cents: int, method: str) -> str:
        """Close an open session that was paid at the gate (cash, card, a QR code), after a ``pay``
        answer; the payment is booked in the ledger. ConflictError if it is not open."""
        lot_id = lot_of_session(session_id)
        try:
            self.lot(lot_id, owner)
        except NotFoundError:
            raise NotFoundError(f"no parking session {session_id!r}", field="session_id") from None
        check_int(paid_cents, "paid_cents", 0, 10_000_000)
        if method not in PAID_AT_GATE:
            raise InvalidInputError(f"must be one of {', '.join(PAID_AT_GATE)}", field="method")
        s = self.store.session(lot_id, session_id)
        status, state = self.store.close_session(lot_id, session_id, self._now().isoformat(), paid_cents, paid_cents,
                                                 "paid", f"gate:{method}", s["plate"])
        if status != "closed":
            raise ConflictError(f"the session is {state}, not open", field="session_id")
        return "paid"

    # ------------------------------------------------------------ gate events
    def authenticate(self, lot_id: str, msg_id: str | None, timestamp: str | None, signature: str | None,
                     body: bytes) -> LotRecord:
        """The lot whose secret (or previous secret, during a rotation) signed this request."""
        lot = self.lot(lot_id)
        verify(list(lot.secrets), msg_id, timestamp, signature, body, now_s=self._now().timestamp())
        return lot

    def try_decide(self, lot: LotRecord, webhook_id: str, ev: GateEvent) -> bytes | None:
        """The gate's answer (JSON bytes) to one verified event, deciding it if nobody has (it is
        decided once); None while another request decides it: ask again shortly, for up to
        PENDING_WAIT_S, then give up with ``pending_too_long()``. Blocks only on Redis, and on the payment gateway if it is remote
        (``gateway_blocks``).

        With ``wait_replicas``, an answer (new or repeated) is given only once that many replicas
        have it and the session and charge behind it: a failover then never loses a charge or a
        session the gate was told of. Not yet acknowledged is StoreUnavailableError (503): the
        gate sends the event again and gets the same answer.
        """
        token = uuid.uuid4().hex  # this request's claim, which it alone releases

        def release() -> None:
            self.store.release_event(lot.id, webhook_id, ev.lane, ev.type, ev.plate, token)

        try:
            status, answer = self.store.claim_event(lot.id, webhook_id, ev.lane, ev.type, ev.plate, token)
            if status == "pending":
                return None
            if status != "answer":
                # Checked once claimed, not before: a repeat of an answered event gets its answer
                # even after its captured_at has aged past the bound.
                check_captured_at(ev.captured_at, self._now(), lot.data["max_backfill_hours"])
                answer = self._entry(lot, ev) if ev.type == "vehicle.entry" else self._exit(lot, webhook_id, ev)
                self.store.answer_event(lot.id, webhook_id, ev.lane, ev.type, ev.plate, answer)
        except InvalidInputError:
            release()  # refused: nothing recorded
            raise
        except StoreUnavailableError:
            # Redis did not answer, or refused: the claim, the decision, its answer may or may not
            # be written. An exit's close writes its answer in the same script, which a release
            # leaves in place (it takes only this request's own claim); so the gate's retry is
            # answered from that or decided afresh, without waiting for the claim to run out.
            try:
                release()
            except (StoreUnavailableError, StoreError):
                pass  # the claim runs out by itself (PENDING_MS)
            raise
        if self.wait_replicas and (acked := self.store.confirm(lot.id, self.wait_replicas, self.wait_ms)) < self.wait_replicas:
            raise StoreUnavailableError(f"the decision is on {acked} of {self.wait_replicas} replicas so far; retry")
        return answer

    @property
    def gateway_blocks(self) -> bool:
        """Whether a charge may wait on the network (an HTTP gateway, up to its timeout)."""
        return not isinstance(self.gateway, LedgerGateway)

    def _entry(self, lot: LotRecord, ev: GateEvent) -> bytes:
        session_id = f"ses_{uuid.uuid4().hex[:12]}_{lot.id}"
        status, sid = self.store.open_session(lot.id, session_id, ev.plate, ev.captured_at.isoformat(), ev.lane,
                                              ev.confidence)
        if status == "full":
            return _answer("full", None, 0, 0, messages("full"))
        if status == "no_lot":
            raise NotFoundError(f"no parking lot {lot.id!r}", field="lot_id")
        return _answer("open", sid, 0, 0, messages("welcome" if status == "opened" else "inside"))

    def _exit(self, lot: LotRecord, webhook_id: str, ev: GateEvent) -> bytes:
        found = self.store.open_sessions_for(lot.id, [ev.plate])
        if not found:  # a misread? one open session a look-alike character away is the car
            found = self.store.open_sessions_for(lot.id, lookalikes(ev.plate))
            if len(found) != 1:
                self.store.review(lot.id, {"reason": "no_entry" if not found else "ambiguous_misread",
                                           "webhook_id": webhook_id, "plate": ev.plate, "lane": ev.lane,
                                           "captured_at": ev.captured_at.isoformat(), "candidates": ",".join(found)})
                return _answer("pay", None, 0, 0, messages("no_entry"))
        plate, session_id = next(iter(found.items()))
        s = self.store.session(lot.id, session_id)
        entered_at = datetime.fromisoformat(s["entered_at"])
        if ev.captured_at < entered_at:  # one of the two clocks is wrong: nobody can price this stay
            self._hold(lot, session_id, "exit_before_entry", ev, None, self.store.binding(plate))
            return _answer("pay", session_id, 0, 0, messages("clock"))
        free = int(s["validation_minutes"]) + self._campaign_minutes(lot.data["district_id"], lot.id, ev.captured_at)
        fee = price_session(_tariff(json.dumps(lot.data["tariff"], sort_keys=True)), entered_at, ev.captured_at, free)
        if fee == 0:
            return self._close(lot, webhook_id, session_id, ev, 0, 0, "paid", "free")
        binding = self.store.binding(plate)
        if fee > lot.data["max_auto_charge_cents"]:  # too much to take without a person looking
            self._hold(lot, session_id, "fee_above_cap", ev, fee, binding)
            return _answer("pay", session_id, fee, 0, messages("review", fee))
        if binding is None:
            return _answer("pay", session_id, fee, 0, messages("pay", fee))
        charge = self.gateway.charge(session_id, fee, binding.payment_token, binding.user_id)
        if charge.ok:
            return self._close(lot, webhook_id, session_id, ev, fee, fee, "paid", "paid", binding)
        if self.on_payment_failure == "open_and_bill":
            return self._close(lot, webhook_id, session_id, ev, fee, 0, "unpaid", "billed", binding)
        return _answer("pay", session_id, fee, 0, messages("pay", fee))

    def _hold(self, lot: LotRecord, session_id: str, reason: str, ev: GateEvent, fee: int | None,
              payer: Binding | None) -> None:
        """The car is held at the exit for staff: its session goes on the review list (once) with
        what the exit found, the account bound now included (the one a staff charge goes to)."""
        found = {"exited_at": ev.captured_at.isoformat(), "exit_plate": ev.plate}
        if fee is not None:
            found["fee_cents"] = fee
        if payer is not None:
            found |= {"payer_user": payer.user_id, "payment_token": payer.payment_token}
        self.store.review_session(lot.id, session_id, reason, self._now().isoformat(), found, fee)

    def _close(self, lot, webhook_id: str, session_id: str, ev: GateEvent, fee: int, charged: int, state: str,
               message: str, payer: Binding | None = None) -> bytes:
        due_ms = ms(self._now()) + self.retry_ms[0]
        answer = _answer("open", session_id, fee, charged, messages(message, fee))
        status, _ = self.store.close_session(lot.id, session_id, ev.captured_at.isoformat(), fee, charged, state,
                                             self.gateway.name, ev.plate, (webhook_id, ev.lane, ev.type), answer,
                                             unpaid_due_ms=due_ms, payer=payer)
        if status != "closed":  # another event closed it first (and charged it): this car has left
            return _answer("open", session_id, fee, 0, messages("left"))
        return answer

    # ------------------------------------------------------------ charges that failed
    def retry_unpaid(self, lease_s: float = 60, n: int = 10) -> int:
        """Charge again the sessions whose car left unpaid; returns how many got charged now. A few
        at a time: each may wait for the gateway's timeout, and the same loop runs the other jobs.

        The charge goes to the account kept on the session (bound when the car left), never to
        whoever holds the plate now. Each decline waits longer (``retry_delays``); after the last
        allowed retry, or for a session closed before payers were kept, staff decide (review)."""
        now_ms = ms(self._now())
        members, receipt = self.store.unpaid.claim(now_ms, int(lease_s * 1000), n)
        charged = 0
        for member in members:
            lot_id, session_id = member.split(" ", 1)
            try:
                s = self.store.session(lot_id, session_id)
            except NotFoundError:
                s = {}
            then = None
            if s.get("state") == "unpaid" and "review" not in s:
                if not s.get("payment_token"):
                    self._review_unpaid(lot_id, session_id, "no_payer", s)
                elif self.gateway.charge(session_id, int(s["fee_cents"]), s["payment_token"], s["payer_user"]).ok:
                    charged += self.store.settle(lot_id, session_id, self.gateway.name) > 0
                elif (declined := self.store.count_declined(lot_id, session_id)) >= len(self.retry_ms):
                    self._review_unpaid(lot_id, session_id, "charge_declined", s)
                else:
                    then = (member, now_ms + self.retry_ms[declined])
            self.store.unpaid.finish(member, receipt, then)
        return charged

    def _review_unpaid(self, lot_id: str, session_id: str, reason: str, s: dict) -> None:
        log.info("parking: session %s goes to review: %s", session_id, reason)
        self.store.review_session(lot_id, session_id, reason, self._now().isoformat(), {}, int(s["fee_cents"]))

    # ------------------------------------------------------------ the review list
    def review_list(self, lot_id: str, owner: str, limit: int = 50, before: str | None = None) -> list[dict]:
        """A page of the lot's review list, newest first (see ``ParkingStore.reviews``)."""
        self.lot(lot_id, owner)
        check_int(limit, "limit", 1, 500)
        if before is not None and not STREAM_ID.fullmatch(before):
            raise InvalidInputError("must be the id of an entry of the list (e.g. 1764000000000-0)", field="before")
        return self.store.reviews(lot_id, limit, before)

    def resolve(self, session_id: str, owner: str, action: str, note: str, amount_cents: int | None = None,
                resolution_id: str | None = None) -> dict:
        """Staff resolve a session of the review list: ``charge`` its fee, ``adjust`` (charge
        ``amount_cents``, at most the fee) or ``waive`` it, to the account bound when the car left;
        the session closes (the car held at the gate leaves). Once per ``resolution_id`` (the
        client's, for its retries; else one made here): sent again, it is applied once. Returns
        the session. ConflictError if it is not awaiting staff, or the charge is declined."""
        lot_id = lot_of_session(session_id)
        try:
            self.lot(lot_id, owner)
        except NotFoundError:
            raise NotFoundError(f"no parking session {session_id!r}", field="session_id") from None
        if action not in RESOLUTIONS:
            raise InvalidInputError(f"must be one of {', '.join(RESOLUTIONS)}", field="action")
        if not isinstance(note, str) or not note.strip() or len(note) > 500:
            raise InvalidInputError("must be a non-empty string of at most 500 characters", field="note")
        if resolution_id is not None and (not isinstance(resolution_id, str) or not 1 <= len(resolution_id) <= 64):
            raise InvalidInputError("must be a string of 1 to 64 characters", field="resolution_id")
        s = self.store.session(lot_id, session_id)
        fee = int(s["fee_cents"]) if s.get("fee_cents") else None
        amount = self._resolution_amount(action, amount_cents, fee)
        resolution = {"id": resolution_id or f"res_{uuid.uuid4().hex}", "action": action, "amount_cents": amount,
                      "note": note, "at": self._now().isoformat()}
        if "resolution" in s:  # resolved before: by this resolution (a retry), or it is too late
            return self._resolved(lot_id, session_id, resolution, "done", s["resolution"])
        if amount and not s.get("payment_token"):
            raise ConflictError("no account was bound when the car left: take the payment at the gate "
                                "(paid-at-gate) or waive it", field="action")
        now_ms = ms(self._now())
        remote = amount > 0 and self.gateway_blocks
        if remote:  # held for this resolution while the payment service answers
            status, detail = self.store.resolve(lot_id, session_id, "claim", resolution, amount, self.gateway.name,
                                                now_ms, RESOLUTION_CLAIM_MS)
            if status != "claimed":
                return self._resolved(lot_id, session_id, resolution, status, detail)
            # A key of its own: the session id's may already hold a declined charge of the full fee.
            if not self.gateway.charge(f"{session_id}.{resolution['id']}", amount, s["payment_token"],
                                       s["payer_user"]).ok:
                self.store.resolve(lot_id, session_id, "release", resolution, amount, self.gateway.name, now_ms)
                raise ConflictError("the payment service declined the charge; try again later, or adjust or waive",
                                    field="action")
        status, detail = self.store.resolve(lot_id, session_id, "apply", resolution, amount, self.gateway.name, now_ms)
        return self._resolved(lot_id, session_id, resolution, status, detail)

    @staticmethod
    def _resolution_amount(action: str, amount_cents, fee: int | None) -> int:
        if action != "adjust":
            if amount_cents is not None:
                raise InvalidInputError(f"is given only with adjust, not {action}", field="amount_cents")
            if action == "charge" and fee is None:
                raise InvalidInputError("the stay could not be priced (its times do not match): adjust it with an "
                                        "amount, or waive it", field="action")
            return fee if action == "charge" else 0
        high = fee if fee is not None else 10_000_000
        check_int(amount_cents, "amount_cents", 1, high, " (the fee) with adjust")
        return amount_cents

    def _resolved(self, lot_id: str, session_id: str, asked: dict, status: str, detail: str) -> dict:
        if status in ("applied", "done"):
            held = json.loads(detail)
            if held["id"] == asked["id"] and (held["action"], held["amount_cents"]) == (asked["action"],
                                                                                          asked["amount_cents"]):
                return self.store.session(lot_id, session_id)
            if held["id"] == asked["id"]:
                raise ConflictError("this resolution_id was used for another resolution", field="resolution_id")
        if status == "busy":
            raise ConflictError("another resolution of this session is being charged", field="session_id")
        raise ConflictError("the session is not awaiting staff (resolved, or never on the review list)",
                            field="session_id")
