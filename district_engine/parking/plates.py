"""Chinese licence plates (pure): normalise what a camera or a driver typed, check it, and list look-alikes.

A valid plate is a province character, the issuing city's letter A-Z, then either 5 letters or digits (an
ordinary plate, 7 characters; the last may instead be 挂 trailer, 学 learner, 警 police, 港 Hong Kong or 澳 Macau)
or a new-energy serial (8 characters): D or F, a letter or digit, 4 digits; or 5 digits, then D or F. Serials
never use I or O, which read as 1 and 0. Embassy (使) and consulate (领) plates have layouts of their own and are
not accepted.
"""

from __future__ import annotations

import re
import unicodedata

from district_engine.errors import InvalidInputError

__all__ = ["normalize_plate", "check_plate", "is_valid_plate", "lookalikes", "PROVINCES", "SUFFIXES",
           "LOOKALIKE_GROUPS"]

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
SUFFIXES = "挂学警港澳"
LOOKALIKE_GROUPS = ("0ODQ", "1I7", "8B", "2Z", "5S")

# Written between the characters by people, and by some cameras; the hyphen too, though the spec of a plate has none.
_SEPARATORS = frozenset(".·・•‧∙-")
_SERIAL = "A-HJ-NP-Z0-9"
_ORDINARY = re.compile(f"[{PROVINCES}][A-Z][{_SERIAL}]{{4}}[{_SERIAL}{SUFFIXES}]")
_NEW_ENERGY = re.compile(f"[{PROVINCES}][A-Z](?:[DF][{_SERIAL}][0-9]{{4}}|[0-9]{{5}}[DF])")
_GROUP_OF = {c: group for group in LOOKALIKE_GROUPS for c in group}


def _fold(text: str) -> str:
    # NFKC turns full-width Ａ１ into A1 and the ideographic space into a space; upper-casing can leave text that
    # is no longer NFKC (ΐ), hence the second pass.
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).upper())
    return "".join(c for c in text if c not in _SEPARATORS and not c.isspace())


def normalize_plate(raw: str) -> str:
    """Upper case, full-width to half-width, without spaces, dots, middle dots or hyphens. Does not validate."""
    if not isinstance(raw, str):
        raise InvalidInputError(f"must be a string, got {type(raw).__name__}", field="plate")
    # Dropping a separator can bring a combining mark next to a new base that NFKC then joins, so fold until
    # nothing changes: that makes the function idempotent on any text. A plate settles after one pass.
    while (folded := _fold(raw)) != raw:
        raw = folded
    return raw


def _problem(plate: str) -> str | None:
    """Why a normalised plate is not valid, or None."""
    if not plate:
        return "is empty"
    if plate[0] not in PROVINCES:
        return f"must start with a province character such as 京 or 粤, got {plate!r}"
    if len(plate) < 2 or not "A" <= plate[1] <= "Z":
        return f"must have the issuing city's letter A-Z after the province, got {plate!r}"
    if len(plate) == 7:
        return None if _ORDINARY.fullmatch(plate) else (
            f"must end in 5 letters or digits without I or O (the last may be {', '.join(SUFFIXES)}), got {plate!r}")
    if len(plate) == 8:
        return None if _NEW_ENERGY.fullmatch(plate) else (
            "a new-energy plate must end in D or F, a letter or digit (not I or O) and 4 digits, "
            f"or in 5 digits and D or F, got {plate!r}")
    return f"must have 7 characters, or 8 for a new-energy plate, got {len(plate)} in {plate!r}"


def check_plate(raw: str) -> str:
    """The normalised plate, or InvalidInputError(field="plate") saying what is wrong with it."""
    plate = normalize_plate(raw)
    problem = _problem(plate)
    if problem is not None:
        raise InvalidInputError(problem, field="plate")
    return plate


def is_valid_plate(raw) -> bool:
    """Whether ``raw`` normalises to a valid plate; never raises."""
    return isinstance(raw, str) and _problem(normalize_plate(raw)) is None


def lookalikes(plate: str) -> list[str]:
    """Valid plates that differ from ``plate`` in one position after the province by a look-alike character
    (0/O/D/Q, 1/I/7, 8/B, 2/Z, 5/S): what a camera may have read instead. Ordered by position, then by group.

    ``plate`` is checked first (InvalidInputError if it is not a plate). Since every result is valid, the
    relation is symmetric: q in lookalikes(p) exactly when p in lookalikes(q).
    """
    plate = check_plate(plate)
    found = []
    for i in range(1, len(plate)):
        for c in _GROUP_OF.get(plate[i], ""):
            candidate = f"{plate[:i]}{c}{plate[i + 1:]}"
            if c != plate[i] and _problem(candidate) is None:
                found.append(candidate)
    return found
