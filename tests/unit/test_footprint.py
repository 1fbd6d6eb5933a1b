import pytest
import shapely

from district_engine import District, InvalidInputError
from helpers import SANLITUN, feature, square

LAT, LNG = SANLITUN


def _feature(geometry, **props):
    f = {"type": "Feature", "properties": {"id": "d1", "name": "D", "city": "Beijing"} | props, "geometry": geometry}
    return f


def test_a_valid_square_builds_a_district_and_round_trips():
    d = District.from_geojson(_feature(square(LAT, LNG, 150.0), name_zh="测试"))
    assert (d.id, d.name, d.city, d.name_zh) == ("d1", "D", "Beijing", "测试")
    back = District.from_geojson(d.to_geojson())
    assert back.geometry.equals(d.geometry)
    assert d.centre == pytest.approx((LAT, LNG), abs=1e-6)


def test_wrong_winding_is_accepted_and_normalised_to_rfc7946():
    g = square(LAT, LNG, 100.0)
    g["coordinates"][0] = g["coordinates"][0][::-1]  # clockwise exterior
    d = District.from_geojson(_feature(g))
    assert d.geometry.exterior.is_ccw


def _bad(mutate):
    g = square(LAT, LNG, 100.0)
    out = mutate(g)  # either edits g in place (returns None) or returns a new geometry
    return out if out is not None else g


BAD = {
    "unclosed ring": (lambda g: g["coordinates"][0].pop() and None, "closed"),
    "three positions": (lambda g: {"type": "Polygon", "coordinates": [g["coordinates"][0][:2] + g["coordinates"][0][:1]]}, "at least 4"),
    "self-intersecting": (lambda g: {"type": "Polygon", "coordinates": [[g["coordinates"][0][i] for i in (0, 2, 1, 3, 0)]]}, "Self-intersection"),
    "point geometry": (lambda g: {"type": "Point", "coordinates": [LNG, LAT]}, "Polygon or MultiPolygon"),
    "string coordinate": (lambda g: g["coordinates"][0].__setitem__(1, ["a", "b"]), "numbers"),
    "latitude out of range": (lambda g: {"type": "Polygon", "coordinates": [[[0, 95], [1, 95], [1, 96], [0, 95]]]}, "latitude"),
    "antimeridian": (lambda g: {"type": "Polygon", "coordinates": [[[179.9, 10], [-179.9, 10], [-179.9, 10.1], [179.9, 10]]]}, "antimeridian"),
    "polar": (lambda g: {"type": "Polygon", "coordinates": [[[0, 86], [1, 86], [1, 87], [0, 86]]]}, "polar"),
    "too large": (lambda g: square(LAT, LNG, 20_000.0), "at most 20 km"),
    "not an object": (lambda g: "POLYGON((0 0, 1 0, 1 1, 0 0))", "GeoJSON geometry"),
    "no rings": (lambda g: {"type": "Polygon", "coordinates": []}, "non-empty"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_footprints_raise_invalid_input_naming_the_field(case):
    mutate, reason = BAD[case]
    with pytest.raises(InvalidInputError, match=reason) as exc:
        District.from_geojson(_feature(_bad(mutate)))
    assert exc.value.field.startswith("geometry")


@pytest.mark.parametrize(
    "feature_doc,field",
    [
        ({"type": "FeatureCollection"}, "type"),
        ({"type": "Feature", "properties": {"name": "x", "city": "y"}, "geometry": None}, "properties.id"),
        (_feature(None, name=""), "properties.name"),
        (_feature(None, city=None), "properties.city"),
        (_feature(None, id="has space"), "id"),
    ],
)
def test_bad_properties_name_the_field(feature_doc, field):
    if feature_doc.get("type") == "Feature" and feature_doc.get("geometry") is None and "id" in feature_doc.get("properties", {}):
        feature_doc["geometry"] = square(LAT, LNG, 50.0)
    with pytest.raises(InvalidInputError) as exc:
        District.from_geojson(feature_doc)
    assert exc.value.field == field


def test_multipolygon_with_a_hole_is_accepted():
    outer = square(LAT, LNG, 200.0)["coordinates"][0]
    hole = square(LAT, LNG, 50.0)["coordinates"][0][::-1]
    other = square(LAT + 0.01, LNG, 80.0)["coordinates"]
    d = District.from_geojson(_feature({"type": "MultiPolygon", "coordinates": [[outer, hole], other]}))
    assert isinstance(d.geometry, shapely.MultiPolygon) and len(d.geometry.geoms[0].interiors) == 1


def test_footprint_cells_cover_the_footprint():
    d = District.from_geojson(feature("sq", shapely.Polygon(square(LAT, LNG, 150.0)["coordinates"][0])))
    cells = d.footprint_cells()
    import h3

    union = shapely.unary_union([shapely.Polygon([(b, a) for a, b in h3.cell_to_boundary(c)]) for c in cells])
    assert union.covers(d.geometry)
