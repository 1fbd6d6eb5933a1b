"""The one fragment serializer: a document serialized once with holes, its pieces filled again,
is the document serialized whole, whatever its other text holds."""

import json

import pytest
from hypothesis import given, strategies as st

from district_engine.fragments import random_holes, split_at_holes

# Text that looks like the holes or like JSON's own syntax: what a splice could trip on.
HOSTILE = st.sampled_from([
    "", '"', "\\", '\\"', "\x00", "\x1f", "\u2028\u2029", "😀", "\U0001f600\U00010348", "hole", '"hole"',
    '","x":1,"', "1234567.5", ',"distance_m":1234567.5,', "\ud7ff\ue000", "a" * 5000,
])
TEXT = st.text() | HOSTILE
VALUE = st.none() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()


def _fill(pieces, values) -> str:
    return pieces[0] + "".join(json.dumps(v, ensure_ascii=False) + p for v, p in zip(values, pieces[1:]))


@given(fixed=st.lists(TEXT, min_size=0, max_size=4), values=st.lists(VALUE, min_size=3, max_size=3),
       ascii_only=st.booleans())
def test_filled_pieces_are_the_document_serialized_whole(fixed, values, ascii_only):
    def doc(vs):
        return {"a": vs[0], "fixed": fixed, "nested": {"b": vs[1], "c": fixed[:1]}, "d": vs[2]}

    def dump(vs):
        return json.dumps(doc(vs), ensure_ascii=ascii_only, separators=(",", ":"))

    pieces = split_at_holes(dump, 3)
    assert len(pieces) == 4
    filled = pieces[0] + "".join(json.dumps(v, ensure_ascii=ascii_only) + p for v, p in zip(values, pieces[1:]))
    assert filled == dump(values)


def test_a_hole_the_document_already_holds_is_drawn_again():
    draws = iter([("holeA", "holeB"), ("holeC", "holeD")])
    pieces = split_at_holes(lambda vs: json.dumps({"title": "holeB", "x": vs[0], "y": vs[1]}), 2,
                            draw=lambda n: next(draws))
    assert _fill(pieces, [1, "z"]) == json.dumps({"title": "holeB", "x": 1, "y": "z"})


def test_holes_out_of_order_are_a_bug_of_the_caller():
    with pytest.raises(ValueError):
        split_at_holes(lambda vs: json.dumps({"x": vs[1], "y": vs[0]}), 2)


def test_random_holes_need_no_escaping():
    holes = random_holes(4)
    assert len(set(holes)) == 4 and all(h.isascii() and h.isalnum() for h in holes)
