"""Push event payloads: the template maker gives the same JSON as serializing each event whole."""

import json
from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from helpers import acceptable_text
from district_engine.campaigns.model import Campaign
from district_engine.delivery import events
from district_engine.delivery.events import EVENT_TYPE, offer_events
from district_engine.event_format import TEMPLATE_SEP, EventIds
from district_engine.identity import channel_of, unscoped_user

T0 = datetime(2026, 11, 11, 12, tzinfo=timezone.utc)
text = acceptable_text().filter(str.strip)


@given(title=text, user_id=text | st.builds(lambda c, u: f"ch_{c}:{u}", st.text(max_size=8).filter(lambda c: ":" not in c), text),
       district_name=st.text(max_size=30), distance_m=st.floats(0, 3000))
def test_each_event_is_the_json_of_its_fields(title, user_id, district_name, distance_m):
    c = Campaign(id="cmp_1", owner="op", district_id="d1", kind="campaign", title=title, body="body \u2028 \"x\"",
                 starts_at=T0, ends_at=T0 + timedelta(hours=2))
    now = T0 + timedelta(minutes=5)
    got = json.loads(offer_events(c, district_name, "entered")("evt_9", user_id, distance_m, now))
    channel = {"channel_id": channel_of(user_id)} if channel_of(user_id) else {}
    assert got == {"id": "evt_9", "type": EVENT_TYPE, "timestamp": now.isoformat(),
                   "data": channel | {"user_id": unscoped_user(user_id), "reason": "entered", "campaign_id": "cmp_1", "district_id": "d1",
                            "district_name": district_name, "kind": "campaign", "title": title,
                            "body": "body \u2028 \"x\"", "distance_m": round(distance_m, 1),
                            "starts_at": T0.isoformat(), "ends_at": (T0 + timedelta(hours=2)).isoformat()}}


def test_event_ids_are_unique_across_makers():
    a, b = EventIds(), EventIds()
    ids = [a() for _ in range(1000)] + [b() for _ in range(1000)]
    assert len(set(ids)) == 2000 and all(i.startswith("evt_") for i in ids)


def test_a_field_that_contains_the_templates_hole_makes_it_draw_another(monkeypatch):
    import district_engine.fragments as fragments

    draws = iter([b"\x11" * 8] * 4 + [b"\x22" * 8] * 4)
    monkeypatch.setattr(fragments.os, "urandom", lambda n: next(draws))
    c = Campaign(id="cmp_1", owner="op", district_id="d1", kind="campaign", title="t", body="b",
                 starts_at=T0, ends_at=T0 + timedelta(hours=2))
    clash = "hole" + "11" * 8 + "0"  # what the first draw's first hole is
    got = json.loads(offer_events(c, clash, "entered")("evt_1", "u1", 12.0, T0))
    assert got["data"]["district_name"] == clash and got["data"]["user_id"] == "u1"


# Text a splice could trip on: JSON's syntax, escapes, line separators JavaScript once refused,
# characters beyond the BMP, the template's separator, the hole's look.
HOSTILE = st.sampled_from(['"quoted"', "back\\slash\\", 'end\\"', "line\u2028sep\u2029para", "😀 𐍈 \U0001f9e7", "\x1f", "hole",
                           "hole" + "0" * 17, '","id":"evt_x"', "1234567.5", ",\"distance_m\":1234567.5,", "x" * 200])
TITLE = (acceptable_text(max_size=200) | HOSTILE).filter(lambda t: t.strip() and "\x1f" not in t)
BODY = (acceptable_text(max_size=400) | HOSTILE | st.just("line\nbreak\ttab" + "b" * 3980)).filter(
    lambda t: t.strip() and "\x1f" not in t)
USER = text | st.builds(lambda c, u: f"ch_{c}:{u}", st.sampled_from(["1", "x\"y", "😀"]), text)


@given(title=TITLE, body=BODY, district_name=st.text(max_size=60) | HOSTILE, user_id=USER,
       distance_m=st.none() | st.floats(0, 3000), reason=st.sampled_from(["entered", "broadcast", "member"]),
       kind=st.sampled_from(["campaign", "red_envelope", "parking", "members"]))
def test_a_rendered_template_is_the_full_event_serialized_whole(title, body, district_name, user_id, distance_m,
                                                                reason, kind):
    extra = {"campaign": {}, "members": {"audience": "members"}, "parking": {"parking": {"lot_id": None}},
             "red_envelope": {"rain": {"total_cents": 10_000, "packets": 10}}}[kind]
    c = Campaign(id="cmp_1", owner="op", district_id="d1", kind="campaign" if kind == "members" else kind,
                 title=title, body=body, starts_at=T0, ends_at=T0 + timedelta(hours=2), **extra)
    now = T0 + timedelta(minutes=5)
    template = events.offer_template(c, district_name, reason)
    assert template.count(TEMPLATE_SEP) == 4  # the five pieces the delivery script reads
    channel = {"channel_id": channel_of(user_id)} if channel_of(user_id) else {}
    whole = {"id": "evt_9", "type": EVENT_TYPE, "timestamp": now.isoformat(),
             "data": {"user_id": unscoped_user(user_id)} | channel | {
                 "reason": reason, "campaign_id": "cmp_1", "district_id": "d1", "district_name": district_name,
                 "kind": c.kind.value, "title": title, "body": body,
                 "distance_m": None if distance_m is None else round(distance_m, 1),
                 "starts_at": T0.isoformat(), "ends_at": (T0 + timedelta(hours=2)).isoformat()}}
    assert events.render(template, "evt_9", user_id, distance_m, now.isoformat()) == json.dumps(
        whole, ensure_ascii=False, separators=(",", ":"))
