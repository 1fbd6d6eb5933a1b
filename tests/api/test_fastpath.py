"""The fast path (api/fastpath.py): its answers are the bytes the plain serializers write, and the
same routes served by the framework answer the same."""

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings, strategies as st

from api.fastpath import FastPath, OfferJson, locations_json
from api.main import create_app
from api.routers.channel import offer_public, offer_public_json
from api.schemas.core import LocationOut, OfferPublic
from conftest import ADMIN, NEAR_SANLITUN, bearer, campaign_body, make_channel
from district_engine.campaigns.model import Campaign
from district_engine.campaigns.offers import Offer
from district_engine.settings import Settings
from helpers import acceptable_text, fast_route_app

T0 = datetime(2026, 11, 11, 12, tzinfo=timezone(timedelta(hours=8)))
# Text a splice could trip on: JSON's syntax and escapes, line separators, characters beyond the
# BMP, the old sentinel distance and the hole's look.
HOSTILE = ['"quoted"', "back\\slash\\", 'end\\"', "line\u2028sep\u2029para", "😀 𐍈 \U0001f9e7", "1234567.5",
           ',"distance_m":1234567.5,', '","distance_m":0,"', "hole", "hole" + "0" * 17, '"hole00"', "t" * 200]
TITLE = acceptable_text(max_size=200).filter(str.strip) | st.sampled_from(HOSTILE)
BODY = st.sampled_from(HOSTILE + ["line\nbreak\ttab", "b" * 4000]) | acceptable_text(max_size=300).filter(
    str.strip)
KINDS = {"campaign": {}, "members-only": {"audience": "members"},
         "red_envelope": {"kind": "red_envelope", "rain": {"total_cents": 10_000, "packets": 10}},
         "parking": {"kind": "parking", "parking": {"lot_id": "lot_1", "free_minutes": 30}},
         "parking, every lot": {"kind": "parking", "parking": {"lot_id": None}}}


def _campaign(kind: str, title: str, body: str, cid: str = "cmp_1") -> Campaign:
    return Campaign(**{"id": cid, "owner": "op", "district_id": "d1", "kind": "campaign", "title": title, "body": body,
                       "starts_at": T0, "ends_at": T0 + timedelta(hours=2)} | KINDS[kind])


def _engine(name: str):
    """What the serializers read of the channel service: district names and live free spaces."""
    return SimpleNamespace(district_name=lambda d: name, free_spaces=lambda d, lot: 7)


def _expected(c: Campaign, name: str, distance_m: float) -> str:
    parking = {"lot_id": c.parking["lot_id"], "free_spaces": 7} if c.parking else {}
    return OfferPublic(campaign_id=c.id, district_id=c.district_id, district_name=name, kind=c.kind.value,
                       title=c.title, body=c.body, distance_m=round(distance_m, 1), starts_at=c.starts_at,
                       ends_at=c.ends_at, **parking).model_dump_json()


@settings(max_examples=300)
@given(kind=st.sampled_from(sorted(KINDS)), title=TITLE, body=BODY, name=st.text(max_size=80) | st.sampled_from(HOSTILE),
       distances=st.lists(st.floats(0, 3000), min_size=1, max_size=3),
       untrusted=st.none() | st.sampled_from(["mocked", "jump"]) | st.text(max_size=20))
def test_the_fast_paths_json_is_the_plain_serializers_bytes(kind, title, body, name, distances, untrusted):
    c, engine, offer_json = _campaign(kind, title, body), _engine(name), OfferJson(16)
    got = [offer_public_json(Offer(c, d), engine, offer_json) for d in distances]  # the second from the pieces
    assert got == [_expected(c, name, d) for d in distances]
    assert got == [offer_public(Offer(c, d), engine).model_dump_json() for d in distances]  # what the feed writes
    assert len(offer_json) == (0 if c.parking else 1)  # live free spaces: never kept
    plain = LocationOut(new_offers=[offer_public(Offer(c, d), engine) for d in distances], untrusted=untrusted)
    absent = {"untrusted"} if untrusted is None else None  # the contract leaves it out when not set
    assert locations_json(got, untrusted) == plain.model_dump_json(exclude=absent)
    assert locations_json([], None) == LocationOut(new_offers=[]).model_dump_json(exclude={"untrusted"})


def test_the_pieces_are_made_again_for_a_changed_campaign_or_district_and_kept_for_the_last_used():
    offer_json = OfferJson(2)
    a, b, c = (_campaign("campaign", f"T{i}", "b", cid=f"cmp_{i}") for i in range(3))
    assert offer_public_json(Offer(a, 1.0), _engine("Old"), offer_json) == _expected(a, "Old", 1.0)
    assert offer_public_json(Offer(a, 2.0), _engine("New"), offer_json) == _expected(a, "New", 2.0)
    edited = _campaign("campaign", "Edited", "b", cid="cmp_0")  # a changed campaign: a new object
    assert offer_public_json(Offer(edited, 3.0), _engine("New"), offer_json) == _expected(edited, "New", 3.0)
    for x in (b, c, b):
        offer_public_json(Offer(x, 4.0), _engine("New"), offer_json)
    assert len(offer_json) == 2 and set(offer_json._pieces) == {"cmp_1", "cmp_2"}
    assert offer_public_json(Offer(a, 5.0), _engine("New"), OfferJson(0)) == _expected(a, "New", 5.0)


def test_a_title_that_is_the_hole_draws_another(monkeypatch):
    import district_engine.fragments as fragments

    draws = iter([b"\x11" * 8, b"\x22" * 8])
    monkeypatch.setattr(fragments.os, "urandom", lambda n: next(draws))
    c = _campaign("campaign", "hole" + "11" * 8 + "0", "b")
    assert offer_public_json(Offer(c, 12.0), _engine("D"), OfferJson(4)) == _expected(c, "D", 12.0)


def _call(fastpath: FastPath, app, path: str, body: bytes):
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "app": app, "query_string": b""}
    route = fastpath.route(scope)
    assert route is not None
    asyncio.run(fastpath.serve(route, scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), scope["route"].path


def test_a_fast_route_is_served_past_the_framework_and_its_errors_come_from_the_one_table():
    app = fast_route_app()
    fastpath = FastPath()
    fastpath.add(app.routes)
    assert list(fastpath.routes) == [("POST", "/fast")]
    assert fastpath.route({"method": "POST", "path": "/other"}) is None
    assert _call(fastpath, app, "/fast", b"hi") == (200, b"fast:hi", "/fast")
    # No handler installed on this app: the answer is api/errors.py's, as the API's.
    assert _call(fastpath, app, "/fast", b"bad") == (
        422, b'{"error":{"code":"invalid_input","message":"bad","field":"x"}}', "/fast")
    with pytest.raises(RuntimeError, match="unhandled"):  # to the server's 500, as any route's
        _call(fastpath, app, "/fast", b"boom")
    off = FastPath(enabled=False)
    off.add(app.routes)
    assert off.routes == {}


def test_the_fast_routes_as_plain_routes_answer_the_same(app_client, redis_client, sanlitun):
    tricky = 'Sale ,"distance_m":1234567.5, "quoted" \u2028 三里屯 \\ end 😀'
    assert app_client.post("/v1/campaigns", json=campaign_body(title=tricky, body='b"ody\n\\'),
                           headers=bearer(sanlitun)).status_code == 201
    city = make_channel(app_client)
    # The same app with the fast routes left to the framework; started now, its view has the campaign.
    with TestClient(create_app(Settings(admin_token=ADMIN, worker=False, direct_routes=False),
                               client=redis_client)) as plain_client:
        _compare(app_client, plain_client, city, sanlitun)


def _compare(app_client, plain_client, city, sanlitun):
    lat, lng = NEAR_SANLITUN
    requests = [  # (path, body, headers); each pair of answers for its own user
        ("/v1/locations", {"user_id": "{}", "lat": lat, "lng": lng}, bearer(city["api_key"])),
        ("/v1/locations", {"user_id": "{}", "lat": lat, "lng": lng, "mocked": True}, bearer(city["api_key"])),
        ("/v1/locations", {"user_id": "{}", "lat": lat, "lng": lng}, {}),
        ("/v1/locations", {"user_id": "{}", "lat": lat, "lng": lng}, bearer(sanlitun)),
        ("/v1/locations", {"user_id": "{}", "lat": 91, "lng": lng}, bearer(city["api_key"])),
        ("/v1/locations", {"user_id": "{}", "lat": lat, "lng": lng, "extra": 1}, bearer(city["api_key"])),
        ("/v1/orders", {"order_id": "{}", "channel_id": city["id"], "user_id": "u", "amount_cents": 100,
                        "sales_channel": "store"}, bearer(sanlitun)),
        ("/v1/orders", {"order_id": "{}", "amount_cents": "100"}, bearer(sanlitun)),
        ("/v1/orders", {"order_id": "{}"}, bearer(city["api_key"])),
    ]
    for i, (path, body, headers) in enumerate(requests):
        answers = []
        for who, client in (("fast", app_client), ("plain", plain_client)):
            sent = {k: v.format(f"{who}-{i}") if k in ("user_id", "order_id") else v for k, v in body.items()}
            r = client.post(path, json=sent, headers=headers)
            answers.append((r.status_code, r.headers["content-type"],
                            r.content.replace(f"{who}-{i}".encode(), b"ID")))
        assert answers[0] == answers[1], (path, body, answers)
        if i == 0:
            assert b"1234567.5" in answers[0][2] and answers[0][0] == 200  # the offer is in both answers
    fast = app_client.post("/v1/locations", content=b"{", headers=bearer(city["api_key"]))
    plain = plain_client.post("/v1/locations", content=b"{", headers=bearer(city["api_key"]))
    assert (fast.status_code, fast.content) == (plain.status_code, plain.content)
    assert fast.status_code == 422 and fast.json()["error"]["field"] == "body"
