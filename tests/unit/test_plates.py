import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from district_engine import InvalidInputError
from district_engine.parking.plates import check_plate, is_valid_plate, lookalikes, normalize_plate

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
SERIAL = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"  # no I, no O


@pytest.mark.parametrize("plate", [
    "京A12345", "沪B0A1C2", "琼ZZZZZZ", "新O12345",  # the city letter may be any of A-Z
    "粤B1234挂", "京A1234学", "京A1234警", "粤Z1234港", "粤Z1234澳",
    "京AD12345", "京AF12345", "京ADA1234", "苏EFZ9999",  # new energy: D/F, letter or digit, 4 digits
    "京A12345D", "浙B00000F",  # new energy: 5 digits, D/F
])
def test_valid_plates(plate):
    assert check_plate(plate) == plate and is_valid_plate(plate)


@pytest.mark.parametrize("raw,reason", [
    ("", "is empty"),
    ("   ", "is empty"),
    ("A12345", "province"), ("使A12345", "province"), ("港A12345", "province"),
    ("京12345", "city's letter"), ("京", "city's letter"),
    ("京A1234", "7 characters"), ("京A123456D", "7 characters"),
    ("京AI2345", "without I or O"), ("京A1O345", "without I or O"), ("京A挂1234", "the last may be"),
    ("京A123456", "new-energy"), ("京A12345挂", "new-energy"), ("京AD1234I", "new-energy"), ("京AD12A45", "new-energy"),
    ("京AE12345", "new-energy"), ("京A1234D5", "new-energy"), ("京ADI1234", "new-energy"), ("京AI12345", "new-energy"),
])
def test_invalid_plates_say_why(raw, reason):
    with pytest.raises(InvalidInputError, match=reason) as exc:
        check_plate(raw)
    assert exc.value.field == "plate" and not is_valid_plate(raw)


@pytest.mark.parametrize("raw,normalized", [
    (" 京a·123 45 ", "京A12345"), ("ＡＢ", "AB"), ("京Ａ１２３４５", "京A12345"), ("粤b.12345", "粤B12345"),
    ("京A・D12345", "京AD12345"), ("京A•12345", "京A12345"), ("沪a‧12345", "沪A12345"), ("京A．12345", "京A12345"),
    ("京\u3000A12345", "京A12345"), ("京A-12345\n", "京A12345"), ("京a\t1234挂", "京A1234挂"),
])
def test_normalization(raw, normalized):
    assert normalize_plate(raw) == normalized


@pytest.mark.parametrize("raw", [None, 12345, b"\xe4\xba\xac"])
def test_non_strings_are_invalid_not_crashes(raw):
    assert not is_valid_plate(raw)
    with pytest.raises(InvalidInputError, match="must be a string"):
        check_plate(raw)


def test_lookalikes_worked_examples():
    assert lookalikes("京A12345") == ["京A72345", "京A1Z345", "京A1234S"]  # 1->I and any change to A are invalid
    assert lookalikes("京D12345") == ["京O12345", "京Q12345", "京D72345", "京D1Z345", "京D1234S"]
    assert lookalikes("京AD12345") == ["京AD72345"]  # every other swap breaks the new-energy layout
    assert lookalikes("京a·123 45") == lookalikes("京A12345")
    with pytest.raises(InvalidInputError):
        lookalikes("京A1234")


# --- property tests -------------------------------------------------------------------------------------------

serial = st.sampled_from(SERIAL)
digit = st.sampled_from("0123456789")
d_or_f = st.sampled_from("DF")


@st.composite
def plates(draw):
    head = draw(st.sampled_from(PROVINCES)) + draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    kind = draw(st.sampled_from(["ordinary", "suffix", "d_first", "d_last"]))
    if kind == "ordinary":
        tail = [draw(serial) for _ in range(5)]
    elif kind == "suffix":
        tail = [draw(serial) for _ in range(4)] + [draw(st.sampled_from("挂学警港澳"))]
    elif kind == "d_first":
        tail = [draw(d_or_f), draw(serial)] + [draw(digit) for _ in range(4)]
    else:
        tail = [draw(digit) for _ in range(5)] + [draw(d_or_f)]
    return head + "".join(tail)


def _full_width(c: str) -> str:
    return chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c


@given(plates(), st.data())
def test_valid_plates_survive_any_way_of_writing_them(plate, data):
    messy = "".join(
        data.draw(st.sampled_from([c, c.lower(), _full_width(c), _full_width(c.lower())]))
        + data.draw(st.sampled_from(["", " ", "·", ".", "・", "•", "\u3000"]))
        for c in plate)
    assert is_valid_plate(plate) and check_plate(messy) == plate


@settings(max_examples=500)
@given(st.text())
def test_normalize_is_idempotent_and_validity_never_raises(raw):
    once = normalize_plate(raw)
    assert normalize_plate(once) == once
    assert is_valid_plate(raw) == is_valid_plate(once)


@settings(max_examples=300)
@given(plates())
def test_lookalikes_are_valid_one_swap_away_and_symmetric(plate):
    found = lookalikes(plate)
    assert len(found) == len(set(found)) and plate not in found
    for other in found:
        assert is_valid_plate(other) and len(other) == len(plate)
        diffs = [i for i, (a, b) in enumerate(zip(plate, other)) if a != b]
        assert len(diffs) == 1 and diffs[0] >= 1
        assert any({plate[diffs[0]], other[diffs[0]]} <= set(g) for g in ("0ODQ", "1I7", "8B", "2Z", "5S"))
        assert plate in lookalikes(other)


@pytest.mark.parametrize("raw", ["e \u0301", "e\u3000\u0301", "ΐ", "ﬁ ΰ"])
def test_normalize_settles_where_one_pass_would_not(raw):
    # Dropping the space lets the accent join the E only on a second fold; upper-cased ΐ is no longer NFKC.
    once = normalize_plate(raw)
    assert normalize_plate(once) == once
