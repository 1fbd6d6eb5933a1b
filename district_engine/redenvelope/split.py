"""Splitting a red-envelope pool into packets (pure): integer cents, exact sums, shuffled.

``double_mean``: WeChat's method. Packet i, with R cents and k packets left, is drawn uniformly
from [min, 2R/k] (capped so each later packet can still get its minimum); the last packet takes
the rest. Every packet's expected value is the mean, but later draws spread wider, so the packets
are shuffled before they go into the pool: a grab is one atomic pop, and the grab order then says
nothing about the amount. ``equal``: every packet total // packets, the remainder spread one cent
each over randomly chosen packets.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from numba import njit

from district_engine.errors import InvalidInputError

__all__ = ["split_packets", "check_pool", "SPLITS", "MAX_PACKETS", "MAX_TOTAL_CENTS"]

SPLITS = ("double_mean", "equal")
MAX_PACKETS = 1_000_000
MAX_TOTAL_CENTS = 100_000_000


def _positive_int(value: object, field: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= maximum:
        raise InvalidInputError(f"must be an integer from 1 to {maximum:,}, got {value!r}", field=field)
    return int(value)


def check_pool(total_cents: object, packets: object, min_cents: object = 1) -> tuple[int, int, int]:
    """Validate a pool; returns (total_cents, packets, min_cents) as ints or raises naming the field."""
    total_cents = _positive_int(total_cents, "total_cents", MAX_TOTAL_CENTS)
    packets = _positive_int(packets, "packets", MAX_PACKETS)
    min_cents = _positive_int(min_cents, "min_cents", MAX_TOTAL_CENTS)
    if total_cents < packets * min_cents:
        raise InvalidInputError(
            f"must be at least packets x min_cents = {packets * min_cents:,}, got {total_cents:,}", field="total_cents"
        )
    return total_cents, packets, min_cents


@njit(cache=True)
def _double_mean(total: int, min_cents: int, u: NDArray[np.float64]) -> NDArray[np.int64]:
    n = u.size
    out = np.empty(n, np.int64)
    remaining = total
    for i in range(n - 1):
        left = n - i
        hi = min(2 * remaining // left, remaining - (left - 1) * min_cents)
        hi = max(hi, min_cents)
        out[i] = min_cents + int(u[i] * (hi - min_cents + 1))
        remaining -= out[i]
    out[n - 1] = remaining
    return out


def split_packets(total_cents: object, packets: object, min_cents: object = 1, split: str = "double_mean",
                  rng: np.random.Generator | None = None, shuffle: bool = True) -> np.ndarray:
    """``packets`` amounts (int64 cents), each >= ``min_cents``, summing exactly to ``total_cents``.

    ``rng`` makes a split reproducible; ``shuffle=False`` keeps the draw order (for study only).
    """
    total_cents, packets, min_cents = check_pool(total_cents, packets, min_cents)
    if split not in SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}", field="split")
    rng = rng if rng is not None else np.random.default_rng()
    if split == "equal":
        amounts = np.full(packets, total_cents // packets, np.int64)
        amounts[rng.choice(packets, total_cents % packets, replace=False)] += 1
        return amounts
    amounts = _double_mean(total_cents, min_cents, rng.random(packets))
    return rng.permutation(amounts) if shuffle else amounts
