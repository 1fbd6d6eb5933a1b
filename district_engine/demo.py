"""The demo a first start shows: an operator, the five demo districts and a few live campaigns."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from district_engine.districts.geodata import load_demo_districts
from district_engine.engine import Engine
from district_engine.store import keys

__all__ = ["seed_demo", "DEMO_CAMPAIGNS"]

DEMO_CAMPAIGNS = {
    "sanlitun-taikoo-li": ("campaign", "Double 11 night at Sanlitun", "Up to 50% off in Taikoo Li South and North until midnight."),
    "indigo-beijing": ("campaign", "INDIGO riverside market", "Weekend market by the Ba River: food, crafts, music."),
    "hkri-taikoo-hui": ("campaign", "HKRI Taikoo Hui winter lights", "Evening light show on the piazza, 18:00-22:00."),
    "taikoo-hui-guangzhou": ("parking", "2 free hours of parking", "Spend 200 yuan at Taikoo Hui: the first 2 hours of parking are free."),
    "sino-ocean-taikoo-li": ("campaign", "Taikoo Li Chengdu tea festival", "Tea tastings in the lanes around Daci Temple."),
}


def seed_demo(engine: Engine, data_dir: Path) -> str | None:
    """Load the demo once per store; returns the demo operator's API key the first time, else None.

    The key is also written to ``data_dir/demo_operator_key`` (mode 600) so that it can be found again.
    """
    if not engine.client.set(keys.demo_seeded(), "1", nx=True):
        return None
    operator, api_key = engine.operators.create("Demo operator (Swire Properties)")
    now = engine.clock()
    for district in load_demo_districts():
        engine.put_district(district, operator.id)
        kind, title, body = DEMO_CAMPAIGNS[district.id]
        engine.create_campaign(operator.id, district_id=district.id, kind=kind, title=title, body=body,
                               starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(days=30))
    path = Path(data_dir) / "demo_operator_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(api_key + "\n")
    path.chmod(0o600)
    return api_key
