"""The demo a first start shows: an operator, the five demo districts, their parking lots and a few
live campaigns."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import json

from district_engine.districts.geodata import load_demo_districts, load_demo_lots
from district_engine.engine import Engine
from district_engine.errors import ConflictError
from district_engine.store import keys
from district_engine.store.channels import ChannelStore

__all__ = ["seed_demo", "DEMO_CAMPAIGNS", "DEMO_OPERATOR_KEY", "DEMO_CHANNEL_KEY"]

DEMO_OPERATOR_KEY = "demo_operator_key"
DEMO_CHANNEL_KEY = "demo_channel_key"

DEMO_CAMPAIGNS = {
    "sanlitun-taikoo-li": ("campaign", "Double 11 night at Sanlitun", "Up to 50% off in Taikoo Li South and North until midnight."),
    "indigo-beijing": ("campaign", "INDIGO riverside market", "Weekend market by the Ba River: food, crafts, music."),
    "hkri-taikoo-hui": ("campaign", "HKRI Taikoo Hui winter lights", "Evening light show on the piazza, 18:00-22:00."),
    "taikoo-hui-guangzhou": ("parking", "2 free hours of parking", "Spend 200 yuan at Taikoo Hui: the shop validates 2 free hours of parking."),
    "sino-ocean-taikoo-li": ("campaign", "Taikoo Li Chengdu tea festival", "Tea tastings in the lanes around Daci Temple."),
}


def seed_demo(engine: Engine, data_dir: Path) -> str | None:
    """Load the demo once per store; returns the demo operator's API key the first time, else None.

    The key is also written to ``data_dir/demo_operator_key``, the lots' gate webhook secrets to
    ``data_dir/demo_lot_secrets.json``, and a demo channel's key and token secret (what the city
    channel's backend would hold) to ``data_dir/demo_channel_key`` and ``demo_channel.json`` (all
    mode 600), so that they can be found again.
    """
    if not engine.client.set(keys.demo_seeded(), "1", nx=True):
        return None
    operator, api_key = engine.operators.create("Demo operator (Swire Properties)")
    channel, channel_key, token_secret = ChannelStore(engine.client).create("Demo city channel")
    now = engine.clock()
    placed = set()
    for district in load_demo_districts():
        try:
            engine.put_district(district, operator.id)
            placed.add(district.id)
        except ConflictError:  # the id is another operator's already: the demo leaves that one out
            continue
    lot_secrets = {}
    for spec in load_demo_lots():
        if spec.district_id not in placed:
            continue
        lot, lot_secrets[spec.id] = engine.create_lot(operator.id, spec.district_id, spec.lat, spec.lng, lot_id=spec.id,
                                                      name=spec.name, name_zh=spec.name_zh, capacity=spec.capacity,
                                                      tariff=spec.tariff)
    lots_of = {spec.district_id: spec.id for spec in reversed(load_demo_lots())}
    for district_id, (kind, title, body) in DEMO_CAMPAIGNS.items():
        if district_id not in placed:
            continue
        extra = {"lot_id": lots_of[district_id]} if kind == "parking" else {}
        engine.create_campaign(operator.id, district_id=district_id, kind=kind, title=title, body=body,
                               starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(days=30), **extra)
    _private(Path(data_dir) / DEMO_OPERATOR_KEY, api_key + "\n")
    _private(Path(data_dir) / "demo_lot_secrets.json", json.dumps(lot_secrets, indent=1) + "\n")
    _private(Path(data_dir) / DEMO_CHANNEL_KEY, channel_key + "\n")
    _private(Path(data_dir) / "demo_channel.json",
             json.dumps({"id": channel.id, "api_key": channel_key, "token_secret": token_secret}, indent=1) + "\n")
    return api_key


def _private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
