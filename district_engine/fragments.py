"""JSON documents serialized once with holes: the pieces of their text around the values that
change from one copy to the next, for documents sent many times with a few values changed (an
offer's distance, an event's id, time, user and distance). Pure: a serializer in, strings out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

__all__ = ["split_at_holes", "random_holes"]


def random_holes(n: int) -> tuple[str, ...]:
    """``n`` distinct hole values: letters and digits only, so that every JSON serializer writes
    each as itself in quotes, whatever its escaping options."""
    return tuple(f"hole{os.urandom(8).hex()}{i}" for i in range(n))


def split_at_holes(dump: Callable[[Sequence[str]], str], n: int,
                   draw: Callable[[int], Sequence[str]] = random_holes) -> tuple[str, ...]:
    """The ``n + 1`` pieces of the text ``dump(holes)`` around its ``n`` holes.

    ``dump`` serializes the document with ``holes[i]`` (a string) as the i-th varying value, the
    holes in the order of the text. A piece ends before a hole's opening quote and the next starts
    after its closing one, so any JSON text fills a hole: a number, null, a string, or several
    members of an object. Holes whose quoted text the rest of the document contains too (a title
    that happens to equal one) are drawn again, so each hole is found where ``dump`` put it and
    nowhere else.
    """
    while True:
        holes = draw(n)
        text = dump(holes)
        quoted = [f'"{h}"' for h in holes]
        if any(text.count(q) != 1 for q in quoted):
            continue
        pieces, rest = [], text
        for q in quoted:
            head, found, rest = rest.partition(q)
            if not found:
                raise ValueError("dump must place the holes in the order given")
            pieces.append(head)
        pieces.append(rest)
        return tuple(pieces)
