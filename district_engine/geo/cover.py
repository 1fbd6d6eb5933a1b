"""H3 covers of reach areas: the cells within ``radius_m`` of each footprint, split into interior
cells (every point of the cell is in reach, no exact check needed) and boundary cells (an exact
distance check decides).

How the cells are found, for many footprints at once:
1. each footprint's centre cell, and a grid-disk size k large enough to hold every cell whose
   centre is within ``extent + radius + cell radius`` of the footprint's centre (k from the local
   cell edge length, with a 10% safety margin, and checked afterwards: a kept cell on the disk's
   outermost ring makes the footprint's disk grow until none is);
2. per unique candidate cell, its centre and its exact circumradius (the farthest vertex);
3. a compiled pass classifies every (cell, footprint) pair by centre distance +- circumradius,
   which is exact in the sense that matters: a cell left out has no point within reach, and an
   interior cell has no point out of reach.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import NamedTuple

import h3.api.basic_int as h3i
import h3ronpy
import h3ronpy.vector as h3v
import numpy as np

from district_engine.geo.geodesy import CompiledFootprints, ecef
from district_engine.geo.kernels import INTERIOR, OUTSIDE, classify_cells
from district_engine.progress import progress_task

__all__ = ["ReachCover", "reach_cover", "cell_geometry", "REACH_RES"]

REACH_RES = 8
_CHUNK = 4096
_CELL_RADIUS_MARGIN_M = 0.5  # covers the sphere-vs-ellipsoid shape of H3 edges many times over
_K_SAFETY = 0.9


class ReachCover(NamedTuple):
    """Cells in reach: parallel arrays of H3 cell (uint64), footprint index (int32), interior flag."""

    cells: np.ndarray
    footprint: np.ndarray
    interior: np.ndarray


def cell_geometry(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ECEF centres (n, 3) and circumradii (m) of H3 cells (uint64)."""
    centres = h3v.cells_to_coordinates(cells)
    centre_xyz = ecef(np.asarray(centres.column("lat")), np.asarray(centres.column("lng")))
    boundaries = list(map(h3i.cell_to_boundary, cells.tolist()))
    counts = np.fromiter(map(len, boundaries), dtype=np.int64, count=len(boundaries))
    flat = chain.from_iterable(chain.from_iterable(boundaries))
    vertices = np.fromiter(flat, dtype=np.float64, count=2 * int(counts.sum())).reshape(-1, 2)
    owner = np.repeat(np.arange(cells.size), counts)
    d = np.linalg.norm(ecef(vertices[:, 0], vertices[:, 1]) - centre_xyz[owner], axis=1)
    radius = np.zeros(cells.size)
    np.maximum.at(radius, owner, d)
    return centre_xyz, radius + _CELL_RADIUS_MARGIN_M


def _disk_sizes(centre_cells: np.ndarray, extents_m: np.ndarray, radius_m: float) -> np.ndarray:
    """Grid-disk k per footprint, from the local cell size around its centre cell."""
    unique, inverse = np.unique(centre_cells, return_inverse=True)
    _, local_radius = cell_geometry(unique)
    # Centres of cells k rings apart are at least 1.5 * edge * k apart; a regular hexagon's edge
    # equals its circumradius, and the centre cell's own circumradius bounds its neighbours' well.
    step_m = 1.5 * local_radius[inverse] * _K_SAFETY
    reach_m = extents_m + radius_m + 2.0 * local_radius[inverse]
    return np.ceil(reach_m / step_m).astype(np.int64) + 1


def _disks(centre_cells: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of each footprint's k-disk, with the owner's position in ``centre_cells`` and ring."""
    batch = h3ronpy.grid_disk_distances(centre_cells, k, flatten=True)
    cells = np.asarray(batch.column("cell"))
    ring = np.asarray(batch.column("k"))
    per = 1 + 3 * k * (k + 1)
    if cells.size == per * centre_cells.size:
        owner = np.repeat(np.arange(centre_cells.size), per)
    else:  # a pentagon in some disk: fewer cells; take the owners one disk at a time
        sizes = [len(h3i.grid_disk(int(c), k)) for c in centre_cells]
        owner = np.repeat(np.arange(centre_cells.size), sizes)
    return cells, owner, ring


def reach_cover(fp: CompiledFootprints, radius_m: float, res: int = REACH_RES, progress: bool = False) -> ReachCover:
    """The reach cover of every footprint in ``fp`` at H3 resolution ``res``."""
    n = fp.frames.shape[0]
    centre_cells = np.asarray(h3v.coordinates_to_cells(fp.centres[:, 0], fp.centres[:, 1], res)).astype(np.uint64)
    k_all = _disk_sizes(centre_cells, fp.extents_m(), radius_m)
    # Spatially close footprints share candidate cells: process them together.
    order = np.argsort(centre_cells, kind="stable")
    chunks = [order[i : i + _CHUNK] for i in range(0, n, _CHUNK)]

    with progress_task("reach cover: candidate cells", len(chunks), progress) as advance:
        seen = []
        for idx in chunks:
            for k in np.unique(k_all[idx]):
                sel = idx[k_all[idx] == k]
                seen.append(np.unique(_disks(centre_cells[sel], int(k))[0]))
            advance()
    candidates = np.unique(np.concatenate(seen)) if seen else np.empty(0, np.uint64)

    chunk = 65536
    with progress_task("reach cover: cell geometry", -(-candidates.size // chunk), progress) as advance:
        table = _CellTable(candidates, chunk, advance)
    out_cells, out_fp, out_interior = [], [], []
    with progress_task("reach cover: classify", len(chunks), progress) as advance:
        for idx in chunks:
            todo = [(idx[k_all[idx] == k], int(k)) for k in np.unique(k_all[idx])]
            while todo:
                sel, k = todo.pop()
                cells, owner, ring = _disks(centre_cells[sel], k)
                fp_of = sel[owner]
                slot = table.slots(cells)  # first: it may grow the table
                code = classify_cells(table.xyz, table.radius, slot, fp_of.astype(np.int64),
                                      fp.frames, fp.edges, fp.edge_offsets, radius_m)
                keep = code != OUTSIDE
                rim = np.unique(fp_of[keep & (ring == k)])
                if rim.size:  # the disk was too small for these footprints: grow it and redo them
                    todo.append((rim, k + 2))
                    keep &= ~np.isin(fp_of, rim)
                out_cells.append(cells[keep])
                out_fp.append(fp_of[keep].astype(np.int32))
                out_interior.append(code[keep] == INTERIOR)
            advance()

    if not out_cells:
        return ReachCover(np.empty(0, np.uint64), np.empty(0, np.int32), np.empty(0, bool))
    return ReachCover(np.concatenate(out_cells), np.concatenate(out_fp), np.concatenate(out_interior))


class _CellTable:
    """Sorted candidate cells with their ECEF centres and circumradii; grows on demand."""

    def __init__(self, cells: np.ndarray, chunk: int, advance: Callable[[], object]):
        self.cells = cells
        self.xyz = np.empty((cells.size, 3))
        self.radius = np.empty(cells.size)
        for i in range(0, cells.size, chunk):
            self.xyz[i:i + chunk], self.radius[i:i + chunk] = cell_geometry(cells[i:i + chunk])
            advance()

    def slots(self, cells: np.ndarray) -> np.ndarray:
        """Row of each cell in the table, adding the cells it lacks."""
        slot = np.searchsorted(self.cells, cells)
        missing = slot >= self.cells.size
        missing[~missing] = self.cells[slot[~missing]] != cells[~missing]
        if missing.any():
            extra = np.unique(cells[missing])
            xyz, radius = cell_geometry(extra)
            all_cells = np.concatenate([self.cells, extra])
            order = np.argsort(all_cells, kind="stable")
            self.cells = all_cells[order]
            self.xyz = np.ascontiguousarray(np.concatenate([self.xyz, xyz])[order])
            self.radius = np.concatenate([self.radius, radius])[order]
            slot = np.searchsorted(self.cells, cells)
        return slot
