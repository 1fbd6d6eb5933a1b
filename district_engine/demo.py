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

__all__ = ["seed_demo", "clear_demo", "demo_keys", "DEMO_CAMPAIGNS", "DEMO_FILES", "DEMO_OPERATOR_KEY",
           "DEMO_CHANNEL_KEY"]

DEMO_OPERATOR_KEY = "demo_operator_key"
DEMO_CHANNEL_KEY = "demo_channel_key"
DEMO_FILES = (DEMO_OPERATOR_KEY, DEMO_CHANNEL_KEY, "demo_channel.json", "demo_lot_secrets.json")
DEMO_WINDOW = timedelta(days=30)  # every demo campaign is live from the first start for this long

# district -> (kind, title, body, the kind's own fields). The words say only what the figures do:
# each runs for DEMO_WINDOW from the first start, so no text names a day or a season, and the
# parking offer's free hours are its free_minutes (tests/unit/test_demo.py checks both).
DEMO_CAMPAIGNS = {
    "sanlitun-taikoo-li": ("campaign", "Up to 50% off at Sanlitun Taikoo Li",
                           "Up to 50% off in selected shops of Taikoo Li South and North.", {}),
    "indigo-beijing": ("campaign", "INDIGO riverside market",
                       "Every weekend, a market by the Ba River: food, crafts, music.", {}),
    "hkri-taikoo-hui": ("campaign", "HKRI Taikoo Hui light show",
                        "Every evening, 18:00-22:00, a light show on the piazza.", {}),
    "taikoo-hui-guangzhou": ("parking", "2 free hours of parking",
                             "Park at Taikoo Hui: your first 2 hours are free.", {"free_minutes": 120}),
    "sino-ocean-taikoo-li": ("campaign", "Taikoo Li Chengdu tea tastings",
                             "Tea tastings in the lanes around Daci Temple.", {}),
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
    operator, api_key = engine.stores.operators.create("Demo operator (Swire Properties)")
    channel, channel_key, token_secret = ChannelStore(engine.client).create("Demo city channel")
    now = engine.clock()
    placed = set()
    for district in load_demo_districts():
        try:
            engine.districts.put(district, operator.id)
            placed.add(district.id)
        except ConflictError:  # the id is another operator's already: the demo leaves that one out
            continue
    lot_secrets = {}
    for spec in load_demo_lots():
        if spec.district_id not in placed:
            continue
        lot, lot_secrets[spec.id] = engine.parking.create_lot(operator.id, spec.district_id, lat=spec.lat, lng=spec.lng,
                                                              lot_id=spec.id, name=spec.name, name_zh=spec.name_zh,
                                                              capacity=spec.capacity, tariff=spec.tariff)
    lots_of = {spec.district_id: spec.id for spec in reversed(load_demo_lots())}
    for district_id, (kind, title, body, fields) in DEMO_CAMPAIGNS.items():
        if district_id not in placed:
            continue
        extra = {"lot_id": lots_of[district_id]} if kind == "parking" else {}
        engine.campaigns.create(operator.id, district_id=district_id, kind=kind, title=title, body=body,
                               starts_at=now - timedelta(minutes=1), ends_at=now + DEMO_WINDOW, **extra, **fields)
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


def demo_keys(data_dir: Path) -> dict | None:
    """The demo operator's and channel's keys as the first start wrote them to ``data_dir``:
    ``{"operator": ..., "channel": ...}``, or None if they are not there."""
    try:
        return {who: (Path(data_dir) / name).read_text().strip()
                for who, name in (("operator", DEMO_OPERATOR_KEY), ("channel", DEMO_CHANNEL_KEY))}
    except OSError:
        return None


def clear_demo(client, data_dir: Path) -> int:
    """Delete everything in the store (FLUSHALL: it is the demo's own, embedded one) and the demo's
    files in ``data_dir``; then ``seed_demo`` loads it again. Returns how many keys were deleted."""
    deleted = client.dbsize()
    client.flushall()
    for name in DEMO_FILES:
        (Path(data_dir) / name).unlink(missing_ok=True)
    return deleted
