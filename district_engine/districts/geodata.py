"""The one reader of geodata/: the demo districts and their parking lots (GeoJSON, WGS-84)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from district_engine.districts.model import District
from district_engine.errors import InvalidInputError

__all__ = ["geodata_dir", "load_districts", "load_demo_districts", "load_demo_lots", "LotSpec"]


def geodata_dir() -> Path:
    """geodata/ as installed in the wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_geodata", here.parent / "geodata"):
        if (candidate / "districts.geojson").is_file():
            return candidate
    raise FileNotFoundError("geodata/districts.geojson not found in the package or the checkout")


def _features(path: Path) -> list[dict]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid JSON: {exc}", field="geojson") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path} is not UTF-8 text", field="geojson") from None
    except OSError as exc:  # missing, a directory, not readable
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}", field="path") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{path} must hold a GeoJSON Feature or FeatureCollection", field="geojson")
    if doc.get("type") == "Feature":
        return [doc]
    if doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise InvalidInputError(f"{path} must hold a GeoJSON Feature or FeatureCollection", field="geojson")
    return doc["features"]


def load_districts(path: str | Path) -> list[District]:
    """Districts from a GeoJSON file (a Feature or a FeatureCollection of Polygon/MultiPolygon features).
    A bad feature's error names it: ``features[3].properties.name`` (``features[0]`` in a lone Feature)."""
    features = _features(Path(path))
    districts = []
    for i, feature in enumerate(features):
        try:
            districts.append(District.from_geojson(feature))
        except InvalidInputError as err:
            where = f"features[{i}]"
            raise InvalidInputError(err.message, field=f"{where}.{err.field}" if err.field else where) from None
    return districts


def load_demo_districts() -> list[District]:
    """The five demo districts (Sanlitun Taikoo Li, INDIGO, HKRI Taikoo Hui, Taikoo Hui, Taikoo Li Chengdu)."""
    return load_districts(geodata_dir() / "districts.geojson")


@dataclass(frozen=True)
class LotSpec:
    """A demo parking lot as geodata describes it; the parking module makes live lots of these."""

    id: str
    district_id: str
    name: str
    name_zh: str
    capacity: int
    lat: float
    lng: float
    tariff: dict


def load_demo_lots() -> list[LotSpec]:
    lots = []
    for f in _features(geodata_dir() / "parking_lots.geojson"):
        p = f["properties"]
        lng, lat = f["geometry"]["coordinates"]
        lots.append(LotSpec(p["id"], p["district_id"], p["name"], p["name_zh"], int(p["capacity"]), lat, lng,
                            dict(p["tariff"])))
    return lots
