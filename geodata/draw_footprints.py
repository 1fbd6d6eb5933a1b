"""How the demo footprints were drawn: outlines in local metres (east, north) around each site's
sourced WGS-84 anchor, placed on the ellipsoid with pyproj.Geod. Run it to rewrite the GeoJSON:

    .venv/bin/python geodata/draw_footprints.py

Sources and accuracy are in geodata/README.md.
"""

import json
import math
from pathlib import Path

from pyproj import Geod

GEOD = Geod(ellps="WGS84")
HERE = Path(__file__).parent
TARIFF = {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000, "daily_cap_cents": 8000}


def place(anchor, east_m, north_m):
    """[lng, lat] of the point east_m, north_m (metres) from anchor (lat, lng)."""
    lat, lng = anchor
    az = math.degrees(math.atan2(east_m, north_m))
    lng2, lat2, _ = GEOD.fwd(lng, lat, az, math.hypot(east_m, north_m))
    return [round(lng2, 7), round(lat2, 7)]


def ring(anchor, pts):
    coords = [place(anchor, e, n) for e, n in pts]
    return coords + [coords[0]]


DISTRICTS = [
    {
        "id": "sanlitun-taikoo-li", "name": "Sanlitun Taikoo Li", "name_zh": "三里屯太古里", "city": "Beijing",
        "anchor": (39.933536, 116.448053),
        # South (the Piazza) and North (the Deck), with The Opposite House between them.
        "parts": [
            [[(-150, -125), (150, -125), (150, 60), (95, 125), (-150, 125)]],
            [[(-25, 300), (170, 300), (175, 470), (60, 490), (-25, 470)]],
        ],
        "lots": [
            {"id": "sanlitun-south-p", "name": "Taikoo Li South car park (B2-B3)", "name_zh": "太古里南区停车场",
             "at": (-60, -110), "capacity": 420},
            {"id": "sanlitun-north-p", "name": "Taikoo Li North car park", "name_zh": "太古里北区停车场",
             "at": (80, 310), "capacity": 260},
        ],
    },
    {
        "id": "indigo-beijing", "name": "INDIGO", "name_zh": "颐堤港", "city": "Beijing",
        "anchor": (39.9686, 116.4890),
        # Jiuxianqiao Road on the west, the Ba River marina on the south.
        "parts": [[[(-150, -95), (120, -110), (155, -20), (150, 105), (-40, 110), (-150, 60)]]],
        "lots": [
            {"id": "indigo-p", "name": "INDIGO car park", "name_zh": "颐堤港停车场", "at": (-130, 0), "capacity": 800},
        ],
    },
    {
        "id": "hkri-taikoo-hui", "name": "HKRI Taikoo Hui", "name_zh": "兴业太古汇", "city": "Shanghai",
        "anchor": (31.230622, 121.460644),
        # Nanjing West Rd (north), Shimen No.1 Rd (west), Weihai Rd (south), Qinghai Rd (east).
        "parts": [[[(-150, -105), (140, -115), (150, 95), (20, 112), (-145, 108)]]],
        "lots": [
            {"id": "hkri-p", "name": "HKRI Taikoo Hui car park", "name_zh": "兴业太古汇停车场",
             "at": (-40, -100), "capacity": 1200},
        ],
    },
    {
        "id": "taikoo-hui-guangzhou", "name": "Taikoo Hui", "name_zh": "太古汇", "city": "Guangzhou",
        "anchor": (23.1364, 113.3269),
        # Tianhe Road on the south; Tiyu East Rd (west) to Tianhe East Rd (east).
        "parts": [[[(-150, -80), (150, -80), (150, 85), (-60, 85), (-150, 40)]]],
        "lots": [
            {"id": "taikoo-hui-gz-p", "name": "Taikoo Hui car park", "name_zh": "太古汇停车场",
             "at": (130, 0), "capacity": 718},
        ],
    },
    {
        "id": "sino-ocean-taikoo-li", "name": "Sino-Ocean Taikoo Li Chengdu", "name_zh": "成都远洋太古里",
        "city": "Chengdu", "anchor": (30.6559194, 104.0806361),  # Daci Temple, which the lanes wrap around
        # The temple grounds are not part of the district: a hole.
        "parts": [[
            [(-120, -150), (290, -150), (300, 110), (120, 135), (-120, 120)],
            [(-55, -65), (-55, 70), (55, 70), (55, -65)],
        ]],
        "lots": [
            {"id": "taikoo-li-cd-p", "name": "Taikoo Li Chengdu car park", "name_zh": "远洋太古里停车场",
             "at": (150, -140), "capacity": 1000},
        ],
    },
]


def main():
    districts, lots = [], []
    for d in DISTRICTS:
        polys = [[ring(d["anchor"], r) for r in part] for part in d["parts"]]
        geometry = ({"type": "Polygon", "coordinates": polys[0]} if len(polys) == 1
                    else {"type": "MultiPolygon", "coordinates": polys})
        props = {k: d[k] for k in ("id", "name", "name_zh", "city")}
        districts.append({"type": "Feature", "id": d["id"], "properties": props, "geometry": geometry})
        for lot in d["lots"]:
            lots.append({
                "type": "Feature", "id": lot["id"],
                "properties": {"id": lot["id"], "district_id": d["id"], "name": lot["name"],
                               "name_zh": lot["name_zh"], "capacity": lot["capacity"], "tariff": TARIFF},
                "geometry": {"type": "Point", "coordinates": place(d["anchor"], *lot["at"])},
            })
    for name, features in (("districts.geojson", districts), ("parking_lots.geojson", lots)):
        rows = ",\n".join(json.dumps(f, ensure_ascii=False) for f in features)
        text = '{"type": "FeatureCollection", "features": [\n' + rows + "\n]}\n"
        (HERE / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
