"""Push events: what a webhook receiver and a server-sent-event client get for one offer to one
user. Pure: values in, a JSON string out. The shape follows Standard Webhooks' recommendation
(``type``, ``timestamp``, ``data``); coordinates are not included (the user's position never leaves
the engine).

A campaign's events differ only in four values, so each campaign's event is serialized once as a
template: its JSON in five pieces around the event id, the timestamp, the user (``user_json``: the
channel's user id, then ``channel_id``) and the distance (a JSON number), made by the one fragment
serializer (district_engine/fragments.py) and joined by ``TEMPLATE_SEP`` (``district_engine/event_format.py``,
with what else the template's filler shares). ``render`` fills one in; the delivery script
(``store/lua/deliver_offers.lua``) takes the template as it is and does the same in Redis, only for
the offers it pushes (its store is given ``user_json``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Callable

from district_engine.campaigns.model import Campaign
from district_engine.event_format import TEMPLATE_SEP, distance_json
from district_engine.fragments import split_at_holes
from district_engine.identity.principals import channel_of, unscoped_user

__all__ = ["EVENT_TYPE", "offer_template", "render", "offer_events", "user_json"]

EVENT_TYPE = "offer.delivered"


def offer_template(campaign: Campaign, district_name: str, reason: str) -> str:
    """The campaign's event, serialized once with holes (``fragments.split_at_holes``), its pieces
    joined by ``TEMPLATE_SEP``. ``reason`` is "entered" (the user came into reach), "broadcast" (the
    campaign went live with the user in reach) or "member" (a members-only campaign, for a member of
    its store's guides)."""
    c = campaign

    def dump(holes):
        event_id, timestamp, user, distance = holes
        return json.dumps({
            "id": event_id, "type": EVENT_TYPE, "timestamp": timestamp,
            "data": {"user_id": user, "reason": reason, "campaign_id": c.id, "district_id": c.district_id,
                     "district_name": district_name, "kind": c.kind.value, "title": c.title, "body": c.body,
                     "distance_m": distance, "starts_at": c.starts_at.isoformat(), "ends_at": c.ends_at.isoformat()},
        }, ensure_ascii=False, separators=(",", ":"))

    return TEMPLATE_SEP.join(split_at_holes(dump, 4))


def user_json(user_id: str) -> str:
    """What fills an event's user hole for a (scoped) user: its id as its channel knows it, then
    the channel's id: ``"u-1","channel_id":"ch_..."`` (a user without a channel: its id alone)."""
    channel = channel_of(user_id)
    user = json.dumps(unscoped_user(user_id), ensure_ascii=False)
    return f'{user},"channel_id":{json.dumps(channel, ensure_ascii=False)}' if channel else user


def render(template: str, event_id: str, user_id: str, distance_m: float, timestamp: str) -> str:
    """One event as compact JSON; ``timestamp`` is RFC 3339."""
    a, b, c, d, e = template.split(TEMPLATE_SEP)
    return (f"{a}{json.dumps(event_id)}{b}{json.dumps(timestamp)}{c}{user_json(user_id)}{d}"
            f"{distance_json(distance_m)}{e}")


def offer_events(campaign: Campaign, district_name: str, reason: str) -> Callable[[str, str, float, datetime], str]:
    """A maker of this campaign's events: ``make(event_id, user_id, distance_m, now)`` -> compact JSON."""
    template = offer_template(campaign, district_name, reason)
    return lambda event_id, user_id, distance_m, now: render(template, event_id, user_id, distance_m, now.isoformat())
