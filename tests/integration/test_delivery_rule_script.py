"""The delivery rule in Redis (deliver_offers.lua, through DeliveryStore) against its pure reference
(campaigns/delivery_rule.py): random histories of a few users and campaigns (location updates in
and out of reach at increasing times, requests sent again, broadcasts that find users where they
are or where they were), under random gaps and caps, decided step by step by both."""

import itertools
import json
import time
from collections import Counter

import h3.api.basic_int as h3i
from hypothesis import HealthCheck, example, given, settings, strategies as st

from district_engine.campaigns.delivery_rule import NO_STATE, Candidate, DeliveryRule, Outcome, decide
from district_engine.delivery.events import user_json
from district_engine.event_format import TEMPLATE_SEP
from district_engine.store.deliveries import POSITION_RES, Delivery, DeliveryStore, Offering, Position

USERS, CAMPAIGNS = 3, 3
LAT, LNG = 39.93, 116.45  # everyone is at one place: the jump rule is test_trust_script.py's
CELL = h3i.latlng_to_cell(LAT, LNG, POSITION_RES)
_histories = itertools.count()

# A location update of one user: the campaigns in reach, in order (one twice: two updates of the
# user in one batch), and its request id ("" none; a repeated one is the same request sent again).
update = st.tuples(st.lists(st.integers(0, CAMPAIGNS - 1), max_size=4), st.sampled_from(["", "r1", "r2"]))
updates = st.tuples(st.just("updates"), st.lists(st.none() | update, min_size=USERS, max_size=USERS))
# A broadcast of one campaign to some users, found at their last position or an older one.
broadcast = st.tuples(st.just("broadcast"), st.integers(0, CAMPAIGNS - 1),
                      st.lists(st.sampled_from(["last", "older", None]), min_size=USERS, max_size=USERS))
# Steps on a coarse clock, so that times land exactly on a gap or a cap window as often as not.
history = st.lists(st.tuples(st.sampled_from([0, 1_000, 2_000, 5_000]), updates | broadcast), min_size=1, max_size=14)


_ONLY_U0 = [None, None]


# Two paths random histories seldom take: a request sent again after its user was given the
# offer again by another (it is still the request that delivered it), and a request sent again
# after the gap (it counts as being seen in reach: no re-entry right after).
@example(gap_ms=1_000, cap=5, cap_window_ms=2_000, max_per_user=[2, 2, 2],
         steps=[(0, ("updates", [([0], "r1"), *_ONLY_U0])), (2_000, ("updates", [([0], ""), *_ONLY_U0])),
                (1_000, ("updates", [([0], "r1"), *_ONLY_U0]))])
@example(gap_ms=1_000, cap=5, cap_window_ms=2_000, max_per_user=[2, 2, 2],
         steps=[(0, ("updates", [([0], "r1"), *_ONLY_U0])), (2_000, ("updates", [([0], "r1"), *_ONLY_U0])),
                (0, ("updates", [([0], ""), *_ONLY_U0]))])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gap_ms=st.sampled_from([0, 1_000, 5_000]), cap=st.sampled_from([0, 1, 2, 5]),
       cap_window_ms=st.sampled_from([2_000, 5_000]), max_per_user=st.lists(st.integers(0, 3), min_size=CAMPAIGNS,
                                                                             max_size=CAMPAIGNS),
       steps=history)
def test_the_script_decides_every_step_of_any_history_as_the_reference(redis_client, gap_ms, cap, cap_window_ms,
                                                                        max_per_user, steps):
    rule = DeliveryRule(gap_ms, cap, cap_window_ms)
    store = DeliveryStore(redis_client, user_json=user_json, reentry_gap_ms=gap_ms, pushes_per_window=cap,
                          cap_window_ms=cap_window_ms)
    n = next(_histories)
    users = [f"h{n}-u{i}" for i in range(USERS)]
    cids = [f"h{n}-c{j}" for j in range(CAMPAIGNS)]
    keep_until_ms = int(time.time() * 1000) + 3_600_000  # an expiry: real time
    offerings = [Offering(cid, "op", m, keep_until_ms, TEMPLATE_SEP.join(('{"id":', f',"c":"{cid}","t":', ',"u":',
                                                                          ',"d":', "}")))
                 for cid, m in zip(cids, max_per_user)]
    state = dict.fromkeys(users, NO_STATE)
    last_position_ms: dict[str, int] = {}
    pushed: dict[str, list[str]] = {u: [] for u in users}  # campaigns pushed to each user, in order
    counted: Counter = Counter()  # (campaign, "p" or "h")
    now = int(time.time() * 1000)
    for dt_ms, step in steps:
        now += dt_ms
        items, asked, positions = [], {}, []
        if step[0] == "updates":
            for user, u in zip(users, step[1]):
                if u is not None:
                    campaigns, request_id = u
                    asked[user] = [Candidate(cids[j], max_per_user[j], None, request_id) for j in campaigns]
                    items += [Delivery(user, offerings[j], 10.0, None, request_id) for j in campaigns]
                    positions.append(Position(user, LAT, LNG, CELL))
        else:
            _, j, found = step
            for user, where in zip(users, found):
                if where is not None:
                    at = last_position_ms.get(user, now - 1) - (where == "older")
                    asked[user] = [Candidate(cids[j], max_per_user[j], at)]
                    items.append(Delivery(user, offerings[j], 10.0, at))
        codes, jumped = store.deliver_placed(items, now, positions)
        assert not jumped
        expected = []
        for user, candidates in asked.items():
            state[user], decisions = decide(state[user], candidates, now, rule, last_position_ms.get(user))
            expected += [d.outcome for d in decisions]
            for c, d in zip(candidates, decisions):
                if d.new:
                    counted[c.campaign_id, "p" if d.outcome is Outcome.PUSHED else "h"] += 1
                    if d.outcome is Outcome.PUSHED:
                        pushed[user].append(c.campaign_id)
        assert codes == expected  # items are grouped by user, in order, as asked was built
        last_position_ms.update((p.user_id, now) for p in positions)

    for user in users:
        assert store.gifts(user) == {c: g.given_ms for c, g in state[user].campaigns.items() if g.given_ms}
        assert [json.loads(p)["c"] for _, p in store.events_after(user, None)] == pushed[user]
    for cid in cids:
        delivered = sum(s.campaigns[cid].times for s in state.values() if cid in s.campaigns)
        reached = sum(1 for s in state.values() if cid in s.campaigns and s.campaigns[cid].times)
        assert store.counts(cid) == (delivered, reached, counted[cid, "p"], counted[cid, "h"])
