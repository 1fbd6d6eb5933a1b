"""Per-tenant quotas: how much one operator may create, so that one tenant cannot fill the shared
index, the feed of a district or the lot table for everyone. Pure: counts in, an error out.

The counts come from the engine's live view (districts, campaigns) or the store (lots): two
processes creating at the same instant can each pass the check, so a quota may be overshot by
the number of API processes, never more. That is a limit against abuse, not a billing meter.
"""

from __future__ import annotations

from typing import NamedTuple

from district_engine.errors import ConflictError

__all__ = ["Quotas", "check_quota"]


class Quotas(NamedTuple):
    """Limits; None (the library's default) or 0: no limit. The server takes them from DE_QUOTA_*."""

    districts_per_operator: int | None = None
    live_campaigns_per_district: int | None = None
    lots_per_district: int | None = None


def check_quota(count: int, limit: int | None, what: str, setting: str, field: str | None = None) -> None:
    """ConflictError ``quota_exceeded`` when ``count`` things exist already and ``limit`` allows no
    more; the message names the limit and the setting that raises it."""
    if limit and count >= limit:
        raise ConflictError(f"at most {limit:,} {what} (quota {setting}); remove one first, or ask for more",
                            field=field, code="quota_exceeded")
