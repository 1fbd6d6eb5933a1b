"""Every Redis key the engine uses, in one place.

Keys of one entity share a hash tag (the part in braces), so a Lua script that touches one
entity touches one slot and runs on Redis Cluster unchanged. Keys that list many entities
(``districts``) or carry signals (``changes``) stand alone and are never passed to a script
together with an entity's keys.
"""

from __future__ import annotations

import zlib

__all__ = [
    "district", "districts", "changes", "operator", "operators", "api_key", "holder_keys", "channel", "channels", "campaign", "campaigns",
    "operator_campaigns", "rain_keys", "rate_limit", "demo_seeded", "layout", "partition", "user_keys", "group_members",
    "outbox", "push_stats", "position_cell", "fanout_stream", "location_stream", "retries", "dead_letters", "push_endpoints", "push_endpoints_of",
    "push_endpoint_health", "schedule",
    "lot_keys", "lot_session", "gate_answer", "gate_recent", "lots", "operator_lots", "plate_binding", "unpaid_sessions",
    "idempotency",
    "guide_keys", "guide_members", "district_guides", "guide_orders", "guide_owners",
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
    """String: the operator or channel id an API key (by its SHA-256, never the key itself)
    belongs to; with a TTL once the key has been rotated out (its grace period)."""
    return f"apikey:{{{key_sha256}}}"


def holder_keys(holder_id: str) -> str:
    """Set: the SHA-256 digests of an operator's or a channel's keys (some perhaps expired)."""
    return f"keys:{{{holder_id}}}"


def channel(channel_id: str) -> str:
    """Hash: name, created_at, token_secrets (JSON [[secret, valid until ms or 0]]) of one channel."""
    return f"channel:{{{channel_id}}}"


def channels() -> str:
    """Set of all channel ids."""
    return "channels"


def campaign(campaign_id: str) -> str:
    """Hash: json, owner, district_id of one campaign."""
    return f"campaign:{{{campaign_id}}}"


def campaigns() -> str:
    """Set of all campaign ids."""
    return "campaigns"


def operator_campaigns(operator_id: str) -> str:
    """Set of one operator's campaign ids."""
    return f"operator:{{{operator_id}}}:campaigns"


def rain_keys(rain_id: str) -> dict[str, str]:
    """A red-envelope rain's keys, one hash tag: meta (hash of figures, window, per-user limit),
    packets (list of cents, shuffled), winners (hash user -> cents won in all), grabs (hash user ->
    packets won), ledger (stream of every money move), grab_ids (hash grab id -> "<user> <cents>" of
    every grab that won: a grab sent again answers what it answered, and wins nothing more)."""
    return {part: f"rain:{{{rain_id}}}:{part}" for part in ("meta", "packets", "winners", "grabs", "ledger", "grab_ids")}


def rate_limit(subject: str) -> str:
    """Sorted set: recent events of one rate-limited subject (e.g. "grab:user:u1")."""
    return f"ratelimit:{{{subject}}}"


def demo_seeded() -> str:
    """String: set once the demo data has been loaded."""
    return "demo:seeded"



# ---------------------------------------------------------------- push: per-user state by partition
# A user's delivery state, pushes and position live in one of the deployment's partitions (by a
# hash of the user id), each a slot, together with that partition's outbox stream: the at-most-once
# check, the frequency cap and the outbox entry are then one atomic script on one slot, on a single
# server or a Cluster. The count is part of the data layout, fixed when a deployment first starts
# (store/layout.py): changing it would re-home every user (their state would start over).
def layout() -> str:
    """The deployment's partition count (store/layout.py)."""
    return "layout:partitions"


def partition(user_id: str, partitions: int) -> int:
    """The user's partition, 0..partitions-1 (CRC-32 of the UTF-8 id: the same in every process)."""
    return zlib.crc32(user_id.encode()) % partitions


def _tag(p: int) -> str:
    return f"push:{{p{p:02d}}}"


def user_keys(user_id: str, partitions: int) -> tuple[str, str, str]:
    """(offers, events, position) of one user. offers: hash c:<campaign> -> "<times delivered> <last
    seen in reach (ms)>[ <request id>]", g:<campaign> -> when it was last delivered (ms), _p ->
    recent push times (ms), _e -> the expiry last set (ms); events: stream of the pushes of the last
    minutes (server-sent events resume from it); position: "lat,lng,ms" (WGS-84) with a TTL."""
    t = _tag(partition(user_id, partitions))
    return f"{t}:u:{user_id}:offers", f"{t}:u:{user_id}:events", f"{t}:u:{user_id}:pos"


def group_members(stream: str, group: str) -> str:
    """Sorted set of a consumer group's live members (score: last heartbeat, ms); ``stream`` is its
    first partition's stream key, whose hash tag it shares."""
    return f"{stream}:members:{group}"


def outbox(p: int) -> str:
    """Stream of one partition's push events, consumed by the senders' group."""
    return f"{_tag(p)}:outbox"


def push_stats(p: int) -> str:
    """Hash of one partition's per-campaign counts: <campaign>:p pushed, :h held back by the cap, :r
    delivered again to a user who had it (delivered = p + h, users = delivered - r: a delivery moves
    one count)."""
    return f"{_tag(p)}:stats"


def position_cell(p: int, cell: int, bucket: int) -> str:
    """Hash user -> "lat,lng,ms": the partition's users last seen in one H3 cell during one time
    bucket; it expires with its bucket, so a broadcast reads only recent positions."""
    return f"{_tag(p)}:cell:{cell:x}:{bucket}"


def fanout_stream(p: int) -> str:
    """Stream of broadcast chunks for one partition (a campaign and up to 500 of the partition's users
    found in its reach), consumed by the workers' fan-out group, which delivers them."""
    return f"{_tag(p)}:fanout"


def location_stream(p: int) -> str:
    """Stream of bulk location updates for one partition, consumed by the matchers' group."""
    return f"{_tag(p)}:locations"


def retries(p: int) -> str:
    """Sorted set of webhook deliveries to try again (member: JSON, score: when, ms)."""
    return f"{_tag(p)}:retries"


def dead_letters(endpoint_id: str) -> str:
    """Stream of one endpoint's webhook deliveries that failed for good (the newest 100,000)."""
    return f"push:ep:{{{endpoint_id}}}:dead"


def push_endpoints() -> str:
    """Hash: endpoint id -> JSON (url, secret, owner, state, disabled_reason)."""
    return "push:endpoints"


def push_endpoints_of(owner: str) -> str:
    """Set of one owner's endpoint ids; in push_endpoints()'s slot (its whole name is the tag), so
    that adding an endpoint and counting the owner's is one script."""
    return f"{{push:endpoints}}:of:{owner}"


def push_endpoint_health() -> str:
    """Hash: endpoint id -> when (ms) a delivery to it last succeeded, as senders record it (at
    most every minute each)."""
    return "push:endpoint-health"


def schedule() -> str:
    """Sorted set of timed jobs ("broadcast:<campaign>", "rain_end:<campaign>"), score: due (ms)."""
    return "schedule"


# ---------------------------------------------------------------- parking: one hash tag per lot
# A lot's sessions, its open-plate index, occupancy, ledger and gate-event answers share the lot's
# slot, so an entry or an exit (and the charge booked with it) is one atomic script.


def lot_keys(lot_id: str) -> dict[str, str]:
    """meta (hash: the lot, its secrets, occupied), open (hash plate -> open session id), ledger
    (stream of money moves), review (stream of gate events staff must look at)."""
    return {part: f"lot:{{{lot_id}}}:{part}" for part in ("meta", "open", "ledger", "review")}


def lot_session(lot_id: str, session_id: str) -> str:
    """Hash: one parking session (plate, entered/exited, fee, charged, state, validations)."""
    return f"lot:{{{lot_id}}}:s:{session_id}"


def gate_answer(lot_id: str, webhook_id: str) -> str:
    """String: the answer given to one gate webhook-id ("pending" while it is being decided)."""
    return f"lot:{{{lot_id}}}:hook:{webhook_id}"


def gate_recent(lot_id: str, lane: str, event_type: str, plate: str) -> str:
    """String: the answer to the last read of a plate on a lane (entry or exit); a second read within
    20 s is the same event."""
    return f"lot:{{{lot_id}}}:recent:{lane}:{event_type}:{plate}"


def lots() -> str:
    """Set of all lot ids."""
    return "lots"


def operator_lots(operator_id: str) -> str:
    """Set of one operator's lot ids."""
    return f"operator:{{{operator_id}}}:lots"


def plate_binding(plate: str) -> str:
    """Hash: user_id, payment_token, bound_at of the one active payment binding of a plate."""
    return f"plate:{{{plate}}}"


def unpaid_sessions() -> str:
    """Sorted set of "<lot id> <session id>" whose charge failed, to charge again (score: due, ms)."""
    return "parking:unpaid"


# ---------------------------------------------------------------- guides: one hash tag per operator
# All of one operator's guide data (guides, member bindings, orders, refunds, ledger, totals) shares
# the tag {gd:<operator id>}: a service, an order or a refund is one atomic script on one slot, on a
# single server or a Cluster. The cost: one operator's guide traffic is one slot's, on one primary
# (docs/guides.md, "Storage").


def _gd(operator_id: str) -> str:
    return f"{{gd:{operator_id}}}"


def guide_keys(operator_id: str) -> dict[str, str]:
    """One operator's guide keys: guides (hash guide id -> JSON record), guide_ids (zset, score 0:
    every guide id, by id), version (string: a counter bumped by every change of a guide that can
    change an attribution), inactive (hash guide id -> "<deactivated ms> <transfer to>"), bind (hash
    member (scoped user id) -> "<guide id> <bound ms> <last served ms>"), hist (hash member ->
    "<from ms>:<guide id>,...": the member's bindings, oldest first), orders (hash order id -> JSON
    record), refunds (hash refund id -> JSON record), ledger (stream: every order and refund, with
    its commission or reversal), totals (hash: g:<guide>:orders|revenue_cents|commission_cents and
    c:<campaign>:conversions|revenue_cents, net of refunds)."""
    t = _gd(operator_id)
    return {part: f"{t}:{part}" for part in ("guides", "guide_ids", "version", "inactive", "bind", "hist", "orders",
                                             "refunds", "ledger", "totals")}


def guide_members(operator_id: str, guide_id: str) -> str:
    """Sorted set (score 0, by member id): the members bound to one guide now."""
    return f"{_gd(operator_id)}:members:{guide_id}"


def district_guides(operator_id: str, district_id: str) -> str:
    """Sorted set (score 0, by id): the guides of one of the operator's districts."""
    return f"{_gd(operator_id)}:district:{district_id}"


def guide_orders(operator_id: str, guide_id: str) -> str:
    """Sorted set: the order ids attributed to one guide, by the order's time (ms)."""
    return f"{_gd(operator_id)}:guide-orders:{guide_id}"


def guide_owners() -> str:
    """Hash: guide id -> its operator (to find a guide by its id alone)."""
    return "guides:owners"


# ---------------------------------------------------------------- idempotency keys


def idempotency(record_id: str) -> str:
    """Hash: one principal's use of one Idempotency-Key, named by ``record_id``, a SHA-256 of both
    (never the key itself): fp (the request's keyed fingerprint), state (pending | done), token (the
    run holding it while pending), status, ctype and body (the answer, encrypted) once done."""
    return f"idem:{{{record_id}}}"


def replication_barrier(key: str) -> str:
    """String: a throwaway write in ``key``'s slot (same hash tag), so that a WAIT after it covers
    every earlier write to that slot, whichever connection made them."""
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    # Redis hashes a key by its first {...} with something inside, else by the whole key.
    if end > start + 1:
        return f"wait:{key[start:end + 1]}"
    if "}" in key:
        raise ValueError(f"no barrier key shares the slot of {key!r}")
    return f"wait:{{{key}}}"
