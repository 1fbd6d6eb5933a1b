"""The reach index: H3 cell -> districts whose reach (footprint buffered by ``radius_m``) touches it.

Layout (no per-cell Python objects): ``cells`` is a sorted uint64 array of H3 cells at ``res``;
``cell_offsets`` is its CSR into ``entry_district`` (int32 position of a district in
``district_ids``) and ``entry_interior`` (the cell lies wholly within that district's reach).
A lookup is one binary search per point; each candidate is then decided by the exact geodesic
distance (``geo.geodesy``), so a district matches iff its distance is <= radius_m, to about 1 mm.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import NamedTuple, Sequence

import h3.api.basic_int as h3i
import h3ronpy.vector as h3v
import numpy as np
from numpy.typing import ArrayLike

from district_engine.districts.model import District
from district_engine.errors import InvalidInputError, NotFoundError
from district_engine.geo.coords import to_wgs84
from district_engine.geo.cover import REACH_RES, reach_cover
from district_engine.geo.geodesy import compile_footprints, ecef
from district_engine.geo.points import MAX_RADIUS_M, check_radius_m
from district_engine.matching.kernels import gather_rows, match_one, match_points

__all__ = ["ReachIndex", "Match", "BatchMatches"]

_CHUNK = 1 << 17  # points per kernel call: keeps the candidate buffers (about 100 MB) warm
# The batch kernels already use every core; one batch at a time per process also keeps numba's
# fallback "workqueue" threading layer, which aborts on concurrent launches, safe under threads.
_PARALLEL = threading.Lock()


class Match(NamedTuple):
    district_id: str
    distance_m: float


class BatchMatches(NamedTuple):
    """Matches of a batch of points, grouped by point (ascending), nearest first within a point.

    ``district_id`` holds ids (str) or, with ``ids=False``, positions in ``ReachIndex.district_ids``.
    """

    point_index: np.ndarray
    district_id: np.ndarray
    distance_m: np.ndarray


def _spatial_order(districts: list[District]) -> np.ndarray:
    if not districts:
        return np.empty(0, np.int64)
    centres = np.array([d.centre for d in districts])
    cells = np.asarray(h3v.coordinates_to_cells(centres[:, 0], centres[:, 1], 6))
    return np.argsort(cells, kind="stable")


class ReachIndex:
    """Which districts' reach contains a point; built once from any number of districts."""

    def __init__(self, districts: Sequence[District], radius_m: float = MAX_RADIUS_M, res: int = REACH_RES,
                 progress: bool = False):
        self.radius_m = check_radius_m(radius_m)
        if not (isinstance(res, int) and 5 <= res <= 12):
            raise InvalidInputError(f"must be an integer H3 resolution in 5..12, got {res!r}", field="res")
        self.res = res
        # Neighbours in space become neighbours in memory: the matcher reads them together.
        districts = list(districts)
        self.districts: list[District] = [districts[i] for i in _spatial_order(districts)]
        self.district_ids = np.array([d.id for d in self.districts], dtype=object)
        self._position = {d.id: i for i, d in enumerate(self.districts)}
        if len(self._position) != len(self.districts):
            dup = next(i for i, n in Counter(self.district_ids.tolist()).items() if n > 1)
            raise InvalidInputError(f"duplicate district id {dup!r}", field="id")
        self.footprints = compile_footprints([d.geometry for d in self.districts])
        self._extents = self.footprints.extents_m()
        cover = reach_cover(self.footprints, self.radius_m, res, progress=progress)
        order = np.lexsort((cover.footprint, cover.cells))
        cells = cover.cells[order]
        first = np.flatnonzero(np.concatenate([[True], cells[1:] != cells[:-1]])) if cells.size else np.empty(0, int)
        self.cells = cells[first]
        self.cell_offsets = np.append(first, cells.size).astype(np.int64)
        self.entry_district = np.ascontiguousarray(cover.footprint[order])
        self.entry_interior = np.ascontiguousarray(cover.interior[order])

    def __len__(self) -> int:
        return len(self.districts)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays (cells, CSR, footprints)."""
        return int(self.cells.nbytes + self.cell_offsets.nbytes + self.entry_district.nbytes
                   + self.entry_interior.nbytes + self.footprints.nbytes)

    def has(self, district_id: str) -> bool:
        return district_id in self._position

    def district(self, district_id: str) -> District:
        try:
            return self.districts[self._position[district_id]]
        except KeyError:
            raise NotFoundError(f"no district {district_id!r}", field="district_id") from None

    def cover(self, district_id: str) -> tuple[np.ndarray, np.ndarray]:
        """The district's reach cells (uint64 H3 ids, sorted) and whether each is interior."""
        pos = self._position.get(district_id)
        if pos is None:
            raise NotFoundError(f"no district {district_id!r}", field="district_id")
        rows = np.flatnonzero(self.entry_district == pos)
        cell_of_row = np.searchsorted(self.cell_offsets, rows, side="right") - 1
        return self.cells[cell_of_row], self.entry_interior[rows]

    def _slots(self, cells: np.ndarray) -> np.ndarray:
        slot = np.searchsorted(self.cells, cells)
        hit = slot < self.cells.size
        hit[hit] = self.cells[slot[hit]] == cells[hit]
        return np.where(hit, slot, -1)

    def _run(self, xyz: np.ndarray, slot: np.ndarray,
             measure: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Kernel call: per point, its row range in the output buffers and its match count."""
        counts = np.where(slot >= 0, self.cell_offsets[slot + 1] - self.cell_offsets[slot], 0)
        row_start = np.concatenate([[0], np.cumsum(counts)[:-1]]) if counts.size else counts
        cap = int(counts.sum())
        out_fp = np.empty(cap, np.int32)
        out_dist = np.empty(cap, np.float64)
        fp = self.footprints
        found = match_points(xyz, slot, row_start, self.cell_offsets, self.entry_district, self.entry_interior,
                             fp.frames, self._extents, fp.edges, fp.edge_offsets, self.radius_m, measure, out_fp, out_dist)
        return row_start, found, out_fp, out_dist

    def match(self, lat: float, lng: float, coord: str = "wgs84") -> list[Match]:
        """Districts whose reach contains (lat, lng), nearest first, with geodesic distance in metres."""
        lat, lng = to_wgs84(lat, lng, coord)
        if np.ndim(lat) != 0:
            raise InvalidInputError("match takes one point; use match_many for arrays", field="lat")
        fp = self.footprints
        out_fp, out_dist = match_one(lat, lng, np.uint64(h3i.latlng_to_cell(lat, lng, self.res)), self.cells,
                                     self.cell_offsets, self.entry_district, self.entry_interior, fp.frames,
                                     self._extents, fp.edges, fp.edge_offsets, self.radius_m)
        return list(map(Match._make, zip(self.district_ids[out_fp].tolist(), out_dist.tolist())))

    def _batches(self, lats: ArrayLike, lngs: ArrayLike, coord: str,
                 measure: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lat, lng = to_wgs84(np.atleast_1d(lats), np.atleast_1d(lngs), coord)
        lat, lng = lat.ravel(), lng.ravel()
        parts = [self._batch(lat[i:i + _CHUNK], lng[i:i + _CHUNK], i, measure) for i in range(0, lat.size, _CHUNK)]
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0)
        point, fp, dist = (np.concatenate(p) for p in zip(*parts))
        return point, fp, dist

    def _batch(self, lat: np.ndarray, lng: np.ndarray, first: int,
               measure: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cells = np.asarray(h3v.coordinates_to_cells(lat, lng, self.res)).astype(np.uint64, copy=False)
        # Points in cell order visit neighbouring districts together, so their footprints stay
        # in cache; gather_rows puts the rows back in point order.
        order = np.argsort(cells, kind="stable")
        xyz, slot = ecef(lat[order], lng[order]), self._slots(cells[order])
        with _PARALLEL:
            point, fp, dist = gather_rows(order, *self._run(xyz, slot, measure))
        return point + first, fp, dist

    def match_many(self, lats: ArrayLike, lngs: ArrayLike, coord: str = "wgs84", ids: bool = True) -> BatchMatches:
        """Vectorized ``match``: every (point, district) pair in reach, grouped by point, nearest first.

        ``ids=False`` gives district positions (int32, into ``district_ids``) instead of id strings,
        which saves building a string array on hot paths.
        """
        point, fp, dist = self._batches(lats, lngs, coord, measure=True)
        return BatchMatches(point, self.district_ids[fp] if ids else fp, dist)

    def contains_many(self, lats: ArrayLike, lngs: ArrayLike, coord: str = "wgs84") -> tuple[np.ndarray, np.ndarray]:
        """(point_index, district position) of every pair in reach, without distances.

        Interior cells answer without any geometry; only boundary candidates are measured.
        """
        point, fp, _ = self._batches(lats, lngs, coord, measure=False)
        return point, fp
