"""The engine's in-memory view after a change is made from the one before (``View.changed``): it
must group campaigns by district exactly as a full build would, and keep an offering only while
neither its campaign nor its district changed."""

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from district_engine.campaigns.model import Campaign
from district_engine.districts.model import District
from district_engine.catalog import View
from district_engine.store.districts import StoredDistrict
from helpers import SANLITUN, square

T0 = datetime(2026, 11, 11, tzinfo=timezone.utc)
DISTRICTS = [f"d{i}" for i in range(4)]
GEOMETRY = square(*SANLITUN, 100)


def _stored(district_id: str, name: str) -> StoredDistrict:
    return StoredDistrict(District(id=district_id, name=name, city="Beijing", geometry=GEOMETRY), "op", "t0", name)


def _campaign(campaign_id: str, district_id: str, title: str) -> Campaign:
    return Campaign(id=campaign_id, owner="op", district_id=district_id, kind="campaign", title=title, body="b",
                    starts_at=T0, ends_at=T0 + timedelta(days=1))


class _Index:  # the view carries its index along; these tests are about the rest
    pass


# A change: a campaign (c0..c5) put at a district with a title, or deleted; or a district renamed.
changes = st.lists(st.one_of(
    st.tuples(st.just("put"), st.integers(0, 5), st.sampled_from(DISTRICTS), st.sampled_from(["A", "B"])),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("rename"), st.sampled_from(DISTRICTS), st.sampled_from(["N", "M"])),
), max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.lists(changes, min_size=1, max_size=4))
def test_a_view_made_from_changes_is_the_view_built_in_full(steps):
    stored = {d: _stored(d, "N") for d in DISTRICTS}
    campaigns = {f"c{i}": _campaign(f"c{i}", DISTRICTS[i % 4], "A") for i in range(4)}
    view = View(stored, campaigns, _Index())
    for step in steps:
        before = {cid: view.offering(c, "entered", 1000) for cid, c in view.campaigns.items()}
        stored, campaigns = dict(view.stored), dict(view.campaigns)
        districts, campaign_ids = set(), set()
        for change in step:
            if change[0] == "put":
                _, i, d, title = change
                campaigns[f"c{i}"] = _campaign(f"c{i}", d, title)
                campaign_ids.add(f"c{i}")
            elif change[0] == "delete":
                campaigns.pop(f"c{change[1]}", None)
                campaign_ids.add(f"c{change[1]}")
            else:
                _, d, name = change
                stored[d] = _stored(d, name)
                districts.add(d)
        view = view.changed(stored, campaigns, view.index, districts, campaign_ids)

        full = View(stored, campaigns, _Index())
        assert {d: sorted(cs, key=lambda c: c.id) for d, cs in view.by_district.items()} == \
               {d: sorted(cs, key=lambda c: c.id) for d, cs in full.by_district.items()}
        for cid, c in campaigns.items():
            offering = view.offering(c, "entered", 1000)
            assert offering == full.offering(c, "entered", 1000)  # the template has today's title and district name
            untouched = cid not in campaign_ids and c.district_id not in districts
            assert (offering is before.get(cid)) == untouched  # made again exactly when something it shows changed
