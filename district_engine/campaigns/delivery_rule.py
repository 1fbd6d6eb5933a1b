"""The delivery rule: which of the offers in a user's reach are delivered now, and which of those
are pushed. Pure: a user's state and one call's candidates in, the new state and a decision per
candidate out.

Per (user, campaign): an offer is delivered when the user enters its reach, the first time or
again after being out of it (not seen in it) for the re-entry gap, while it was delivered fewer
than the campaign's max per user. A delivery is pushed while the user had fewer than the window's
pushes (over all campaigns) in the last cap window; otherwise it is held back: delivered (never
offered again by the same entry, counted) but not pushed. A broadcast candidate is delivered only
to a user never given the campaign, and only if the user's last position is still the one the
broadcast found. A candidate carrying the id of the request that delivered its campaign is a
request sent again: answered as delivered, and nothing changes but the time it was seen.

``store/lua/deliver_offers.lua`` applies this rule in Redis, atomically with the events it
writes; tests/integration/test_delivery_rule_script.py runs random histories through both and
compares them.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Mapping, NamedTuple, Sequence

__all__ = ["Outcome", "DeliveryRule", "Given", "UserState", "NO_STATE", "Candidate", "Decision", "decide"]


class Outcome(IntEnum):
    NOT_DELIVERED = 0
    PUSHED = 1
    CAPPED = 2  # delivered, held back by the push cap
    MOVED = 3  # a broadcast's user is no longer where it was found


class DeliveryRule(NamedTuple):
    """The deployment's settings of the rule (ms, pushes)."""

    reentry_gap_ms: int
    pushes_per_window: int
    cap_window_ms: int


class Given(NamedTuple):
    """One user's state for one campaign: times delivered (pushed or held back), when last seen in
    its reach (ms), the request that last delivered it ("" for none) and when (ms)."""

    times: int
    seen_ms: int
    request_id: str = ""
    given_ms: int | None = None


class UserState(NamedTuple):
    """One user's state: per campaign id its ``Given``; the times (ms) of its pushes of the last
    cap window, oldest first."""

    campaigns: Mapping[str, Given]
    push_times_ms: tuple[int, ...] = ()


class Candidate(NamedTuple):
    """An offer of one campaign to the user: in reach now (an entry), or found by a broadcast
    (``found_ms``: the time of the position it found). ``request_id``: the location update's, ""
    for none."""

    campaign_id: str
    max_per_user: int
    found_ms: int | None = None
    request_id: str = ""


class Decision(NamedTuple):
    """What happened to one candidate; ``new``: delivered by this call (False for what is not
    delivered, and for an answer repeated to a request sent again)."""

    outcome: Outcome
    new: bool = False


NO_STATE = UserState({})  # a user never offered anything


def decide(state: UserState, candidates: Sequence[Candidate], now_ms: int, rule: DeliveryRule,
           last_position_ms: int | None = None) -> tuple[UserState, list[Decision]]:
    """Decide one call's ``candidates`` for a user, in order (two of one campaign: the second sees
    what the first did). ``last_position_ms``: when the user's last recorded position was taken,
    None when there is none; only broadcasts look at it."""
    campaigns = dict(state.campaigns)
    pushes = [t for t in state.push_times_ms if now_ms - t < rule.cap_window_ms]
    decisions = []
    for c in candidates:
        had = campaigns.get(c.campaign_id)
        times = had.times if had else 0
        if had is not None and c.request_id and had.request_id == c.request_id:
            campaigns[c.campaign_id] = had._replace(seen_ms=now_ms)
            decisions.append(Decision(Outcome.PUSHED))
            continue
        if c.found_ms is not None:
            if last_position_ms != c.found_ms:
                decisions.append(Decision(Outcome.MOVED))
                continue  # not seen in reach: the broadcast's position is not the user's
            deliver = times == 0
        else:
            deliver = times < c.max_per_user and (had is None or times == 0 or now_ms - had.seen_ms >= rule.reentry_gap_ms)
        if not deliver:
            campaigns[c.campaign_id] = had._replace(seen_ms=now_ms) if had else Given(0, now_ms)
            decisions.append(Decision(Outcome.NOT_DELIVERED))
            continue
        outcome = Outcome.CAPPED
        if len(pushes) < rule.pushes_per_window:
            pushes.append(now_ms)
            outcome = Outcome.PUSHED
        request_id = c.request_id or (had.request_id if had else "")
        campaigns[c.campaign_id] = Given(times + 1, now_ms, request_id, now_ms)
        decisions.append(Decision(outcome, new=True))
    return UserState(campaigns, tuple(pushes)), decisions
