"""The offer rules: who is offered what, by place (``rank_offers``) and by membership
(``member_campaigns``); and the campaign fields that decide it."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from district_engine.campaigns.model import Audience, Campaign
from district_engine.campaigns.offers import member_campaigns, rank_offers
from district_engine.errors import InvalidInputError

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
OPERATORS, DISTRICTS = ("op1", "op2"), ("d1", "d2", "d3")


def _campaign(i: int, owner: str, district_id: str, members: bool, live: bool = True, **over) -> Campaign:
    start = NOW - timedelta(hours=1) if live else NOW + timedelta(hours=1)
    fields = dict(id=f"cmp_{i:03d}", owner=owner, district_id=district_id, kind="campaign", title="t", body="b",
                  starts_at=start, ends_at=NOW + timedelta(hours=2 + i % 3),
                  audience=Audience.MEMBERS if members else None)
    return Campaign(**(fields | over))


campaigns_st = st.lists(st.tuples(st.sampled_from(OPERATORS), st.sampled_from(DISTRICTS), st.booleans(),
                                  st.booleans()), max_size=12).map(
    lambda rows: [_campaign(i, *row) for i, row in enumerate(rows)])
guides_st = st.dictionaries(st.sampled_from(OPERATORS), st.sampled_from(DISTRICTS))


@given(campaigns_st, guides_st)
def test_a_member_is_offered_exactly_the_live_members_campaigns_of_each_guides_store(campaigns, guide_districts):
    got = member_campaigns(guide_districts, campaigns, NOW)
    expected = {c.id for c in campaigns if c.audience is Audience.MEMBERS and c.starts_at <= NOW
                and guide_districts.get(c.owner) == c.district_id}
    assert {c.id for c in got} == expected and len(got) == len(expected)
    assert [(c.ends_at, c.id) for c in got] == sorted((c.ends_at, c.id) for c in got)


@given(campaigns_st, st.dictionaries(st.sampled_from(DISTRICTS), st.floats(0, 5000)))
def test_a_members_campaign_is_never_offered_by_place(campaigns, distances):
    by_district = {}
    for c in campaigns:
        by_district.setdefault(c.district_id, []).append(c)
    offers = rank_offers(distances.items(), by_district, NOW)
    assert all(o.campaign.audience is None for o in offers)
    assert {o.campaign.id for o in offers} == {c.id for c in campaigns if c.audience is None and c.starts_at <= NOW
                                               and c.district_id in distances and distances[c.district_id] <= 3000}


def test_no_guide_no_members_offer():
    assert member_campaigns({}, [_campaign(1, "op1", "d1", True)], NOW) == []


@pytest.mark.parametrize("over, field", [
    ({"audience": "members_only"}, "audience"),
    ({"audience": "members", "kind": "red_envelope", "rain": {"total_cents": 100, "packets": 2}}, "audience"),
    ({"audience": "members", "kind": "parking", "parking": {}}, "audience"),
    ({"attribution_days": 0}, "attribution_days"),
    ({"attribution_days": 91}, "attribution_days"),
    ({"attribution_days": True}, "attribution_days"),
    ({"attribution_days": 7.0}, "attribution_days"),
])
def test_audience_and_attribution_days_are_checked(over, field):
    with pytest.raises(InvalidInputError) as e:
        _campaign(1, "op1", "d1", False, **over)
    assert e.value.field == field


def test_a_stored_label_from_before_audiences_had_a_meaning_loads_as_everyone():
    stored = _campaign(1, "op1", "d1", False).to_dict() | {"audience": "members_only"}
    assert Campaign.from_dict(stored).audience is None
    members = _campaign(2, "op1", "d1", True)
    assert Campaign.from_dict(members.to_dict()) == members and members.to_dict()["audience"] == "members"
