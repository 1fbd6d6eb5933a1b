"""Every Redis key the engine uses, in one place.

Keys of one entity share a hash tag (the part in braces), so a Lua script that touches one
entity touches one slot and runs on Redis Cluster unchanged. Keys that list many entities
(``districts``) or carry signals (``changes``) stand alone and are never passed to a script
together with an entity's keys.
"""

from __future__ import annotations

__all__ = [
    "district", "districts", "changes", "operator", "operators", "api_key", "campaign", "campaigns",
    "operator_campaigns", "campaign_deliveries", "campaign_seen", "campaign_stats", "rain_keys", "rate_limit", "user_position", "demo_seeded",
]


def district(district_id: str) -> str:
    """Hash: geojson, owner, created_at, updated_at of one district."""
    return f"district:{{{district_id}}}"


def districts() -> str:
    """Set of all district ids."""
    return "districts"


def changes() -> str:
    """Stream of change signals (entity, id, op) that workers follow to refresh their caches."""
    return "changes"


def operator(operator_id: str) -> str:
    """Hash: name, created_at of one operator."""
    return f"operator:{{{operator_id}}}"


def operators() -> str:
    """Set of all operator ids."""
    return "operators"


def api_key(key_sha256: str) -> str:
    """String: the operator id an API key (by its SHA-256, never the key itself) belongs to."""
    return f"apikey:{{{key_sha256}}}"


def campaign(campaign_id: str) -> str:
    """Hash: json, owner, district_id of one campaign."""
    return f"campaign:{{{campaign_id}}}"


def campaigns() -> str:
    """Set of all campaign ids."""
    return "campaigns"


def operator_campaigns(operator_id: str) -> str:
    """Set of one operator's campaign ids."""
    return f"operator:{{{operator_id}}}:campaigns"


def campaign_deliveries(campaign_id: str) -> str:
    """Hash: user id -> times this campaign's offer was delivered to that user (exact)."""
    return f"campaign:{{{campaign_id}}}:deliveries"


def campaign_seen(campaign_id: str) -> str:
    """Hash: user id -> when (ms) the user was last seen in this campaign's reach."""
    return f"campaign:{{{campaign_id}}}:seen"


def campaign_stats(campaign_id: str) -> str:
    """Hash: delivered (offers delivered in all)."""
    return f"campaign:{{{campaign_id}}}:stats"


def user_position(user_id: str) -> str:
    """String (JSON lat, lng, at) with a TTL: a user's last known WGS-84 position; never exposed."""
    return f"user:{{{user_id}}}:pos"


def rain_keys(rain_id: str) -> dict[str, str]:
    """A red-envelope rain's keys, one hash tag: meta (hash of figures and window), packets (list of
    cents, shuffled), winners (hash user -> cents), ledger (stream of every money move)."""
    return {part: f"rain:{{{rain_id}}}:{part}" for part in ("meta", "packets", "winners", "ledger")}


def rate_limit(subject: str) -> str:
    """Sorted set: recent events of one rate-limited subject (e.g. "grab:user:u1")."""
    return f"ratelimit:{{{subject}}}"


def demo_seeded() -> str:
    """String: set once the demo data has been loaded."""
    return "demo:seeded"
