"""Matcher benchmark: 200,000 synthetic stores in 400 cities, 1,000,000 pings near them.

Prints index build time and memory, match_many / contains_many / match throughput, and in the
same run the same workload on two baselines, with how many answers of each differ from the
geodesic truth (pyproj.Geod, on a sample of pings):
  (a) naive numpy: res-7 grid-disk candidates, haversine to each store's centre <= radius;
  (b) Redis GEOSEARCH BYRADIUS (a redis-server this script starts), pipelined from Python.

    make bench                       # full size
    python bench/matcher.py --stores 20000 --cities 40 --pings 100000    # quick look
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import h3ronpy
import h3ronpy.vector as h3v
import numba
import numpy as np
import psutil
import redis
from rich.console import Console
from rich.table import Table

from district_engine import ReachIndex
from district_engine.districts.synthetic import synthetic_pings, synthetic_stores
from district_engine.geo.reference import reference_distance_m
from district_engine.store import EmbeddedRedis

console = Console(width=130)
RADIUS_M = 3000.0
EARTH_R = 6371008.8
BATCH = 100_000


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


# ---------------------------------------------------------------- truth and scoring
def truth_pairs(stores, centres, extents, lat, lng) -> set[tuple[int, str]]:
    """(ping, store id) with reference geodesic distance <= radius; pairs within 1 m of it are marked."""
    cand_p, cand_s = haversine_candidates(centres, lat, lng, RADIUS_M + extents.max() + 100.0)
    ref = reference_distance_m(lat[cand_p], lng[cand_p], [stores[s].geometry for s in cand_s])
    inside = ref <= RADIUS_M
    ambiguous = np.abs(ref - RADIUS_M) <= 1.0
    ids = np.array([s.id for s in stores], dtype=object)
    return ({(int(p), ids[s]) for p, s in zip(cand_p[inside], cand_s[inside])},
            {(int(p), ids[s]) for p, s in zip(cand_p[ambiguous], cand_s[ambiguous])})


def score(name, got: set, truth: set, ambiguous: set, n_pings: int) -> dict:
    wrong = (got ^ truth) - ambiguous
    return {"method": name, "pairs_wrong": len(wrong), "pings_wrong": len({p for p, _ in wrong}),
            "pairs_true": len(truth), "pings_checked": n_pings}


# ---------------------------------------------------------------- baseline (a): naive numpy
def haversine_m(lat1, lng1, lat2, lng2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lng2 - lng1) / 2) ** 2
    return 2 * EARTH_R * np.arcsin(np.sqrt(a))


class NaiveIndex:
    """Stores as centre points bucketed by res-7 cell; candidates from a k=3 grid disk."""

    RES, K = 7, 3

    def __init__(self, centres):
        cells = np.asarray(h3v.coordinates_to_cells(centres[:, 0], centres[:, 1], self.RES)).astype(np.uint64)
        self.order = np.argsort(cells, kind="stable")
        self.cells = cells[self.order]
        self.centres = centres[self.order]

    def match_many(self, lat, lng, radius_m=RADIUS_M):
        cells = np.asarray(h3v.coordinates_to_cells(lat, lng, self.RES)).astype(np.uint64)
        disk = np.asarray(h3ronpy.grid_disk(cells, self.K, flatten=True))
        per = disk.size // lat.size
        owner = np.repeat(np.arange(lat.size), per)
        lo = np.searchsorted(self.cells, disk, "left")
        hi = np.searchsorted(self.cells, disk, "right")
        counts = hi - lo
        point = np.repeat(owner, counts)
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        store = starts + np.arange(point.size)
        d = haversine_m(lat[point], lng[point], self.centres[store, 0], self.centres[store, 1])
        keep = d <= radius_m
        return point[keep], self.order[store[keep]], d[keep]


def haversine_candidates(centres, lat, lng, radius_m):
    point, store, _ = NaiveIndex(centres).match_many(lat, lng, radius_m)
    return point, store


# ---------------------------------------------------------------- baseline (b): Redis GEOSEARCH
def redis_geosearch(client, ids, centres, lat, lng, pipeline=1000):
    pipe = client.pipeline(transaction=False)
    for i in range(0, len(ids), 10_000):
        chunk = [x for j in range(i, min(i + 10_000, len(ids))) for x in (float(centres[j, 1]), float(centres[j, 0]), ids[j])]
        client.geoadd("stores", chunk)
    results = []
    t = time.perf_counter()
    for i in range(0, lat.size, pipeline):
        for j in range(i, min(i + pipeline, lat.size)):
            # The raw command skips redis-py's per-reply float parsing: the fastest fair Python client.
            pipe.execute_command("GEOSEARCH", "stores", "FROMLONLAT", float(lng[j]), float(lat[j]),
                                 "BYRADIUS", RADIUS_M, "m", "ASC", "WITHDIST")
        results.extend(pipe.execute())
    elapsed = time.perf_counter() - t
    server_us = client.info("commandstats")["cmdstat_geosearch"]["usec_per_call"]
    return results, elapsed, server_us


# ---------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stores", type=int, default=200_000)
    ap.add_argument("--cities", type=int, default=400)
    ap.add_argument("--pings", type=int, default=1_000_000)
    ap.add_argument("--truth-sample", type=int, default=1000)
    ap.add_argument("--redis-queries", type=int, default=50_000)
    ap.add_argument("--sweep", action=argparse.BooleanOptionalAction, default=True,
                    help="also build res 7, 8, 9 on a quarter of the stores")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "matcher.json")
    args = ap.parse_args(argv)
    results: dict = {"stores": args.stores, "cities": args.cities, "pings": args.pings, "radius_m": RADIUS_M,
                     "threads": numba.config.NUMBA_NUM_THREADS}

    console.rule(f"{args.stores:,} stores in {args.cities} cities, {args.pings:,} pings")
    stores, t = timed(synthetic_stores, args.stores, args.cities)
    lat, lng = synthetic_pings(stores, args.pings)
    rss0 = rss_mb()
    index, t_build = timed(ReachIndex, stores, RADIUS_M, progress=True)
    results |= {"build_s": t_build, "index_mb": index.nbytes / 2**20, "rss_before_build_mb": rss0,
                "rss_after_build_mb": rss_mb(), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "cells": int(index.cells.size),
                "entries": int(index.entry_district.size), "interior_share": float(index.entry_interior.mean())}
    index.match_many(lat[:100], lng[:100])
    index.contains_many(lat[:100], lng[:100])

    def batched(fn):
        n_pairs, t0 = 0, time.perf_counter()
        for i in range(0, lat.size, BATCH):
            out = fn(lat[i:i + BATCH], lng[i:i + BATCH])
            n_pairs += out[0].size
        return n_pairs, time.perf_counter() - t0

    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        numba.set_num_threads(threads)
        pairs, t = batched(lambda a, b: index.match_many(a, b, ids=False))
        results[f"match_many_{threads}t"] = {"pings_s": lat.size / t, "pairs_s": pairs / t, "pairs_per_ping": pairs / lat.size}
        _, t = batched(lambda a, b: index.match_many(a, b))
        results[f"match_many_ids_{threads}t"] = {"pings_s": lat.size / t}
        _, t = batched(index.contains_many)
        results[f"contains_many_{threads}t"] = {"pings_s": lat.size / t}
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)

    sample = min(20_000, lat.size)
    la, ln = lat[:sample].tolist(), lng[:sample].tolist()
    times = []
    for a, b in zip(la, ln):
        t0 = time.perf_counter()
        index.match(a, b)
        times.append(time.perf_counter() - t0)
    hot = []
    for a, b in zip(la[:200] * 50, ln[:200] * 50):  # a busy district: the same few places again and again
        t0 = time.perf_counter()
        index.match(a, b)
        hot.append(time.perf_counter() - t0)
    results["match_single_us"] = {"median": float(np.median(times) * 1e6), "p99": float(np.percentile(times, 99) * 1e6),
                                  "median_hot": float(np.median(hot[200:]) * 1e6)}

    centres = np.array([s.centre for s in stores])
    naive = NaiveIndex(centres)
    naive.match_many(lat[:100], lng[:100])
    n_naive = min(lat.size, 200_000)
    _, t = timed(lambda: [naive.match_many(lat[i:i + BATCH], lng[i:i + BATCH]) for i in range(0, n_naive, BATCH)])
    results["naive_numpy"] = {"pings_s": n_naive / t}

    with tempfile.TemporaryDirectory(prefix="de-bench-redis-") as workdir, \
            EmbeddedRedis(workdir, persistent=False) as server:
        client = redis.Redis.from_url(server.url)
        ids = [s.id for s in stores]
        nq = min(args.redis_queries, lat.size)
        redis_out, t, server_us = redis_geosearch(client, ids, centres, lat[:nq], lng[:nq])
        results["redis_geosearch"] = {"queries_s": nq / t, "server": client.info("server")["redis_version"],
                                      "server_us_per_query": server_us, "server_ceiling_queries_s": 1e6 / server_us}

    # Correctness against the geodesic truth on a sample of pings (the reference is slow).
    n = min(args.truth_sample, lat.size)
    extents = np.array([0.0]) if not stores else index.footprints.extents_m()
    truth, ambiguous = truth_pairs(stores, centres, extents, lat[:n], lng[:n])
    m = index.match_many(lat[:n], lng[:n])
    engine = {(int(p), d) for p, d in zip(m.point_index, m.district_id)}
    p, s, _ = naive.match_many(lat[:n], lng[:n])
    naive_set = {(int(a), stores[b].id) for a, b in zip(p, s)}
    redis_set = {(i, member.decode()) for i, rows in enumerate(redis_out[:n]) for member, _ in rows}
    results["accuracy"] = [score("engine", engine, truth, ambiguous, n), score("naive_numpy", naive_set, truth, ambiguous, n),
                           score("redis_geosearch", redis_set, truth, ambiguous, min(n, len(redis_out)))]

    if args.sweep:
        sub = stores[: max(1, len(stores) // 4)]
        sweep = []
        for res in (7, 8, 9):
            idx, t = timed(ReachIndex, sub, RADIUS_M, res)
            idx.match_many(lat[:100], lng[:100], ids=False)
            n_sw = min(lat.size, 400_000)
            s_lat, s_lng = synthetic_pings(sub, n_sw, seed=5)
            runs = []
            for _ in range(3):  # median of three: one pass is at the mercy of the allocator
                t0 = time.perf_counter()
                found = sum(idx.match_many(s_lat[i:i + BATCH], s_lng[i:i + BATCH], ids=False).point_index.size
                            for i in range(0, n_sw, BATCH))
                runs.append(time.perf_counter() - t0)
            tm = float(np.median(runs))
            slot = idx._slots(np.asarray(h3v.coordinates_to_cells(s_lat, s_lng, res)).astype(np.uint64))
            cand = np.where(slot >= 0, idx.cell_offsets[slot + 1] - idx.cell_offsets[slot], 0).mean()
            sweep.append({"res": res, "stores": len(sub), "build_s": t, "index_mb": idx.nbytes / 2**20,
                          "entries_per_store": idx.entry_district.size / len(sub), "candidates_per_ping": float(cand),
                          "matches_per_ping": found / n_sw,
                          "interior_share": float(idx.entry_interior.mean()), "pings_s": n_sw / tm})
            del idx
        results["res_sweep"] = sweep

    report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    console.print(f"results written to {args.out}")
    return results


def report(r: dict) -> None:
    t = Table(title="index")
    for col in ("build (s)", "index arrays (MB)", "RSS before/after build, peak (MB)", "cells", "entries", "interior share"):
        t.add_column(col, justify="right")
    t.add_row(f"{r['build_s']:.1f}", f"{r['index_mb']:.0f}",
              f"{r['rss_before_build_mb']:.0f} / {r['rss_after_build_mb']:.0f}, {r['peak_rss_mb']:.0f}",
              f"{r['cells']:,}", f"{r['entries']:,}", f"{r['interior_share']:.0%}")
    console.print(t)

    redis_qps = r["redis_geosearch"]["queries_s"]
    t = Table(title=f"throughput (ratios against Redis GEOSEARCH {r['redis_geosearch']['server']}, measured in this run)")
    for col in ("method", "pings/s", "x Redis", "pairs/s"):
        t.add_column(col, justify="right" if col != "method" else "left")
    for key in sorted(k for k in r if k.startswith(("match_many", "contains_many"))):
        v = r[key]
        t.add_row(key, f"{v['pings_s']:,.0f}", f"{v['pings_s'] / redis_qps:.1f}",
                  f"{v['pairs_s']:,.0f}" if "pairs_s" in v else "")
    t.add_row("naive numpy (haversine to centres)", f"{r['naive_numpy']['pings_s']:,.0f}",
              f"{r['naive_numpy']['pings_s'] / redis_qps:.1f}", "")
    t.add_row("Redis GEOSEARCH (pipelined)", f"{redis_qps:,.0f}", "1.0", "")
    ceiling = r["redis_geosearch"]["server_ceiling_queries_s"]
    t.add_row(f"  its server alone ({r['redis_geosearch']['server_us_per_query']:.0f} us/query, a ceiling)",
              f"{ceiling:,.0f}", f"{ceiling / redis_qps:.1f}", "")
    s = r["match_single_us"]
    t.add_row("match() single point", f"median {s['median']:.1f} us, p99 {s['p99']:.1f} us, "
              f"same 200 places again: median {s['median_hot']:.1f} us", "", "")
    console.print(t)
    best = max(r[k]["pings_s"] for k in r if k.startswith("match_many_") and "ids" not in k)
    console.print(f"match_many vs Redis: {best / redis_qps:.1f}x the pipelined client, "
                  f"{best / ceiling:.1f}x the server's own ceiling")

    t = Table(title="answers that differ from the geodesic truth (pyproj.Geod; pairs within 1 m of the radius excused)")
    for col in ("method", "pings checked", "true pairs", "wrong pairs", "pings with a wrong answer"):
        t.add_column(col, justify="right" if col != "method" else "left")
    for a in r["accuracy"]:
        t.add_row(a["method"], f"{a['pings_checked']:,}", f"{a['pairs_true']:,}", f"{a['pairs_wrong']:,}", f"{a['pings_wrong']:,}")
    console.print(t)

    if "res_sweep" in r:
        t = Table(title="H3 resolution of the reach cover (a quarter of the stores)")
        for col in ("res", "build (s)", "index (MB)", "entries/store", "candidates/ping", "matches/ping", "interior", "pings/s"):
            t.add_column(col, justify="right")
        for x in r["res_sweep"]:
            t.add_row(str(x["res"]), f"{x['build_s']:.1f}", f"{x['index_mb']:.0f}", f"{x['entries_per_store']:.0f}",
                      f"{x['candidates_per_ping']:.1f}", f"{x['matches_per_ping']:.1f}", f"{x['interior_share']:.0%}",
                      f"{x['pings_s']:,.0f}")
        console.print(t)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
