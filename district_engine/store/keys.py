"""Every Redis key the engine uses, in one place.

Keys of one entity share a hash tag (the part in braces), so a Lua script that touches one
entity touches one slot and runs on Redis Cluster unchanged. Keys that list many entities
(``districts``) or carry signals (``changes``) stand alone and are never passed to a script
together with an entity's keys.
"""

from __future__ import annotations

__all__ = ["district", "districts", "changes"]


def district(district_id: str) -> str:
    """Hash: geojson, owner, created_at, updated_at of one district."""
    return f"district:{{{district_id}}}"


def districts() -> str:
    """Set of all district ids."""
    return "districts"


def changes() -> str:
    """Stream of change signals (entity, id, op) that workers follow to refresh their caches."""
    return "changes"
