"""The change signals workers follow to keep their in-memory index and campaign cache fresh.

A signal says only which entity changed; readers reload that entity from its own keys, so a
signal repeated or read twice does no harm. Signals are written after the change itself, in their
own command (on Redis Cluster the stream lives in another slot), and readers also resynchronise in
full now and then, so a lost signal costs freshness, never correctness.
"""

from __future__ import annotations

from typing import NamedTuple

from district_engine.store import keys
from district_engine.store.connection import bounded_block

__all__ = ["Change", "signal", "read_after", "last_id", "newer"]

_MAXLEN = 100_000


class Change(NamedTuple):
    stream_id: str
    entity: str  # "district" or "campaign"
    id: str
    op: str  # "put" or "delete"


def signal(client, entity: str, entity_id: str, op: str) -> None:
    client.xadd(keys.changes(), {"entity": entity, "id": entity_id, "op": op}, maxlen=_MAXLEN, approximate=True)


def last_id(client) -> str:
    """The id of the newest signal, or "0-0": read before a full load, then follow from there."""
    newest = client.xrevrange(keys.changes(), count=1)
    return newest[0][0].decode() if newest else "0-0"


def read_after(client, after: str, block_ms: int | None = None, count: int = 10_000) -> list[Change]:
    """Signals newer than ``after``, oldest first (waiting up to ``block_ms`` for one)."""
    got = client.xread({keys.changes(): after}, count=count, block=bounded_block(client, block_ms))
    if not got:
        return []
    return [Change(sid.decode(), f[b"entity"].decode(), f[b"id"].decode(), f[b"op"].decode()) for sid, f in got[0][1]]


def newer(stream_id: str, than: str) -> bool:
    """Whether stream id ``stream_id`` comes after ``than`` (ids are "<ms>-<seq>")."""
    a_ms, a_seq = stream_id.split("-")
    b_ms, b_seq = than.split("-")
    return (int(a_ms), int(a_seq)) > (int(b_ms), int(b_seq))
