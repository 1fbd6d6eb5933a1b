"""Trusted positions: money moves only on a fix the engine can believe. Pure: two fixes in, a
reason (or None) out. docs/identity.md explains the thresholds.

A fix is untrusted when the device says it is mocked, when its accuracy is worse than
``MAX_ACCURACY_M``, or when it "jumped": reaching it from the user's previous trusted fix of the
last ``JUMP_WINDOW_MS`` would take more than ``MAX_SPEED_KMH``. GPS jitter must not trip the jump
rule, so only the distance beyond both fixes' accuracy counts, and at least ``MIN_SLACK_M``: two
honest fixes a second apart are never a jump.
"""

from __future__ import annotations

from typing import NamedTuple

from district_engine.geo.geodesy import WGS84

__all__ = ["Fix", "distrust", "fix_time_problem", "MAX_ACCURACY_M", "MAX_SPEED_KMH", "JUMP_WINDOW_MS", "MIN_SLACK_M",
           "MAX_FIX_AHEAD_MS"]

MAX_ACCURACY_M = 200.0
MAX_SPEED_KMH = 300.0
JUMP_WINDOW_MS = 30 * 60 * 1000
MIN_SLACK_M = 500.0
MAX_FIX_AHEAD_MS = 5 * 60 * 1000


class Fix(NamedTuple):
    """A position (WGS-84) at a time (ms, the server's clock: a client's is not believed), with the
    device's accuracy radius (m, None when not given) and mock-location flag."""

    lat: float
    lng: float
    at_ms: int
    accuracy_m: float | None = None
    mocked: bool = False


def fix_time_problem(at_ms: int, now_ms: int, max_age_ms: int) -> str | None:
    """Why a device's "taken at" time cannot be a fix of now, or None: more than 5 minutes ahead of
    the server's clock (a wrong clock), or older than a position is kept (1970 is not a fix).

    Within the bounds it is accepted, and still not believed where money moves: the jump rule
    measures time on the server's clock, as a forged ``at`` could make a jump look slow."""
    if at_ms > now_ms + MAX_FIX_AHEAD_MS:
        return f"must not be more than {MAX_FIX_AHEAD_MS // 60_000} minutes ahead of the server's clock"
    if at_ms < now_ms - max_age_ms:
        return f"must be within the last {max_age_ms // 1000} s (older positions are not kept)"
    return None


def distrust(previous: Fix | None, fix: Fix) -> str | None:
    """Why ``fix`` cannot be trusted after the user's previous trusted fix ``previous``, or None."""
    if fix.mocked:
        return "the device reports a mocked location"
    if fix.accuracy_m is not None and fix.accuracy_m > MAX_ACCURACY_M:
        return f"accuracy {fix.accuracy_m:g} m is worse than {MAX_ACCURACY_M:g} m"
    if previous is None or fix.at_ms - previous.at_ms > JUMP_WINDOW_MS:
        return None
    slack = max(MIN_SLACK_M, (previous.accuracy_m or 0.0) + (fix.accuracy_m or 0.0))
    _, _, distance = WGS84.inv(previous.lng, previous.lat, fix.lng, fix.lat)
    beyond = distance - slack
    if beyond <= 0:
        return None
    elapsed_s = max(0, fix.at_ms - previous.at_ms) / 1000
    if beyond > MAX_SPEED_KMH / 3.6 * elapsed_s:
        return (f"jumped {distance / 1000:,.1f} km in {elapsed_s:,.0f} s from the previous position "
                f"(faster than {MAX_SPEED_KMH:g} km/h)")
    return None
