"""Geofence transitions, Tile38-style: from a user's previous and current position, which
districts' reach was entered, exited, or is still inside.

``fence_transition`` is the pure rule on two sets of district ids; ``transition`` and
``transitions_many`` feed it from a ReachIndex (one user, or a vectorized batch of users).
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Iterable, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from district_engine.matching.index import ReachIndex

__all__ = ["Fence", "FenceTransition", "fence_transition", "transition", "transitions_many"]


class Fence(IntEnum):
    ENTER = 1
    EXIT = 2
    INSIDE = 3


class FenceTransition(NamedTuple):
    entered: frozenset[str]
    exited: frozenset[str]
    inside: frozenset[str]


def fence_transition(before: Iterable[str], after: Iterable[str]) -> FenceTransition:
    """Districts entered (in ``after`` only), exited (in ``before`` only) and still inside (both)."""
    b, a = frozenset(before), frozenset(after)
    return FenceTransition(entered=a - b, exited=b - a, inside=a & b)


def transition(index: ReachIndex, previous: tuple[float, float] | None, current: tuple[float, float],
               coord: str = "wgs84") -> FenceTransition:
    """Transition of one user from ``previous`` (lat, lng), or None if unknown, to ``current``."""
    before = [m.district_id for m in index.match(*previous, coord)] if previous is not None else []
    return fence_transition(before, [m.district_id for m in index.match(*current, coord)])


def transitions_many(index: ReachIndex, prev_lats: ArrayLike, prev_lngs: ArrayLike, lats: ArrayLike, lngs: ArrayLike,
                     coord: str = "wgs84") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorized transitions: (point_index, district position, Fence code) arrays, sorted.

    A NaN previous position means "not known": everything in reach now is an ENTER.
    """
    prev_lats = np.asarray(prev_lats, dtype=np.float64).ravel()
    prev_lngs = np.asarray(prev_lngs, dtype=np.float64).ravel()
    known = np.flatnonzero(np.isfinite(prev_lats) & np.isfinite(prev_lngs))
    b_point, b_fp = index.contains_many(prev_lats[known], prev_lngs[known], coord)
    a_point, a_fp = index.contains_many(lats, lngs, coord)
    width = np.int64(max(len(index), 1))
    before = known[b_point] * width + b_fp
    after = a_point * width + a_fp
    entered = np.setdiff1d(after, before, assume_unique=True)
    exited = np.setdiff1d(before, after, assume_unique=True)
    inside = np.intersect1d(after, before, assume_unique=True)
    keys = np.concatenate([entered, exited, inside])
    kinds = np.concatenate([np.full(entered.size, Fence.ENTER), np.full(exited.size, Fence.EXIT),
                            np.full(inside.size, Fence.INSIDE)]).astype(np.int8)
    order = np.argsort(keys, kind="stable")
    keys, kinds = keys[order], kinds[order]
    return keys // width, (keys % width).astype(np.int32), kinds
