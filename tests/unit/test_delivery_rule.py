"""The delivery rule's invariants over random histories of one user (the script is compared with
it in tests/integration/test_delivery_rule_script.py)."""

from hypothesis import given, strategies as st

from district_engine.campaigns.delivery_rule import NO_STATE, Candidate, DeliveryRule, Outcome, decide

rules = st.builds(DeliveryRule, st.sampled_from([0, 1_000, 5_000]), st.integers(0, 4), st.sampled_from([2_000, 5_000]))
MAX_PER_USER = {"c0": 1, "c1": 2, "c2": 3}
candidate = st.builds(lambda cid, found_ms, request_id: Candidate(cid, MAX_PER_USER[cid], found_ms, request_id),
                      st.sampled_from(sorted(MAX_PER_USER)), st.none() | st.integers(0, 20_000),
                      st.sampled_from(["", "r1", "r2"]))
calls = st.lists(st.tuples(st.sampled_from([0, 1_000, 2_000, 5_000]), st.lists(candidate, max_size=4),
                           st.none() | st.integers(0, 20_000)), max_size=12)


def _run(rule, history):
    state, now, out = NO_STATE, 0, []
    for dt_ms, candidates, last_position_ms in history:
        now += dt_ms
        state, decisions = decide(state, candidates, now, rule, last_position_ms)
        out.append((now, candidates, decisions))
    return state, out


@given(rules, calls)
def test_no_window_holds_more_pushes_than_the_cap_and_each_delivery_counts_once(rule, history):
    state, out = _run(rule, history)
    pushes = [now for now, _, decisions in out for d in decisions if d.new and d.outcome is Outcome.PUSHED]
    assert all(sum(1 for t in pushes if s <= t < s + rule.cap_window_ms) <= rule.pushes_per_window for s in pushes)
    for cid, g in state.campaigns.items():
        assert g.times == sum(1 for _, cs, ds in out for c, d in zip(cs, ds) if c.campaign_id == cid and d.new)


@given(rules, calls)
def test_entries_deliver_at_most_the_max_per_user_and_broadcasts_once_ever(rule, history):
    _, out = _run(rule, history)
    entries = [c.campaign_id for _, cs, ds in out for c, d in zip(cs, ds) if d.new and c.found_ms is None]
    assert all(entries.count(cid) <= m for cid, m in MAX_PER_USER.items())
    by_broadcast = [c.campaign_id for _, cs, ds in out for c, d in zip(cs, ds) if d.new and c.found_ms is not None]
    assert len(by_broadcast) == len(set(by_broadcast))


@given(rules, calls, st.lists(candidate, min_size=1, max_size=4), st.sampled_from(["r1", "r2"]))
def test_a_request_sent_again_is_answered_delivered_and_changes_nothing_but_when_seen(rule, history, candidates,
                                                                                       request_id):
    state, out = _run(rule, history)
    now = out[-1][0] if out else 0
    candidates = [c._replace(request_id=request_id) for c in candidates]
    after, first = decide(state, candidates, now, rule, now)
    again, second = decide(after, candidates, now + 1, rule, now)
    delivered = {c.campaign_id for c, d in zip(candidates, first) if d.new}
    for c, d in zip(candidates, second):
        if c.campaign_id in delivered:
            assert d.outcome is Outcome.PUSHED and not d.new
    for cid in delivered:
        assert again.campaigns[cid]._replace(seen_ms=0) == after.campaigns[cid]._replace(seen_ms=0)
