"""Push endpoints as their owners manage them: register a webhook URL (checked: only public
addresses unless private ones are allowed), list, enable, delete, and the dead letters of one,
read a page at a time or queued again with the same webhook-ids."""

from __future__ import annotations

from district_engine.clock import Clock, ms
from district_engine.delivery.urls import check_endpoint_url
from district_engine.errors import ConflictError
from district_engine.store.endpoints import Endpoint, EndpointStore
from district_engine.store.outbox import Outbox

__all__ = ["Endpoints"]


class Endpoints:
    """``max_per_owner``: endpoints one owner may have; ``allow_private``: accept URLs of private
    addresses (development only)."""

    def __init__(self, store: EndpointStore, outbox: Outbox, clock: Clock, max_per_owner: int = 10,
                 allow_private: bool = False):
        self.store = store
        self.outbox = outbox
        self.clock = clock
        self.max_per_owner = max_per_owner
        self.allow_private = allow_private

    def create(self, url: str, owner: str) -> Endpoint:
        return self.store.create(check_endpoint_url(url, self.allow_private), owner, self.max_per_owner)

    def of(self, owner: str) -> list[Endpoint]:
        return self.store.of(owner)

    def get(self, endpoint_id: str, owner: str) -> Endpoint:
        return self.store.get(endpoint_id, owner)

    def delete(self, endpoint_id: str, owner: str) -> None:
        self.store.delete(endpoint_id, owner)

    def enable(self, endpoint_id: str, owner: str) -> Endpoint:
        return self.store.enable(endpoint_id, owner)

    def dead_letters(self, endpoint_id: str, owner: str, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        """A page of the owner's endpoint's dead letters, newest first, and the cursor of the next."""
        e = self.store.get(endpoint_id, owner)
        return self.outbox.dead_letters(e.id, cursor, limit)

    def replay(self, endpoint_id: str, owner: str, limit: int) -> tuple[int, int]:
        """Queue the endpoint's dead letters again, oldest first: (queued, left)."""
        e = self.store.get(endpoint_id, owner)
        if e.state != "active":  # the sender would put them straight back
            raise ConflictError("the endpoint is disabled; enable it first", code="endpoint_disabled")
        return self.outbox.replay(e.id, ms(self.clock()), limit)
