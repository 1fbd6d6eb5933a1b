"""The demo's campaigns mean what they say: their words name only what their figures do."""

import re

import pytest

from district_engine.campaigns.model import MAX_WINDOW
from district_engine.demo import DEMO_CAMPAIGNS, DEMO_WINDOW
from district_engine.districts.geodata import load_demo_districts, load_demo_lots

# Words that tie a campaign to a day, a night or a season: untrue for most of a DEMO_WINDOW that
# starts whenever the demo is first started.
DATED = re.compile(r"\b(tonight|today|tomorrow|midnight|double 11|11\.11|christmas|new year|spring|summer|autumn|"
                   r"winter|festival)\b", re.IGNORECASE)


@pytest.mark.parametrize("district_id", sorted(DEMO_CAMPAIGNS))
def test_no_demo_campaign_names_a_day_its_window_does_not_keep_to(district_id):
    _, title, body, _ = DEMO_CAMPAIGNS[district_id]
    assert not DATED.search(f"{title} {body}"), (title, body)
    assert DEMO_WINDOW <= MAX_WINDOW


@pytest.mark.parametrize("district_id", sorted(d for d, c in DEMO_CAMPAIGNS.items() if c[0] == "parking"))
def test_a_demo_parking_offers_free_time_is_its_free_minutes(district_id):
    _, title, body, fields = DEMO_CAMPAIGNS[district_id]
    said = {int(n) * 60 for n in re.findall(r"(\d+) free hours?", f"{title} {body}", re.IGNORECASE)}
    said |= {int(n) for n in re.findall(r"(\d+) free minutes?", f"{title} {body}", re.IGNORECASE)}
    said |= {int(n) * 60 for n in re.findall(r"first (\d+) hours? (?:are|is) free", body, re.IGNORECASE)}
    assert said == {fields["free_minutes"]} and fields["free_minutes"] > 0, (title, body, fields)


def test_every_demo_campaign_is_for_a_demo_district_and_a_parking_one_has_a_lot():
    districts = {d.id for d in load_demo_districts()}
    lots = {lot.district_id for lot in load_demo_lots()}
    assert set(DEMO_CAMPAIGNS) == districts
    for district_id, (kind, _, _, fields) in DEMO_CAMPAIGNS.items():
        assert kind in ("campaign", "parking") and (kind == "parking") == ("free_minutes" in fields)
        assert kind != "parking" or district_id in lots
