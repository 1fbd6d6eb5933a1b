"""How many partitions a deployment spreads its users over (``keys.partition``).

A user's delivery state, events, position and its partition's outbox share one hash tag, so the
location path of a Redis Cluster runs on at most as many primaries as there are partitions
(docs/scaling.md). The count is part of the data layout: another count re-homes every user, whose
delivery state would start over. It is therefore chosen when a deployment first starts
(``DE_PARTITIONS``, default 16) and kept in Redis; every process, and every later start, uses the
recorded count. A process that asks for another one is told so in its log, and uses the recorded one.
"""

from __future__ import annotations

import logging

from district_engine.errors import InvalidInputError
from district_engine.store import keys

__all__ = ["DEFAULT_PARTITIONS", "MAX_PARTITIONS", "partition_count"]

DEFAULT_PARTITIONS = 16
MAX_PARTITIONS = 1024  # every poll of a partitioned stream reads each partition: see docs/scaling.md

log = logging.getLogger(__name__)


def partition_count(client, wanted: int | None = None) -> int:
    """The deployment's partition count. On its first start, ``wanted`` (None: DEFAULT_PARTITIONS)
    is recorded; afterwards the recorded count wins."""
    if wanted is not None and not (isinstance(wanted, int) and 1 <= wanted <= MAX_PARTITIONS):
        raise InvalidInputError(f"must be an integer from 1 to {MAX_PARTITIONS}, got {wanted!r}", field="partitions")
    client.set(keys.layout(), wanted or DEFAULT_PARTITIONS, nx=True)
    recorded = int(client.get(keys.layout()))
    if wanted is not None and wanted != recorded:
        log.warning("%d partitions asked for, but this deployment's data is laid out in %d: using %d "
                    "(another count would re-home every user)", wanted, recorded, recorded)
    return recorded
