"""Text and integers the engine accepts: one rule for every name, title, id and note a client
sends, and one for every count and amount.

A lone surrogate ("\\ud800", which JSON can carry) cannot be encoded as UTF-8: it failed deep in
the Redis client as a 500. Control characters (NUL, ESC, bidi overrides are format characters,
not controls, and are allowed: names in Arabic or Hebrew need them) break logs, terminals and the
console's labels. Both are refused where the text comes in, naming the field.
"""

from __future__ import annotations

import re

from district_engine.errors import InvalidInputError

__all__ = ["check_text", "check_int", "text_problem"]

# C0 and C1 controls and DEL; a multi-line text (a campaign's body) may hold newlines and tabs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_problem(value: str, multiline: bool = False) -> str | None:
    """Why ``value`` is not acceptable text, or None."""
    if _SURROGATE.search(value):
        return "must be valid Unicode text (it holds a lone surrogate)"
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value):
        return "must not hold control characters" + (" other than newlines and tabs" if multiline else "")
    return None


def check_text(value, field: str, max_len: int, *, multiline: bool = False, allow_empty: bool = False) -> str:
    """``value`` if it is a string of at most ``max_len`` characters of acceptable text (non-empty
    unless ``allow_empty``); else InvalidInputError naming ``field``."""
    if not isinstance(value, str) or len(value) > max_len or (not value and not allow_empty):
        size = f"at most {max_len} characters" if allow_empty else f"1 to {max_len} characters"
        raise InvalidInputError(f"must be a string of {size}", field=field)
    if (problem := text_problem(value, multiline)) is not None:
        raise InvalidInputError(problem, field=field)
    return value


def check_int(value, field: str, low: int, high: int, note: str = "") -> int:
    """``value`` if it is an integer (not a boolean, not a float that looks like one) from ``low`` to
    ``high``; else InvalidInputError naming ``field`` (``note`` says why the bounds are what they are)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(f"must be an integer from {low:,} to {high:,}{note}, got {value!r}", field=field)
    return value
