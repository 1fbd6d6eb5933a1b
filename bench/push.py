"""Push benchmark: a live campaign's broadcast to the users in its reach among 1,000,000,
and webhook delivery end to end through two worker processes.

(1) Broadcast fan-out. N users (--users, default 1,000,000) get last positions drawn from a
    Gaussian of sigma 12 km around Tiananmen (39.9042, 116.4074): Beijing inside its 5th ring
    road, densest at the centre, ~1,000 users/km2 around Sanlitun (5 km from the centre). They
    are written as the engine records them (DeliveryStore.position_commands: the position key and
    the user's entry in its res-7 H3 cell), pipelined. A live campaign of the demo Sanlitun
    district (radius 3,000 m) then goes out through Engine.broadcast: the cells covering the reach
    are read, the candidates kept by exact geodesic distance, and the users in reach queued in
    chunks for the fan-out. Target: >= 200,000 users in reach found and queued / s. Then the fan-out
    (Engine.fan_out, one consumer here; every worker runs one) delivers each: the at-most-once check,
    the cap, the outbox entry and the user's events, one atomic script per chunk.
    The time is broken down into the parts, each also timed alone.
    Baselines, same run, same redis-server: (a) GEOSEARCH BYRADIUS on a geo set of the same users
    (the classic Redis way to find the candidates), (b) a pipelined plain XADD of as many payloads
    (the least that writing one stream entry per user costs).
    Correctness: the users pushed are exactly those within 3,000 m by the engine's geodesic
    kernel over all N users, and the kernel agrees with pyproj.Geod on a sample.

(2) Webhook delivery. M events (--events, default 50,000), one per user, are enqueued through the
    delivery script; two `district-engine worker` processes send them, signed, to a local aiohttp
    receiver (bench/webhook_receiver.py) that verifies every signature. Timed from both workers
    running until the receiver has M unique verified events. Target: >= 5,000 events/s. Also
    shown: the rate from 10% to 90% of the events (without start-up and tail), and how many
    deliveries waited for a retry (POSTs that timed out; --push-timeout-s sets DE_PUSH_TIMEOUT_S).
    Baseline, same run: the receiver's own ceiling, pre-signed POSTs from one aiohttp client
    process at the workers' total concurrency.

Every process here (redis-server, workers, receiver, this one) shares the machine's cores; the
CPU% of each says what bounds a rate (100% = one core busy).

    make bench-push
    python bench/push.py --users 100000 --events 5000      # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import aiohttp
import h3.api.basic_int as h3i
import h3ronpy.vector as h3v
import numpy as np
import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from district_engine import load_demo_districts
from district_engine.campaigns.model import Campaign
from district_engine.delivery.events import offer_template, render
from district_engine.engine import Engine
from district_engine.event_format import EventIds
from district_engine.geo.cover import reach_cover
from district_engine.geo.geodesy import compile_footprints, ecef
from district_engine.geo.kernels import distances_to_footprint
from district_engine.geo.reference import reference_distance_m
from district_engine.signing import headers as signed_headers
from district_engine.store import EmbeddedRedis, connect, keys
from district_engine.store.deliveries import POSITION_RES, Delivery, Offering, Position
from district_engine.store.endpoints import EndpointStore
from district_engine.store.outbox import Outbox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpbench import start_worker, stop_processes  # noqa: E402  (the benches' shared helpers, beside this file)

console = Console(width=120)
BEIJING = (39.9042, 116.4074)  # Tiananmen
SIGMA_M = 12_000.0
M_PER_DEG = 111_195.0  # a degree of latitude on the mean sphere: plenty for a synthetic spread
RADIUS_M = 3000.0
DISTRICT_ID = "sanlitun-taikoo-li"
GEO_KEY, FLOOR_KEY = "bench:geo", "bench:floor"
# GEOSEARCH measures on a sphere (up to ~0.5% off the ellipsoid): a margin keeps its circle a superset.
GEO_MARGIN_M = 50.0
RECEIVER = Path(__file__).with_name("webhook_receiver.py")
SENDER_CONCURRENCY = 256  # Sender's default connections per worker


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def median_time(fn, runs=3):
    times = []
    for _ in range(runs):
        out, t = timed(fn)
        times.append(t)
    return out, float(np.median(times))


# ---------------------------------------------------------------- (1) broadcast fan-out
def beijing_users(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(lats, lngs) of n users, Gaussian (sigma SIGMA_M, metres) around BEIJING."""
    north, east = np.random.default_rng(seed).normal(0.0, SIGMA_M, (2, n))
    return (BEIJING[0] + north / M_PER_DEG,
            BEIJING[1] + east / (M_PER_DEG * np.cos(np.radians(BEIJING[0]))))


def write_positions(client, deliveries, ids, lat, lng, now_ms, chunk=10_000) -> None:
    """Record every user's last position as the engine does, 10,000 users per round trip."""
    cells = np.asarray(h3v.coordinates_to_cells(lat, lng, POSITION_RES)).astype(np.uint64)
    check = np.random.default_rng(1).choice(len(ids), min(1000, len(ids)), replace=False)
    assert all(int(cells[i]) == h3i.latlng_to_cell(lat[i], lng[i], POSITION_RES) for i in check)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("writing last positions", total=len(ids))
        for s in range(0, len(ids), chunk):
            deliveries.deliver([], now_ms, list(map(Position, ids[s:s + chunk], lat[s:s + chunk].tolist(),
                                                    lng[s:s + chunk].tolist(), cells[s:s + chunk].tolist())))
            progress.advance(task, min(chunk, len(ids) - s))


def geoadd(client, ids, lat, lng, chunk=10_000) -> None:
    pipe = client.pipeline(transaction=False)
    for s in range(0, len(ids), chunk):
        pipe.geoadd(GEO_KEY, [x for u, la, ln in zip(ids[s:s + chunk], lat[s:s + chunk].tolist(),
                                                     lng[s:s + chunk].tolist()) for x in (ln, la, u)])
        if len(pipe) == 10:
            pipe.execute()
    pipe.execute()


def geosearch(client, lat, lng, radius_m):
    """Users within radius_m of (lat, lng) with their coordinates, parsed as ours are:
    (user ids, lats, lngs). The raw command skips redis-py's per-row float parsing."""
    rows = client.execute_command("GEOSEARCH", GEO_KEY, "FROMLONLAT", lng, lat, "BYRADIUS", radius_m, "m", "WITHCOORD")
    users = [r[0].decode() for r in rows]
    coords = np.array([r[1] for r in rows], dtype=np.float64).reshape(-1, 2)
    return users, coords[:, 1], coords[:, 0]


def with_timers(obj, names, spent):
    """Replace obj's methods ``names`` by timed wrappers adding to spent[name]; undo with ``del``."""
    def timed(fn, name):
        def run(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] += time.perf_counter() - t
        return run

    for name in names:
        setattr(obj, name, timed(getattr(obj, name), name))


def broadcast_bench(client, n_users: int, truth_sample: int) -> dict:
    r: dict = {"users": n_users, "sigma_m": SIGMA_M, "radius_m": RADIUS_M}
    lat, lng = beijing_users(n_users)
    ids = [f"u{i:07d}" for i in range(n_users)]
    engine = Engine(client, max_pushes_per_hour=1000)
    _, r["write_positions_s"] = timed(write_positions, client, engine.stores.deliveries, ids, lat, lng,
                                      int(time.time() * 1000))
    console.print(f"wrote {n_users:,} last positions in {r['write_positions_s']:.1f} s "
                  f"({n_users / r['write_positions_s']:,.0f} users/s, 3 commands each); "
                  f"redis used {client.info('memory')['used_memory'] / 2**20:,.0f} MB")

    owner, _ = engine.stores.operators.create("bench operator")
    sanlitun = next(d for d in load_demo_districts() if d.id == DISTRICT_ID)
    engine.districts.put(sanlitun, owner.id)
    now = engine.clock()
    c = engine.campaigns.create(owner.id, district_id=sanlitun.id, kind="campaign", title="Bench offer",
                               body="20% off tonight", starts_at=now - timedelta(minutes=1),
                               ends_at=now + timedelta(days=1), radius_m=RADIUS_M)
    fp = compile_footprints([sanlitun.geometry])
    # Warm, as a running worker is: kernels compiled (or loaded from numba's cache), script loaded.
    reach_cover(fp, RADIUS_M, res=POSITION_RES)
    distances_to_footprint(ecef(lat[:10], lng[:10]), fp.frames, fp.edges)
    client.script_load(engine.stores.deliveries._scripts._script("deliver_offers").script)

    # The broadcast (find + queue), then its fan-out (deliver each queued user), each timed in the run.
    spent: dict[str, float] = defaultdict(float)
    with_timers(engine.stores.deliveries, ("positions_in_cells", "deliver"), spent)
    with_timers(engine.stores.fanout, ("add",), spent)
    client.config_resetstat()
    b, total_s = timed(engine.broadcasts.broadcast, c.id)
    stats = client.info("commandstats")
    r["broadcast"] = b._asdict() | {
        "seconds": total_s, "in_reach_per_s": b.in_reach / total_s,
        "positions_in_cells_s": spent["positions_in_cells"], "enqueue_s": spent["add"],
        "server_hgetall_s": stats.get("cmdstat_hgetall", {}).get("usec", 0) / 1e6}

    def drain():  # one process here; in production every worker's fan-out thread shares this
        n = 0
        while k := engine.broadcasts.fan_out("bench", count=20):
            n += k
        return n

    client.config_resetstat()
    fanned, fan_s = timed(drain)
    stats = client.info("commandstats")
    del engine.stores.deliveries.positions_in_cells, engine.stores.deliveries.deliver, engine.stores.fanout.add
    server_s = {k.removeprefix("cmdstat_"): v["usec"] / 1e6 for k, v in stats.items()}
    counts = engine.stores.deliveries.counts(c.id)
    r["fanout"] = {"users": fanned, "seconds": fan_s, "per_s": fanned / max(fan_s, 1e-9), "deliver_s": spent["deliver"],
                   "pushed": counts.pushed, "capped": counts.capped,
                   "server_deliver_s": server_s.pop("evalsha", 0.0),
                   # The commands a script runs are counted too: what the script's time is made of.
                   "server_commands_s": {k: v for k, v in server_s.items()
                                         if not k.startswith(("config", "xreadgroup", "xack", "xgroup"))}}

    # The parts alone (what broadcast does, step by step).
    cover, r["cover_s"] = median_time(lambda: reach_cover(fp, RADIUS_M, res=POSITION_RES).cells)
    now_ms = int(engine.clock().timestamp() * 1000)
    (users, la, ln, found_ms, _), r["positions_in_cells_s"] = median_time(
        lambda: engine.stores.deliveries.positions_in_cells(cover, now_ms))
    dist, r["distance_s"] = median_time(lambda: distances_to_footprint(ecef(la, ln), fp.frames, fp.edges))
    reach = np.flatnonzero(dist <= RADIUS_M)
    template = offer_template(c, sanlitun.name, "broadcast")

    def build():  # the script renders each pushed event from the template
        offering = Offering(c.id, c.owner, 1, 0, template)
        return [Delivery(users[i], offering, float(dist[i]), int(found_ms[i])) for i in reach.tolist()]

    items, r["events_s"] = median_time(build)
    event_ids, stamp = EventIds(), now.isoformat(timespec="milliseconds")
    payloads = [render(template, event_ids(), d.user_id, d.distance_m, stamp) for d in items]
    r["cover_cells"], r["candidates"] = int(cover.size), len(users)

    # Baseline (a): GEOSEARCH for the candidates, on a circle that holds the whole reach.
    _, r["geoadd_s"] = timed(geoadd, client, ids, lat, lng)
    geo_radius_m = RADIUS_M + float(fp.extents_m()[0]) + GEO_MARGIN_M
    clat, clng = map(float, fp.centres[0])
    (geo_users, _, _), geo_s = median_time(lambda: geosearch(client, clat, clng, geo_radius_m))
    r["geosearch"] = {"radius_m": geo_radius_m, "found": len(geo_users), "seconds": geo_s,
                      "found_per_s": len(geo_users) / geo_s}

    # Baseline (b): one plain XADD per pushed payload, pipelined 10,000 per round trip.
    def xadd_all():
        for s in range(0, len(items), 10_000):
            pipe = client.pipeline(transaction=False)
            for payload in payloads[s:s + 10_000]:
                pipe.xadd(FLOOR_KEY, {"payload": payload})
            pipe.execute()

    _, floor_s = timed(xadd_all)
    client.delete(FLOOR_KEY)
    r["xadd_floor"] = {"entries": len(items), "seconds": floor_s, "per_s": len(items) / max(floor_s, 1e-9),
                       "payload_bytes": float(np.mean([len(x) for x in payloads])) if payloads else 0.0}

    # Correctness: who was pushed, against the kernel's distance over every user.
    pushed = [e[b"user"].decode() for p in range(engine.partitions) for _, e in client.xrange(keys.outbox(p))
              if json.loads(e[b"payload"])["data"]["campaign_id"] == c.id]
    d_all = distances_to_footprint(ecef(lat, lng), fp.frames, fp.edges)
    truth = {ids[i] for i in np.flatnonzero(d_all <= RADIUS_M).tolist()}
    r["truth_in_reach"] = len(truth)
    r["wrong"] = len(set(pushed) ^ truth)
    r["duplicates"] = len(pushed) - len(set(pushed))
    r["geosearch"]["missed_in_reach"] = len(truth - set(geo_users))
    # ... and the kernel against pyproj.Geod on a sample of users within 5 km (1 m of the radius excused).
    near = np.flatnonzero(d_all <= 5000.0)
    sample = np.random.default_rng(2).choice(near, min(truth_sample, near.size), replace=False)
    ref = reference_distance_m(lat[sample], lng[sample], [sanlitun.geometry] * sample.size)
    r["reference"] = {"sample": int(sample.size),
                      "max_diff_mm": float(np.max(np.abs(ref - d_all[sample])) * 1000) if sample.size else 0.0,
                      "disagree": int(np.sum(((ref <= RADIUS_M) != (d_all[sample] <= RADIUS_M))
                                             & (np.abs(ref - RADIUS_M) > 1.0)))}
    return r


# ---------------------------------------------------------------- (2) webhook delivery
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def receiver_count(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/count", timeout=5) as resp:
        return json.load(resp)


def wait_until(predicate, timeout_s: float, what: str, every_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if out := predicate():
                return out
        except OSError:
            pass
        time.sleep(every_s)
    raise RuntimeError(f"{what}: not within {timeout_s:g} s")


def cpu_s(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each process, and by the whole machine."""
    m = psutil.cpu_times()
    busy = sum(getattr(m, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))
    return {name: sum(p.cpu_times()[:2]) for name, p in procs.items()} | {"whole machine": busy}


def cpu_percent(before: dict, after: dict, wall_s: float) -> dict[str, float]:
    """Per process, and the rest of the machine's busy time (the kernel's network stack, other
    processes): 100% = one core busy."""
    out = {name: 100.0 * (after[name] - before[name]) / wall_s for name in before}
    out["rest (kernel, others)"] = out["whole machine"] - sum(v for k, v in out.items() if k != "whole machine")
    return out


def event_payload(event_id: str, user_id: str) -> str:
    """A ~300-byte event, shaped as the engine's."""
    return json.dumps({"id": event_id, "type": "offer.delivered", "timestamp": "2025-11-11T20:00:00+00:00",
                       "data": {"user_id": user_id, "reason": "entered", "campaign_id": "cmp_bench",
                                "district_id": DISTRICT_ID, "district_name": "Sanlitun Taikoo Li",
                                "kind": "campaign", "title": "Bench offer", "body": "20% off tonight, all stores",
                                "distance_m": 812.5}}, separators=(",", ":"))


async def blast(url: str, requests: list[tuple[bytes, dict]], concurrency: int) -> Counter:
    """POST every (body, headers) with ``concurrency`` connections kept alive; statuses seen."""
    statuses: Counter = Counter()
    todo = iter(requests)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        async def lane():
            for body, h in todo:
                async with http.post(url, data=body, headers=h) as resp:
                    await resp.read()
                    statuses[resp.status] += 1

        await asyncio.gather(*(lane() for _ in range(concurrency)))
    return statuses


def webhook_bench(client, srv: EmbeddedRedis, tmp: Path, n_events: int, n_workers: int,
                  push_timeout_s: float | None = None) -> dict:
    r: dict = {"events": n_events, "workers": n_workers, "push_timeout_s": push_timeout_s}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    endpoint = EndpointStore(client).create(f"{base}/hook", owner="op_bench")  # the events' campaign's owner
    with open(tmp / "receiver.log", "w") as log:
        receiver = subprocess.Popen([sys.executable, str(RECEIVER), "--port", str(port)],
                                    env=os.environ | {"DE_BENCH_WEBHOOK_SECRET": endpoint.secret},
                                    stdout=log, stderr=subprocess.STDOUT)
    workers = []
    try:
        wait_until(lambda: receiver_count(base), 30, "the receiver did not answer")
        procs = {"redis-server": psutil.Process(srv.process.pid), "receiver": psutil.Process(receiver.pid),
                 "bench client": psutil.Process()}

        # Baseline: the receiver's ceiling, pre-signed POSTs from this process.
        concurrency = SENDER_CONCURRENCY * n_workers
        now_s = int(time.time())
        requests = []
        for i in range(n_events):
            body = event_payload(f"evt_blast_{i:07d}", f"b{i:07d}").encode()
            h = signed_headers(endpoint.secret, f"evt_blast_{i:07d}", now_s, body)
            requests.append((body, h | {"Content-Type": "application/json"}))
        before, t = cpu_s(procs), time.perf_counter()
        statuses = asyncio.run(blast(f"{base}/hook", requests, concurrency))
        wall = time.perf_counter() - t
        got = receiver_count(base)
        r["ceiling"] = {"requests": n_events, "concurrency": concurrency, "seconds": wall, "per_s": n_events / wall,
                        "statuses": dict(statuses), "unique": got["unique"], "bad_signatures": got["bad_signatures"],
                        "cpu_percent": cpu_percent(before, cpu_s(procs), wall)}
        del requests

        # The events, one per user, through the delivery script.
        engine = Engine(client, max_pushes_per_hour=1000)
        keep_ms = int(time.time() * 1000) + 3_600_000
        bench_campaign = Campaign(id="cmp_bench", owner="op_bench", district_id=DISTRICT_ID, kind="campaign",
                                  title="Bench offer", body="20% off tonight, all stores",
                                  starts_at=engine.clock(), ends_at=engine.clock() + timedelta(hours=1))
        template = offer_template(bench_campaign, "Sanlitun Taikoo Li", "entered")
        offering = Offering("cmp_bench", "op_bench", 1, keep_ms, template)
        items = [Delivery(f"w{i:07d}", offering, 812.5) for i in range(n_events)]
        t = time.perf_counter()
        codes = Counter()
        for s in range(0, n_events, 10_000):
            codes.update(engine.stores.deliveries.deliver(items[s:s + 10_000], int(time.time() * 1000)))
        r["enqueue"] = {"seconds": time.perf_counter() - t, "pushed": codes[1],
                        "payload_bytes": float(len(render(template, "evt_0123456789ab00000000", "w0000000", 812.5,
                                                          engine.clock().isoformat(timespec="milliseconds"))))}
        del items

        # The workers, timed from both running to every event verified at the receiver.
        spawned = time.perf_counter()
        env = {"DE_ALLOW_PRIVATE_WEBHOOKS": "true"}  # the receiver is on loopback
        if push_timeout_s is not None:
            env["DE_PUSH_TIMEOUT_S"] = str(push_timeout_s)
        workers = [start_worker(srv.url, tmp, i, env) for i in range(n_workers)]
        wait_until(lambda: all("running" in log.read_text() or proc.poll() is not None for proc, log in workers),
                   60, "the workers did not start")
        if any(proc.poll() is not None for proc, _ in workers):
            raise RuntimeError("a worker exited: " + " | ".join(log.read_text()[-2000:] for _, log in workers))
        procs |= {f"worker {i + 1}": psutil.Process(proc.pid) for i, (proc, _) in enumerate(workers)}
        base_unique = r["ceiling"]["unique"]
        before, t0 = cpu_s(procs), time.perf_counter()
        at_start = receiver_count(base)["unique"] - base_unique
        outbox = Outbox(client)
        deadline = time.monotonic() + 60 + n_events / 500
        timeline, peak_retries = [], 0  # (seconds, unique events in); the most deliveries waiting to be retried
        while (got := receiver_count(base))["unique"] - base_unique < n_events and time.monotonic() < deadline:
            timeline.append((time.perf_counter() - t0, got["unique"] - base_unique))
            peak_retries = max(peak_retries, sum(len(x) for x in outbox.retries))
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        cpu = cpu_percent(before, cpu_s(procs), wall)
        unique = got["unique"] - base_unique
        timeline.append((wall, unique))
        r["delivery"] = {"seconds": wall, "events_at_start": at_start, "per_s": (unique - at_start) / wall,
                         "seconds_from_spawn": time.perf_counter() - spawned, "complete": unique == n_events,
                         "cpu_percent": cpu, "peak_retries": peak_retries,
                         "timeline": [(round(t, 2), u) for i, (t, u) in enumerate(timeline) if i % 10 == 0],
                         "seconds_to": {f"{q:.0%}": next(t for t, u in timeline if u >= q * n_events)
                                        for q in (0.1, 0.5, 0.9, 0.99) if timeline[-1][1] >= q * n_events}}
        to = r["delivery"]["seconds_to"]
        if "90%" in to:  # the rate once started, before the tail: startup and retries show as the difference
            r["delivery"]["per_s_10_to_90"] = 0.8 * n_events / max(to["90%"] - to["10%"], 1e-9)
    finally:
        stop_processes([proc for proc, _ in workers])
        final = receiver_count(base) if receiver.poll() is None else None
        receiver.terminate()
        receiver.wait(10)
    sent = [re.findall(r"([\d,]+) webhooks sent", log.read_text()) for _, log in workers]
    r["delivery"] |= {
        "unique": final["unique"] - r["ceiling"]["unique"],
        "received": final["received"] - r["ceiling"]["statuses"].get(204, 0),
        "bad_signatures": final["bad_signatures"] - r["ceiling"]["bad_signatures"],
        "worker_exit_codes": [proc.returncode for proc, _ in workers],
        "sent_by_worker": [int(s[-1].replace(",", "")) if s else None for s in sent],
        "pending": outbox.stream.pending(), "retries": sum(len(x) for x in outbox.retries),
        "dead_letters": len(outbox.dead_letters(endpoint.id, limit=1000)[0]),
    }
    return r


# ---------------------------------------------------------------- main
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--push-timeout-s", type=float, help="DE_PUSH_TIMEOUT_S of the workers (default: the engine's)")
    ap.add_argument("--truth-sample", type=int, default=2000, help="users checked against pyproj.Geod")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "push.json")
    args = ap.parse_args(argv)
    results = {"cpu_cores": os.cpu_count()}
    console.rule(f"(1) broadcast: {args.users:,} users around Beijing, Sanlitun campaign of {RADIUS_M:,.0f} m")
    with tempfile.TemporaryDirectory(prefix="de-bench-push-") as tmp, EmbeddedRedis(tmp, persistent=False) as srv:
        results["broadcast"] = broadcast_bench(connect(srv.url), args.users, args.truth_sample)
    report_broadcast(results["broadcast"])
    console.rule(f"(2) webhooks: {args.events:,} events, {args.workers} workers")
    with tempfile.TemporaryDirectory(prefix="de-bench-push-") as tmp, EmbeddedRedis(tmp, persistent=False) as srv:
        results["webhooks"] = webhook_bench(connect(srv.url), srv, Path(tmp), args.events, args.workers,
                                           args.push_timeout_s)
    report_webhooks(results["webhooks"], results["cpu_cores"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    console.print(f"results written to {args.out}")
    return results


def report_broadcast(r: dict) -> None:
    b, fo = r["broadcast"], r["fanout"]
    verdict = "meets" if b["in_reach_per_s"] >= 200_000 else "misses"
    console.print(f"broadcast: {b['candidates']:,} candidates read, {b['in_reach']:,} users in reach found and queued "
                  f"({b['chunks']:,} chunks) in {b['seconds']:.3f} s: [bold]{b['in_reach_per_s']:,.0f} users in reach/s"
                  f"[/bold] ({verdict} the 200,000/s target)")
    console.print(f"fan-out (one consumer): {fo['users']:,} users delivered ({fo['pushed']:,} pushed, {fo['capped']:,} "
                  f"capped) in {fo['seconds']:.3f} s: [bold]{fo['per_s']:,.0f} users/s[/bold] into the outbox; "
                  f"deliver_offers.lua {1e6 * fo['server_deliver_s'] / max(fo['users'], 1):.1f} us of Redis per user")
    t = Table(title="where the time goes")
    for col in ("part", "seconds", "share", "per second"):
        t.add_column(col, justify="left" if col == "part" else "right")
    n, cands = b["in_reach"], b["candidates"]
    rows = [(f"reach cover ({r['cover_cells']} res-7 cells), alone", r["cover_s"], 0, "", b["seconds"]),
            ("positions_in_cells, in the run", b["positions_in_cells_s"], cands, "candidates", b["seconds"]),
            ("   its HGETALLs in redis-server", b["server_hgetall_s"], 0, "", b["seconds"]),
            ("   the same call alone (median of 3)", r["positions_in_cells_s"], cands, "candidates", b["seconds"]),
            ("distance filter (kernel), alone", r["distance_s"], cands, "candidates", b["seconds"]),
            ("queue the chunks, in the run", b["enqueue_s"], n, "users", b["seconds"]),
            ("broadcast total", b["seconds"], n, "users in reach", b["seconds"]),
            ("fan-out: deliveries built (the script renders the JSON), alone", r["events_s"], n, "events", fo["seconds"]),
            ("fan-out: deliver, in the run", fo["deliver_s"], n, "users", fo["seconds"]),
            ("   deliver_offers.lua in redis-server", fo["server_deliver_s"], n, "users", fo["seconds"]),
            ("fan-out total", fo["seconds"], fo["users"], "users", fo["seconds"])]
    for name, s_, count, unit, whole in rows:
        t.add_row(name, f"{s_:.3f}", f"{s_ / whole:.0%}", f"{count / max(s_, 1e-9):,.0f} {unit}/s" if unit else "")
    console.print(t)
    inner = sorted(fo["server_commands_s"].items(), key=lambda kv: -kv[1])
    lua_s = fo["server_deliver_s"] - sum(s_ for _, s_ in inner)
    m = max(fo["users"], 1)
    console.print(f"inside deliver_offers.lua, us per user: {1e6 * fo['server_deliver_s'] / m:.1f} = "
                  + ", ".join(f"{k} {1e6 * s_ / m:.1f}" for k, s_ in inner) + f", the Lua itself {1e6 * lua_s / m:.1f}")

    g, f = r["geosearch"], r["xadd_floor"]
    ours_found = r["candidates"] / r["positions_in_cells_s"]
    t = Table(title="baselines, same run and redis-server")
    for col in ("step", "ours", "baseline", "ours / baseline"):
        t.add_column(col, justify="left" if col == "step" else "right")
    t.add_row(f"find candidates with coordinates (ours: cell hashes; GEOSEARCH {g['radius_m']:,.0f} m WITHCOORD)",
              f"{r['candidates']:,} in {r['positions_in_cells_s']:.3f} s = {ours_found:,.0f}/s",
              f"{g['found']:,} in {g['seconds']:.3f} s = {g['found_per_s']:,.0f}/s",
              f"{ours_found / g['found_per_s']:.2f}x")
    t.add_row("  ... users in reach found per second", f"{n / r['positions_in_cells_s']:,.0f}/s",
              f"{n / g['seconds']:,.0f}/s", f"{g['seconds'] / r['positions_in_cells_s']:.2f}x")
    t.add_row(f"deliver one event per user ({f['payload_bytes']:.0f}-byte payloads; baseline: plain XADD)",
              f"{fo['per_s']:,.0f}/s", f"{f['per_s']:,.0f}/s", f"{fo['per_s'] / f['per_s']:.2f}x")
    console.print(t)
    ref = r["reference"]
    console.print(f"correctness: {r['truth_in_reach']:,} users within {r['radius_m']:,.0f} m (kernel over all "
                  f"{r['users']:,}); pushed {fo['pushed']:,}; [bold]{r['wrong']} wrong[/bold], {r['duplicates']} duplicates; "
                  f"GEOSEARCH missed {g['missed_in_reach']}; kernel vs pyproj.Geod on {ref['sample']:,} users within "
                  f"5 km: max diff {ref['max_diff_mm']:.1f} mm, {ref['disagree']} disagree")
    console.print(f"setup: positions written at {r['users'] / r['write_positions_s']:,.0f} users/s; "
                  f"GEOADD of the same users {r['geoadd_s']:.1f} s")


def report_webhooks(r: dict, cores: int) -> None:
    c, d = r["ceiling"], r["delivery"]
    verdict = "meets" if d["per_s"] >= 5000 else "misses"
    console.print(f"enqueued {r['events']:,} events ({r['enqueue']['payload_bytes']:.0f}-byte payloads) in "
                  f"{r['enqueue']['seconds']:.2f} s ({r['events'] / r['enqueue']['seconds']:,.0f}/s)")
    console.print(f"end to end with {r['workers']} workers: {d['unique']:,} unique verified events in {d['seconds']:.2f} s "
                  f"after both were running ({d['events_at_start']:,} already in by then; {d['seconds_from_spawn']:.2f} s "
                  f"from spawn): [bold]{d['per_s']:,.0f} events/s[/bold] ({verdict} the 5,000/s target); "
                  f"ratio to the receiver's ceiling {d['per_s'] / c['per_s']:.2f}")
    timeout = f"{r['push_timeout_s']:g} s" if r["push_timeout_s"] is not None else "the default"
    console.print("time to " + ", ".join(f"{q} of the events: {t:.1f} s" for q, t in d["seconds_to"].items())
                  + (f" ({d['per_s_10_to_90']:,.0f} events/s from 10% to 90%)" if "per_s_10_to_90" in d else "")
                  + f"; at most {d['peak_retries']:,} deliveries waiting to be retried (push timeout {timeout})")
    console.print(f"receiver ceiling (pre-signed POSTs, one aiohttp client process, {c['concurrency']} connections): "
                  f"{c['per_s']:,.0f} requests/s; statuses {c['statuses']}")
    t = Table(title=f"CPU % per process (100% = one core; this machine has {cores} cores, shared by all of them)")
    t.add_column("process")
    t.add_column("end to end", justify="right")
    t.add_column("ceiling run", justify="right")
    for name in dict.fromkeys([*d["cpu_percent"], *c["cpu_percent"]]):
        t.add_row(name, *(f"{run[name]:.0f}" if name in run else "-" for run in (d["cpu_percent"], c["cpu_percent"])))
    console.print(t)
    console.print(f"correctness: {d['unique']:,} of {r['events']:,} unique events received "
                  f"({d['received']:,} deliveries, so {d['received'] - d['unique']:,} repeats), "
                  f"[bold]{d['bad_signatures']} bad signatures[/bold] (ceiling run: {c['bad_signatures']}); after SIGTERM: "
                  f"exit codes {d['worker_exit_codes']}, sent per worker {d['sent_by_worker']}, {d['pending']} pending, "
                  f"{d['retries']} retries, {d['dead_letters']} dead letters")


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
