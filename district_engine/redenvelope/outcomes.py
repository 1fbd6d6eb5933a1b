"""What a grab can come to: one word each, which the API answers and maps to its status."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["GrabStatus"]


class GrabStatus(StrEnum):
    """What grab_packet.lua answered: a packet won now, the one won before (the same grab, or the
    user's limit reached), none left, or the rain not running."""

    WON = "won"
    ALREADY_GRABBED = "already_grabbed"
    SOLD_OUT = "sold_out"
    NOT_ACTIVE = "not_active"

    @property
    def missed(self) -> bool:
        """No packet for this grab: nothing to win now."""
        return self in (GrabStatus.SOLD_OUT, GrabStatus.NOT_ACTIVE)
