"""Parking in Redis: lots (with their webhook secrets and occupancy), sessions, gate-event answers,
plate bindings and the charges to try again. A lot's state shares one hash tag, so an entry or an
exit and the charge booked with it are one atomic script each (store/lua/*_session.lua)."""

from __future__ import annotations

import json
from typing import NamedTuple

from district_engine.errors import NotFoundError
from district_engine.store import keys
from district_engine.store.streams import read_all
from district_engine.store.schedule import TimedSet
from district_engine.store.scripts import Scripts

__all__ = ["ParkingStore", "LotRecord", "Binding"]

PENDING_MS = 10_000  # a claimed gate event whose decider died is free again after this
RECENT_MS = 20_000  # a second read of a plate on a lane within this is the same event
ANSWER_MS = 3_600_000  # answers kept for repeated webhook-ids (the signature's 5 min tolerance is far inside)


class LotRecord(NamedTuple):
    """A lot as stored: ``data`` is its public JSON (district, name, capacity, location, tariff)."""

    id: str
    owner: str
    data: dict
    occupied: int
    secrets: tuple[str, ...]  # the current secret first, then the previous one while it is still valid


class Binding(NamedTuple):
    plate: str
    user_id: str
    payment_token: str
    bound_at: str


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else v


class ParkingStore:
    def __init__(self, client):
        self._client = client
        self._scripts = Scripts(client)
        self.unpaid = TimedSet(client, keys.unpaid_sessions())

    # ------------------------------------------------------------ lots
    def put_lot(self, lot_id: str, owner: str, data: dict, secret: str) -> None:
        k = keys.lot_keys(lot_id)
        self._client.hset(k["meta"], mapping={"json": json.dumps(data, ensure_ascii=False), "owner": owner,
                                              "district_id": data["district_id"], "capacity": data["capacity"],
                                              "secret": secret})
        self._client.hsetnx(k["meta"], "occupied", 0)
        self._client.sadd(keys.lots(), lot_id)
        self._client.sadd(keys.operator_lots(owner), lot_id)

    def get_lot(self, lot_id: str, now_ms: int, owner: str | None = None) -> LotRecord:
        m = self._client.hgetall(keys.lot_keys(lot_id)["meta"])
        if not m or (owner is not None and _s(m[b"owner"]) != owner):
            raise NotFoundError(f"no parking lot {lot_id!r}", field="lot_id")
        secrets = [_s(m[b"secret"])]
        if b"previous_secret" in m and int(m[b"previous_until_ms"]) > now_ms:
            secrets.append(_s(m[b"previous_secret"]))
        return LotRecord(lot_id, _s(m[b"owner"]), json.loads(m[b"json"]), int(m.get(b"occupied", 0)), tuple(secrets))

    def rotate_secret(self, lot_id: str, new_secret: str, previous_until_ms: int) -> None:
        meta = keys.lot_keys(lot_id)["meta"]
        old = self._client.hget(meta, "secret")
        self._client.hset(meta, mapping={"secret": new_secret, "previous_secret": old,
                                         "previous_until_ms": previous_until_ms})

    def lots_of(self, owner: str) -> list[str]:
        return sorted(_s(i) for i in self._client.smembers(keys.operator_lots(owner)))

    def occupancy(self) -> dict[str, tuple[str, int, int]]:
        """Every lot's (district id, capacity, occupied), in two round trips."""
        lot_ids = sorted(_s(i) for i in self._client.smembers(keys.lots()))
        pipe = self._client.pipeline(transaction=False)
        for lot_id in lot_ids:
            pipe.hmget(keys.lot_keys(lot_id)["meta"], "district_id", "capacity", "occupied")
        return {lot_id: (_s(d), int(c), int(o or 0)) for lot_id, (d, c, o) in zip(lot_ids, pipe.execute())
                if c is not None}

    # ------------------------------------------------------------ gate events
    def claim_event(self, lot_id: str, webhook_id: str, lane: str, event_type: str, plate: str,
                    token: str) -> tuple[str, bytes | None]:
        """('claimed', None), ('pending', None) or ('answer', the first answer's bytes). ``token``:
        the claimant's, made per request; it alone releases the claim."""
        r = self._scripts("claim_gate_event", [keys.gate_answer(lot_id, webhook_id), keys.gate_recent(lot_id, lane, event_type, plate)],
                          [PENDING_MS, RECENT_MS, token])
        return _s(r[0]), (r[1] if len(r) > 1 else None)

    def release_event(self, lot_id: str, webhook_id: str, lane: str, event_type: str, plate: str, token: str) -> None:
        self._scripts("release_gate_event", [keys.gate_answer(lot_id, webhook_id), keys.gate_recent(lot_id, lane, event_type, plate)],
                      [token])

    def confirm(self, lot_id: str, replicas: int, timeout_ms: int) -> int:
        """How many replicas (up to ``replicas``) have every write made so far to the lot (its
        sessions, ledger and answers share its slot)."""
        return self._scripts.confirm(keys.lot_keys(lot_id)["meta"], replicas, timeout_ms)

    def answer_event(self, lot_id: str, webhook_id: str, lane: str, event_type: str, plate: str, answer: bytes) -> None:
        """Keep the answer for repeats of the webhook-id and re-reads of the plate on the lane."""
        pipe = self._client.pipeline(transaction=False)
        pipe.set(keys.gate_answer(lot_id, webhook_id), answer, px=ANSWER_MS)
        pipe.set(keys.gate_recent(lot_id, lane, event_type, plate), answer, px=RECENT_MS)
        pipe.execute()

    def review(self, lot_id: str, fields: dict) -> None:
        """Put a gate event with no session on the lot's review list (a misread, an exit without
        entry); sessions go on it with ``review_session``."""
        self._client.xadd(keys.lot_keys(lot_id)["review"], {k: str(v) for k, v in fields.items()},
                          maxlen=100_000, approximate=True)

    def reviews(self, lot_id: str, count: int = 100, before: str | None = None) -> list[dict]:
        """The lot's review list, newest first: ``count`` entries older than the entry ``before``
        (None: from the newest). Each is ``{"id", "reason", ...}``; a session's has ``session_id``."""
        high = f"({before}" if before else "+"
        return [{"id": _s(sid), **{_s(k): _s(v) for k, v in f.items()}}
                for sid, f in self._client.xrevrange(keys.lot_keys(lot_id)["review"], max=high, min="-", count=count)]

    def review_session(self, lot_id: str, session_id: str, reason: str, at: str, exit_fields: dict,
                       fee_cents: int | None) -> tuple[str, str]:
        """Put a session on the lot's review list, once (``review_session.lua``): ('review', entry
        id), ('already', entry id) or ('no', its state). ``exit_fields`` are set on an open session."""
        status, detail = self._scripts("review_session", [keys.lot_session(lot_id, session_id),
                                                          keys.lot_keys(lot_id)["review"]],
                                       [reason, session_id, at, json.dumps({k: str(v) for k, v in exit_fields.items()},
                                                                           ensure_ascii=False),
                                        "" if fee_cents is None else fee_cents])
        return _s(status), _s(detail)

    def resolve(self, lot_id: str, session_id: str, mode: str, resolution: dict, charged_cents: int, gateway: str,
                now_ms: int, claim_ms: int = 60_000) -> tuple[str, str]:
        """One step of a staff resolution (``resolve_session.lua``, ``mode`` claim | release |
        apply): (status, the resolution's JSON or the state or the other claimant)."""
        k = keys.lot_keys(lot_id)
        status, detail = self._scripts("resolve_session", [k["meta"], k["open"], keys.lot_session(lot_id, session_id),
                                                           k["ledger"], k["review"]],
                                       [mode, session_id, resolution["id"], json.dumps(resolution, ensure_ascii=False),
                                        charged_cents, gateway, now_ms, claim_ms])
        return _s(status), _s(detail)

    def count_declined(self, lot_id: str, session_id: str) -> int:
        """One more declined retry of an unpaid session's charge; how many so far."""
        return int(self._client.hincrby(keys.lot_session(lot_id, session_id), "charge_attempts", 1))

    # ------------------------------------------------------------ sessions
    def open_session(self, lot_id: str, session_id: str, plate: str, entered_at: str, lane: str,
                     confidence: float) -> tuple[str, str]:
        """('opened', id), ('inside', the open session's id) or ('full', '')."""
        k = keys.lot_keys(lot_id)
        status, sid = self._scripts("open_session", [k["meta"], k["open"], keys.lot_session(lot_id, session_id)],
                                    [plate, session_id, entered_at, lane, confidence])
        return _s(status), _s(sid)

    def open_sessions_for(self, lot_id: str, plates: list[str]) -> dict[str, str]:
        """plate -> open session id, for those of ``plates`` that have one."""
        if not plates:
            return {}
        ids = self._client.hmget(keys.lot_keys(lot_id)["open"], plates)
        return {p: _s(i) for p, i in zip(plates, ids) if i is not None}

    def session(self, lot_id: str, session_id: str) -> dict:
        raw = self._client.hgetall(keys.lot_session(lot_id, session_id))
        if not raw:
            raise NotFoundError(f"no parking session {session_id!r}", field="session_id")
        return {_s(k): _s(v) for k, v in raw.items()}

    def close_session(self, lot_id: str, session_id: str, exited_at: str, fee_cents: int, charged_cents: int,
                      state: str, gateway: str, exit_plate: str, exit_event: tuple[str, str, str] | None = None,
                      answer: bytes = b"", unpaid_due_ms: int | None = None,
                      payer: Binding | None = None) -> tuple[str, str]:
        """('closed', state) or ('not_open', its state). ``exit_event``: the gate event's (webhook
        id, lane, type), whose ``answer`` is recorded with the close, in the same script. ``payer``:
        the binding charged at the exit; an unpaid session keeps its user and token, and the late
        charge goes to them whatever becomes of the binding. An unpaid close first queues the
        charge to be tried again."""
        k = keys.lot_keys(lot_id)
        if state == "unpaid":
            # Queued first, in a round trip of its own (another slot: on a Cluster, another node):
            # a retry that finds the session not unpaid does nothing, so queueing one too many is
            # harmless; one too few is not.
            self.unpaid.put(f"{lot_id} {session_id}", unpaid_due_ms)
        claims = []
        if exit_event is not None:
            webhook_id, lane, event_type = exit_event
            claims = [keys.gate_answer(lot_id, webhook_id), keys.gate_recent(lot_id, lane, event_type, exit_plate)]
        status, detail = self._scripts("close_session", [k["meta"], k["open"], keys.lot_session(lot_id, session_id),
                                                         k["ledger"], k["review"], *claims],
                                       [session_id, exited_at, fee_cents, charged_cents, state, gateway, exit_plate,
                                        answer, ANSWER_MS, RECENT_MS, payer.user_id if payer else "",
                                        payer.payment_token if payer else ""])
        return _s(status), _s(detail)

    def settle(self, lot_id: str, session_id: str, gateway: str) -> int:
        """Book a late charge of an unpaid session, once; the cents booked."""
        return int(self._scripts("settle_session", [keys.lot_session(lot_id, session_id), keys.lot_keys(lot_id)["ledger"]],
                                 [session_id, gateway]))

    def add_validation(self, lot_id: str, session_id: str, free_minutes: int, validation: dict) -> int:
        """Total validation minutes of the open session after adding this one; -1 if it is not open."""
        return int(self._scripts("validate_session", [keys.lot_session(lot_id, session_id)],
                                 [free_minutes, json.dumps(validation, ensure_ascii=False)]))

    def audit(self, lot_id: str) -> list[str]:
        """Reconcile the lot: occupancy against its open sessions, and every charge against its
        session (each charged session booked exactly once, for what it was charged). The mismatches
        found; empty: it all reconciles."""
        k = keys.lot_keys(lot_id)
        problems = []
        occupied = int(self._client.hget(k["meta"], "occupied") or 0)
        open_ = {_s(plate): _s(sid) for plate, sid in self._client.hgetall(k["open"]).items()}
        if occupied != len(open_):
            problems.append(f"occupied is {occupied} with {len(open_)} open sessions")
        sessions = {}
        for key in self._client.scan_iter(match=keys.lot_session(lot_id, "*"), count=1000):
            s = {_s(f): _s(v) for f, v in self._client.hgetall(key).items()}
            sessions[_s(key).rsplit(":s:", 1)[1]] = s
        for plate, sid in open_.items():
            if sessions.get(sid, {}).get("state") != "open":
                problems.append(f"open session {sid} of {plate} is {sessions.get(sid, {}).get('state', 'missing')}")
        booked: dict[str, list[int]] = {}
        for entry in self.ledger(lot_id):
            if entry["type"] == "charge":
                booked.setdefault(entry["session"], []).append(int(entry["amount"]))
        for sid, s in sessions.items():
            charged = int(s.get("charged_cents") or 0)
            if booked.get(sid, []) != ([charged] if charged else []):
                problems.append(f"session {sid} charged {charged} but booked {booked.get(sid, [])}")
        problems += [f"charge booked for unknown session {sid}" for sid in booked.keys() - sessions.keys()]
        problems += self._audit_reviews(lot_id, sessions)
        return problems

    def _audit_reviews(self, lot_id: str, sessions: dict[str, dict]) -> list[str]:
        """Each resolution booked once, with the session it resolved; each session awaiting staff on
        the review list, and each session entry of the list awaiting staff."""
        problems = []
        resolutions: dict[str, list[str]] = {}
        for entry in self.ledger(lot_id):
            if "resolution" in entry:
                resolutions.setdefault(entry["session"], []).append(entry["resolution"])
        for sid, s in sessions.items():
            expected = [json.loads(s["resolution"])["id"]] if "resolution" in s else []
            if resolutions.get(sid, []) != expected:
                problems.append(f"session {sid} resolved as {expected} but booked {resolutions.get(sid, [])}")
        problems += [f"resolution booked for unknown session {sid}" for sid in resolutions.keys() - sessions.keys()]
        listed = {_s(f[b"session_id"]): _s(sid) for sid, f in read_all(self._client, keys.lot_keys(lot_id)["review"])
                  if b"session_id" in f}
        for sid, s in sessions.items():
            if s.get("review_entry") != listed.get(sid):
                problems.append(f"session {sid} is in review as {s.get('review_entry')} but listed as {listed.get(sid)}")
        problems += [f"review entry for unknown session {sid}" for sid in listed.keys() - sessions.keys()]
        return problems

    def ledger(self, lot_id: str) -> list[dict]:
        return [{_s(k): _s(v) for k, v in f.items()} for _, f in read_all(self._client, keys.lot_keys(lot_id)["ledger"])]

    # ------------------------------------------------------------ plates
    def bind(self, b: Binding) -> Binding:
        """Bind the plate to the user's payment agreement, atomically (``bind_plate.lua``); a plate
        bound to another user keeps its binding (the one returned: the caller compares). The same
        user binding again replaces its token."""
        held = self._scripts("bind_plate", [keys.plate_binding(b.plate)], list(b))
        return Binding(*map(_s, held))

    def binding(self, plate: str) -> Binding | None:
        """The plate's binding; None if unbound, or if a bind left it half written (an older
        engine bound in two commands: a lost connection between them left only the user id)."""
        raw = {_s(k): _s(v) for k, v in self._client.hgetall(keys.plate_binding(plate)).items()}
        return Binding(**raw) if raw.keys() == set(Binding._fields) else None

    def unbind(self, plate: str) -> bool:
        return bool(self._client.delete(keys.plate_binding(plate)))
