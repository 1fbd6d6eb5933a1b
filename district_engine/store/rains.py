"""Red-envelope rains in Redis: a pre-split, shuffled pool; grabs as one atomic script each; a
ledger stream of every money move from which every figure can be recomputed (``audit``).

Invariant, at every moment: won_cents + remaining_cents + refunded_cents == total_cents.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from district_engine.redenvelope.outcomes import GrabStatus
from district_engine.errors import ConflictError, NotFoundError, StoreUnavailableError
from district_engine.store import keys
from district_engine.store.streams import PAGE, read_all
from district_engine.store.scripts import Scripts

__all__ = ["RainStore", "Grab", "GrabStatus", "RainFigures"]

_PUSH_CHUNK = 5_000  # packets per script call


class Grab(NamedTuple):
    status: GrabStatus
    amount_cents: int


class RainFigures(NamedTuple):
    total_cents: int
    packets: int
    won_packets: int
    won_cents: int
    remaining_packets: int
    remaining_cents: int
    refunded_cents: int
    state: str  # live (or scheduled: the caller knows the window) | ended


def _grab_keys(rain_id: str) -> list[str]:
    k = keys.rain_keys(rain_id)
    return [k["meta"], k["packets"], k["winners"], k["ledger"], k["grabs"], k["grab_ids"]]


def _grab(rain_id: str, status, amount) -> Grab | NotFoundError:
    status = status.decode() if isinstance(status, bytes) else status
    if status == "no_rain":
        return NotFoundError(f"no rain {rain_id!r}", field="campaign_id")
    return Grab(GrabStatus(status), int(amount))


class RainStore:
    """Rains in Redis. With ``wait_replicas`` > 0, a grab answers only once that many replicas have
    it (WAIT, at most ``wait_ms``): a win announced is then never lost to a failover; one not
    acknowledged in time is StoreUnavailableError (503), and the retry gets the same answer."""

    def __init__(self, client, wait_replicas: int = 0, wait_ms: int = 200):
        self._client = client
        self._scripts = Scripts(client)
        self.wait_replicas = wait_replicas
        self.wait_ms = wait_ms

    def create(self, rain_id: str, amounts: np.ndarray, starts_ms: int, ends_ms: int, per_user_limit: int = 1) -> None:
        """Store a pool of shuffled packet amounts (int cents) for the window [starts_ms, ends_ms);
        each user may win up to ``per_user_limit`` packets. Safe to run again, and each step safe to
        resend: a step is a script that changes nothing the second time, the rain opens, funded
        once, only when every packet is in (``open_rain.lua``), and a rain already made with the
        same figures is left as it is (another rain of that id is a ConflictError). The amounts of
        a second run are not compared: the first run's stand."""
        k = keys.rain_keys(rain_id)
        amounts = np.asarray(amounts, dtype=np.int64)
        total = int(amounts.sum())
        opened = [str(v) for v in (starts_ms, ends_ms, total, amounts.size, per_user_limit)]
        if existing := self._client.hmget(k["meta"], "starts_ms", "ends_ms", "total_cents", "packets", "per_user_limit"):
            if existing == [v.encode() for v in opened]:  # made by an earlier try whose answer was lost
                return
            if any(existing):
                raise ConflictError(f"rain {rain_id!r} exists already", field="campaign_id")
        # What a failed attempt may have left (this rain does not exist yet: nothing else is there).
        self._client.delete(k["packets"], k["winners"], k["grabs"], k["ledger"], k["grab_ids"])
        calls = [("push_packets", [k["packets"], k["meta"]], [i, *amounts[i:i + _PUSH_CHUNK].tolist()])
                 for i in range(0, amounts.size, _PUSH_CHUNK)]
        for start in range(0, len(calls), 20):  # bounded round trips of 100,000 packets
            self._scripts.pipeline(calls[start:start + 20])
        opened = self._scripts("open_rain", [k["meta"], k["packets"], k["ledger"]],
                               [starts_ms, ends_ms, total, amounts.size, per_user_limit])
        if int(opened) < 0:
            raise StoreUnavailableError(f"rain {rain_id!r}: its packets did not all arrive; create it again")

    def grab(self, rain_id: str, user_id: str, now_ms: int, grab_id: str) -> Grab:
        result = self.grab_many([(rain_id, user_id, now_ms, grab_id)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def grab_many(self, grabs: list[tuple[str, str, int, str]]) -> list[Grab | NotFoundError | StoreUnavailableError]:
        """(rain id, user id, now ms, grab id) grabs: a Grab, or the error, for each. Without
        replicas to wait for, all in one round trip (each one script call, atomic on its rain);
        with them, one at a time, each answered once its replicas have it."""
        calls = [("grab_packet", _grab_keys(rain_id), [user_id, now_ms, grab_id])
                 for rain_id, user_id, now_ms, grab_id in grabs]
        if not self.wait_replicas:
            return [_grab(rain_id, status, amount) for (rain_id, *_), (status, amount)
                    in zip(grabs, self._scripts.pipeline(calls))]
        out = []
        for (rain_id, *_), (name, keys_, args) in zip(grabs, calls):
            (status, amount), acked = self._scripts.replicated(name, keys_, args, self.wait_replicas, self.wait_ms)
            result = _grab(rain_id, status, amount)
            if isinstance(result, Grab) and acked < self.wait_replicas:
                result = StoreUnavailableError(f"the grab is on {acked} of {self.wait_replicas} replicas so far; retry")
            out.append(result)
        return out

    def end(self, rain_id: str, now_ms: int, early: bool = False) -> int:
        """Refund what is left once the window is over (or now, ``early``); cents refunded by this call."""
        k = keys.rain_keys(rain_id)
        return int(self._scripts("end_rain", [k["meta"], k["packets"], k["ledger"]], [now_ms, int(early)]))

    def figures(self, rain_id: str) -> RainFigures:
        k = keys.rain_keys(rain_id)
        pipe = self._client.pipeline(transaction=False)
        pipe.hgetall(k["meta"])
        pipe.llen(k["packets"])
        meta, left = pipe.execute()
        if not meta:
            raise NotFoundError(f"no rain {rain_id!r}", field="campaign_id")
        m = {key.decode(): value.decode() for key, value in meta.items()}
        return RainFigures(int(m["total_cents"]), int(m["packets"]), int(m["won_packets"]), int(m["won_cents"]),
                           int(left), int(m["remaining_cents"]), int(m["refunded_cents"]),
                           "ended" if m["state"] == "ended" else "live")

    def audit(self, rain_id: str) -> list[str]:
        """Recompute every figure from the ledger and the winners; the mismatches found (empty: all reconcile)."""
        k = keys.rain_keys(rain_id)
        f = self.figures(rain_id)
        funded = won = refunded = grabs = 0
        per_user: dict[bytes, list[int]] = {}
        booked_grabs: list[bytes] = []
        for _, entry in read_all(self._client, k["ledger"]):
            kind, amount = entry[b"type"], int(entry[b"amount"])
            if kind == b"fund":
                funded += amount
            elif kind == b"grab":
                won += amount
                grabs += 1
                per_user.setdefault(entry[b"user"], []).append(amount)
                booked_grabs.append(entry.get(b"grab_id", b""))
            elif kind == b"refund":
                refunded += amount
        winners = {u: int(a) for u, a in self._client.hgetall(k["winners"]).items()}
        counts = {u: int(n) for u, n in self._client.hgetall(k["grabs"]).items()}
        limit = int(self._client.hget(k["meta"], "per_user_limit") or 1)
        packets_left = [int(x) for start in range(0, self._client.llen(k["packets"]), PAGE)
                        for x in self._client.lrange(k["packets"], start, start + PAGE - 1)]
        grab_ids = set(self._client.hkeys(k["grab_ids"]))
        problems = []
        checks = [
            ("funded == total_cents", funded, f.total_cents),
            ("ledger grabs == won_cents", won, f.won_cents),
            ("ledger grabs == won_packets", grabs, f.won_packets),
            ("ledger refunds == refunded_cents", refunded, f.refunded_cents),
            ("winners == won_cents", sum(winners.values()), f.won_cents),
            ("ledger per user == winners", {u: sum(a) for u, a in per_user.items()}, winners),
            ("ledger grabs per user == grabs", {u: len(a) for u, a in per_user.items()}, counts),
            ("no user over the per-user limit", max(counts.values(), default=0) <= limit, True),
            # A grab sent again must not be booked again: each winning grab id once in the ledger
            # (a ledger entry from before grab ids has none).
            ("each winning grab booked once", sorted(g for g in booked_grabs if g), sorted(grab_ids)),
            ("packets left == remaining_cents", sum(packets_left), f.remaining_cents),
            # Until the refund empties the list, it holds what was not won: a pool pushed twice
            # (a resent command) shows here even where the sums still balance.
            ("packets left == packets - won_packets", len(packets_left),
             0 if f.refunded_cents or f.state == "ended" else f.packets - f.won_packets),
            ("won + remaining + refunded == total", f.won_cents + f.remaining_cents + f.refunded_cents, f.total_cents),
            ("no amount is negative", min([f.won_cents, f.remaining_cents, f.refunded_cents, *packets_left,
                                           *winners.values()], default=0) >= 0, True),
        ]
        for name, got, want in checks:
            if got != want:
                problems.append(f"{name}: {got} != {want}")
        return problems
