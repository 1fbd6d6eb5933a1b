"""A reach index that takes changes in O(changed): a large base ReachIndex, a small overlay built
from the districts changed since, and the base ids those changes hide.

An API process keeps one of these so that a district uploaded or edited anywhere reaches its
matcher within a second, however many districts the base holds; ``compacted`` folds the overlay
into a new base (a full build) when the overlay has grown, off the request path.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from district_engine.districts.model import District
from district_engine.geo.coords import to_wgs84
from district_engine.geo.points import MAX_RADIUS_M
from district_engine.matching.index import Match, ReachIndex

__all__ = ["LayeredIndex"]


class LayeredIndex:
    def __init__(self, districts: Sequence[District], radius_m: float = MAX_RADIUS_M, progress: bool = False):
        self.base = ReachIndex(districts, radius_m=radius_m, progress=progress)
        self.overlay = ReachIndex([], radius_m=radius_m)
        self.hidden: frozenset[str] = frozenset()

    @property
    def radius_m(self) -> float:
        return self.base.radius_m

    @property
    def overlay_size(self) -> int:
        """How far this index is from a single base: overlay districts plus hidden base districts."""
        return len(self.overlay) + len(self.hidden)

    def __len__(self) -> int:
        return len(self.base) - len(self.hidden) + len(self.overlay)

    def districts(self) -> list[District]:
        """Every district in effect: the base's not hidden, then the overlay's."""
        return [d for d in self.base.districts if d.id not in self.hidden] + self.overlay.districts

    def with_changes(self, put: Iterable[District] = (), deleted: Iterable[str] = ()) -> LayeredIndex:
        """A new index with ``put`` districts added or replaced and ``deleted`` ids removed.

        Costs a build of the overlay (the districts changed since the last compaction), never of
        the base.
        """
        overlay = {d.id: d for d in self.overlay.districts}
        put = list(put)
        deleted = set(deleted)
        for district_id in deleted:
            overlay.pop(district_id, None)
        for d in put:
            overlay[d.id] = d
        new = object.__new__(LayeredIndex)
        new.base = self.base
        new.hidden = self.hidden | {i for i in deleted | {d.id for d in put} if self.base.has(i)}
        new.overlay = ReachIndex(list(overlay.values()), radius_m=self.radius_m)
        return new

    def compacted(self, progress: bool = False) -> LayeredIndex:
        """The same districts in a single new base (a full build)."""
        return LayeredIndex(self.districts(), radius_m=self.radius_m, progress=progress)

    def match(self, lat: float, lng: float, coord: str = "wgs84") -> list[Match]:
        """As ReachIndex.match: districts in reach, nearest first."""
        lat, lng = to_wgs84(lat, lng, coord)  # once, for both layers
        found = self.base.match(lat, lng)
        if self.hidden:
            found = [m for m in found if m.district_id not in self.hidden]
        if len(self.overlay):
            found = sorted(found + self.overlay.match(lat, lng), key=lambda m: (m.distance_m, m.district_id))
        return found
