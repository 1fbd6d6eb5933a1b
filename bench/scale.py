"""National scale on one machine, on the single embedded server and on a local 3+3 Redis
Cluster in the same run.

Data: 200,000 synthetic stores in 400 cities as districts, each with a live campaign, plus the five
demo districts and their lots; 1,000,000 users with last positions near the stores.

First, alone for --seconds: first-contact pings (random users of the million), with the CPU each
group of processes spends on one. Then traffic, all at once for --seconds (an evening compressed):
  - location pings from wrk (GCJ-02, as the city channel sends them), from the million users;
  - a red-envelope rain at Sanlitun, grabbed over HTTP by 100,000 users (wrk);
  - gate events at the demo lots: signed entries and exits from a Python client at --gate-rate;
then, alone, repeat pings: 2,000 users each pinging again from where they are (nothing new).

Printed per backend: seeding, index build time and memory in one process, the matcher's share of a
location update, throughput and p50/p99 per route, Redis memory, the API processes' memory, and how
long a change takes to reach every API process with the whole index loaded. Then the Cluster's
pings against the single server's (target: at least 80%).

    make bench-scale                 # full size; about 15 minutes
    .venv/bin/python bench/scale.py --stores 20000 --users 100000 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from district_engine.campaigns.model import Campaign
from district_engine.demo import seed_demo
from district_engine.districts.synthetic import synthetic_pings, synthetic_stores
from district_engine.engine import Engine
from district_engine.geo import from_wgs84
from district_engine.identity import scoped_user
from district_engine.parking.gate_client import gate_event_request
from district_engine.store import EmbeddedRedis, connect
from district_engine.store.campaigns import CampaignStore
from district_engine.store.deliveries import POSITION_RES, Position
from district_engine.store.districts import DistrictStore
from district_engine.store.server import EmbeddedCluster

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_load import freshness_ms, lua_points  # noqa: E402  (the benches' shared helpers, beside this file)
from httpbench import serving, workers, wrk, wrk_script  # noqa: E402

import h3ronpy.vector as h3v  # noqa: E402

console = Console(width=130)
NEAR_SANLITUN = (39.9300, 116.4470)  # (lat, lng) WGS-84
PLACES = 5_000  # distinct places of the users' last positions, and of their pings


def seed(url: str, data_dir: Path, n_stores: int, n_users: int, grabbers: int, partitions: int | None) -> dict:
    """Everything the traffic needs, written through the engine's stores (in ``partitions``, which the
    new deployment records: every process after takes it from Redis); timings."""
    client = connect(url)
    engine = Engine(client, partitions=partitions)
    out = {}
    with Progress(console=console, transient=True) as progress:
        t = time.perf_counter()
        key = seed_demo(engine, data_dir)
        channel = json.loads((data_dir / "demo_channel.json").read_text())  # the city channel's users ping
        operator, _ = engine.stores.operators.create("national chain")
        stores = synthetic_stores(n_stores, n_cities=min(400, max(1, n_stores // 500)))
        task = progress.add_task("stores and campaigns", total=n_stores)
        now = engine.clock()
        for start in range(0, n_stores, 10_000):
            part = stores[start:start + 10_000]
            DistrictStore(client).put_many(part, operator.id)
            CampaignStore(client).put_many([
                Campaign(id=f"chain-{s.id}", owner=operator.id, district_id=s.id, kind="campaign", title="Double 11",
                         body="20% off tonight", starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(days=1))
                for s in part])
            progress.advance(task, len(part))
        out["seed_stores_s"] = time.perf_counter() - t
        # A million last positions, as location updates would have left them.
        t = time.perf_counter()
        # Users u1..uN share PLACES places (the pings' points), N / PLACES each: user m is at place
        # (m - 1) % PLACES, where the ping script sends it (api_load.lua_points), so that its pings
        # are not impossible jumps from its last position (docs/identity.md).
        lat, lng = synthetic_pings(stores, min(n_users, PLACES), seed=5)
        cells = np.asarray(h3v.coordinates_to_cells(lat, lng, POSITION_RES))
        now_ms = int(time.time() * 1000)
        task = progress.add_task("user positions", total=n_users)
        for start in range(1, n_users + 1, 5_000):
            engine.stores.deliveries.deliver([], now_ms, [
                Position(scoped_user(channel["id"], f"u{m}"), float(lat[(m - 1) % lat.size]),
                         float(lng[(m - 1) % lat.size]), int(cells[(m - 1) % lat.size]))
                for m in range(start, min(start + 5_000, n_users + 1))])
            progress.advance(task, min(5_000, n_users + 1 - start))
        out["seed_users_s"] = time.perf_counter() - t
    demo_operator = engine.stores.operators.authenticate(key)
    rain = engine.campaigns.create(demo_operator, district_id="sanlitun-taikoo-li", kind="red_envelope",
                                  title="Double 11 rain", body="Grab!", starts_at=engine.clock() - timedelta(minutes=1),
                                  ends_at=engine.clock() + timedelta(hours=1), total_cents=grabbers * 20,
                                  packets=grabbers // 5)
    out |= {"partitions": engine.partitions, "key": key, "channel_key": channel["api_key"], "rain": rain.id,
            "stores": stores,
            "ping_lat": lat, "ping_lng": lng}
    client.close()
    return out


def index_build(url: str) -> dict:
    """One engine process loading everything: seconds, memory, and the matcher's share of an update."""
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    client = connect(url)
    t = time.perf_counter()
    engine = Engine(client)
    engine.catalog.load()
    build_s = time.perf_counter() - t
    rss = proc.memory_info().rss - rss0
    rng = np.random.default_rng(3)
    stores = engine.catalog.view.index.districts()
    lat, lng = synthetic_pings([stores[i] for i in rng.integers(0, len(stores), 200)], 2000, seed=8)
    t = time.perf_counter()
    for a, b in zip(lat, lng):
        engine.catalog.view.index.match(float(a), float(b))
    match_us = (time.perf_counter() - t) / len(lat) * 1e6
    t = time.perf_counter()
    for i, (a, b) in enumerate(zip(lat, lng)):
        engine.channel.locate(f"probe-{i}", float(a), float(b))
    locate_us = (time.perf_counter() - t) / len(lat) * 1e6
    # One campaign edited, as an operator's PATCH does it: the write, then this process's view
    # made again from the one before (what every process's change follower does too).
    c = next(c for c in engine.catalog.view.campaigns.values() if c.kind == "campaign")
    t = time.perf_counter()
    engine.campaigns.update(c.id, c.owner, title=f"{c.title} (edited)")
    change_ms = (time.perf_counter() - t) * 1000
    client.close()
    return {"districts": len(stores), "build_s": build_s, "rss_mb": rss / 2**20, "match_us": match_us,
            "locate_us": locate_us, "matcher_share": match_us / locate_us, "change_ms": change_ms}


def grab_script(path: Path, rain_id: str, grabbers: int, channel_key: str) -> str:
    """Grabs by the channel's users g1..g``grabbers``, sent by its backend (one key, one address)."""
    lat, lng = NEAR_SANLITUN
    return wrk_script(path, 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                            f'wrk.headers["Authorization"] = "Bearer {channel_key}"\n'
                            "request = function()\n"
                            f'  local b = string.format(\'{{"user_id":"g%d","lat":{lat},"lng":{lng}}}\', '
                            f"math.random(1, {grabbers}))\n"
                            f'  return wrk.format(nil, "/v1/red-envelopes/{rain_id}/grab", nil, b)\nend\n')


def gate_traffic(base: str, data_dir: Path, rate: float, stop: threading.Event, out: dict) -> None:
    """Cars in and out of the demo lots at ``rate`` events/s, signed as the gates sign them."""
    secrets = json.loads((data_dir / "demo_lot_secrets.json").read_text())
    lots = list(secrets)
    latencies, decisions, inside = [], {}, []
    rng = np.random.default_rng(11)
    with httpx.Client(base_url=base, timeout=5) as http:
        n = 0
        t0 = time.perf_counter()
        while not stop.is_set():
            exit_ = bool(inside) and rng.random() < 0.5
            lot, plate = inside.pop(int(rng.integers(len(inside)))) if exit_ else (lots[n % len(lots)], f"京A{n % 100000:05d}")
            body, h = gate_event_request(secrets[lot], "exit" if exit_ else "entry", plate, datetime.now(timezone.utc))
            t = time.perf_counter()
            r = http.post(f"/v1/parking/lots/{lot}/gate-events", content=body, headers=h)
            latencies.append((time.perf_counter() - t) * 1000)
            decision = r.json().get("decision", str(r.status_code)) if r.headers.get("content-type", "").startswith("application/json") else str(r.status_code)
            decisions[decision] = decisions.get(decision, 0) + 1
            if not exit_ and decision == "open":
                inside.append((lot, plate))
            n += 1
            stop.wait(max(0.0, t0 + n / rate - time.perf_counter()))
    lat = np.array(latencies)
    out |= {"req_s": n / (time.perf_counter() - t0), "p50_ms": float(np.percentile(lat, 50)) if n else 0.0,
            "p99_ms": float(np.percentile(lat, 99)) if n else 0.0, "decisions": decisions}


def redis_memory_mb(url: str) -> float:
    client = connect(url)
    info = client.info("memory", target_nodes=client.PRIMARIES) if hasattr(client, "PRIMARIES") else client.info("memory")
    client.close()
    nodes = info.values() if isinstance(next(iter(info.values())), dict) else [info]
    return sum(n["used_memory"] for n in nodes) / 2**20


def serve_processes() -> list[psutil.Process]:
    """Every `district-engine serve` process on this machine and its children (this bench runs one)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "district_engine.cli" in cmd and "serve" in cmd:
            found += [p, *p.children(recursive=True)]
    return found


def serve_memory_mb() -> float:
    return sum(p.memory_info().rss for p in serve_processes()) / 2**20


def redis_processes(server) -> dict[str, list[psutil.Process]]:
    """The backend's redis-server processes: primaries, and replicas (none on a single server)."""
    if isinstance(server, EmbeddedCluster):
        nodes = [psutil.Process(n.process.pid) for n in server.nodes]
        return {"primaries": nodes[:server.primaries], "replicas": nodes[server.primaries:]}
    return {"primaries": [psutil.Process(server.process.pid)], "replicas": []}


def cpu_per_request(groups: dict[str, list[psutil.Process]], run) -> tuple[dict, dict[str, float]]:
    """``run()``'s wrk result, and the CPU time (user + system) each group of processes spent per
    request meanwhile (µs); "machine" is every core's busy time, wrk and all."""
    def cpu_s(p: psutil.Process) -> float:
        try:
            return sum(p.cpu_times()[:2])
        except (psutil.NoSuchProcess, psutil.ZombieProcess):  # a short-lived child, gone: its time is lost
            return 0.0

    def busy():
        out = {name: sum(cpu_s(p) for p in procs) for name, procs in groups.items()}
        t = psutil.cpu_times()
        return out | {"machine": t.user + t.system + getattr(t, "softirq", 0) + getattr(t, "irq", 0)}
    before, t0 = busy(), time.perf_counter()
    result = run()
    after, n = busy(), result["req_s"] * (time.perf_counter() - t0)
    return result, {name: (after[name] - before[name]) / n * 1e6 for name in after}


def run_backend(name: str, server, data_dir: Path, args) -> dict:
    url = server.url
    console.rule(f"{name}: {url}")
    res = {"backend": name}
    seeded = seed(url, data_dir, args.stores, args.users, args.grabbers, args.partitions)
    res |= {k: v for k, v in seeded.items() if k.endswith("_s") or k == "partitions"}
    console.print(f"seeded {args.stores:,} stores with campaigns in {res['seed_stores_s']:.0f} s, "
                  f"{args.users:,} positions in {res['seed_users_s']:.0f} s")
    res["index"] = index_build(url)
    console.print(f"one process: index of {res['index']['districts']:,} districts built in {res['index']['build_s']:.1f} s, "
                  f"+{res['index']['rss_mb']:,.0f} MB; match {res['index']['match_us']:.0f} µs of a "
                  f"{res['index']['locate_us']:.0f} µs update ({res['index']['matcher_share']:.0%})")
    lat, lng = from_wgs84(seeded["ping_lat"], seeded["ping_lng"], "gcj02")
    pings = lua_points(data_dir / "pings.lua", lat, lng, post=True, users=args.users, channel_key=seeded["channel_key"])
    grabs = grab_script(data_dir / "grabs.lua", seeded["rain"], args.grabbers, seeded["channel_key"])
    env = {}  # the grabs come from one address, the channel's backend: no per-address limit applies to it
    if args.worker_processes:  # the consumers in processes of their own, not in the API's
        env["DE_WORKER"] = "false"
    with serving(url, data_dir, workers=args.workers, env=env) as base, \
            workers(url, data_dir, args.worker_processes) as worker_procs:
        res["freshness_ms"] = freshness_ms(base, seeded["key"])
        res["healthz"] = wrk(f"{base}/healthz", None, 5, args.connections)
        groups = {"api": serve_processes(), "workers": [psutil.Process(p.pid) for p in worker_procs],
                  **redis_processes(server)}
        # Alone on the machine: first contacts (random users of the million), and where their CPU goes.
        res["first_pings"], res["first_cpu_us"] = cpu_per_request(
            groups, lambda: wrk(base, pings, args.seconds, args.connections))
        results, gates, stop = {}, {}, threading.Event()
        threads = [threading.Thread(target=lambda: results.__setitem__("pings", wrk(base, pings, args.seconds, args.connections))),
                   threading.Thread(target=lambda: results.__setitem__("grabs", wrk(base, grabs, args.seconds, args.connections // 4))),
                   threading.Thread(target=gate_traffic, args=(base, data_dir, args.gate_rate, stop, gates))]
        for t in threads:
            t.start()
        stop.wait(args.seconds / 3)  # the same change, once the processes are saturated
        res["freshness_loaded_ms"] = freshness_ms(base, seeded["key"], "fresh-under-load", at=(30.301, 120.2115))
        threads[0].join()
        threads[1].join()
        stop.set()
        threads[2].join()
        res |= results | {"gates": gates}
        # Repeat pings: 2,000 users, each always at its own place. After the first round nothing is
        # new, as for most pings of a real evening (the offers in reach were delivered already).
        repeat = lua_points(data_dir / "repeat.lua", lat[:2000], lng[:2000], post=True, users=None,
                            channel_key=seeded["channel_key"])
        wrk(base, repeat, 3, args.connections)  # the first contacts
        # Alone on the machine: where a repeat ping's CPU goes, by process group.
        res["repeat_pings"], res["repeat_cpu_us"] = cpu_per_request(
            groups, lambda: wrk(base, repeat, args.seconds, args.connections))
        res["serve_rss_mb"] = serve_memory_mb()
    res["redis_mb"] = redis_memory_mb(url)
    engine = Engine(connect(url))
    figures = engine.stores.rains.figures(seeded["rain"])
    res["rain"] = {"won_packets": figures.won_packets, "packets": figures.packets, "audit": engine.stores.rains.audit(seeded["rain"])}
    res["lot_audits"] = {lot: engine.parking.store.audit(lot) for lot in json.loads((data_dir / "demo_lot_secrets.json").read_text())}
    engine.client.close()
    return res


def report(runs: list[dict], args) -> None:
    t = Table(title=f"{args.stores:,} stores with live campaigns, {args.users:,} users, {args.workers} API workers, "
                    f"{args.worker_processes or 'no'} worker processes, {runs[0]['partitions']} partitions, "
                    f"{args.seconds} s of mixed traffic")
    t.add_column("measure")
    for r in runs:
        t.add_column(r["backend"], justify="right")

    def row(label, fn):
        t.add_row(label, *[fn(r) for r in runs])

    row("index build, one process (s)", lambda r: f"{r['index']['build_s']:.1f}")
    row("index memory, one process (MB)", lambda r: f"{r['index']['rss_mb']:,.0f}")
    row("matcher share of an update", lambda r: f"{r['index']['matcher_share']:.0%} ({r['index']['match_us']:.0f} of "
                                                f"{r['index']['locate_us']:.0f} µs)")
    row("a campaign edited, in one process (ms)", lambda r: f"{r['index']['change_ms']:.0f}")
    row("a change seen by every process: idle / under load (ms)",
        lambda r: f"{r['freshness_ms']:.0f} / {r['freshness_loaded_ms']:.0f}")
    row("/healthz alone (req/s)", lambda r: f"{r['healthz']['req_s']:,.0f}")
    for route, label in (("first_pings", "first-contact pings alone"), ("pings", "location pings, mixed"),
                         ("grabs", "rain grabs"), ("gates", "gate events"), ("repeat_pings", "repeat pings alone")):
        row(f"{label} (req/s)", lambda r, k=route: f"{r[k]['req_s']:,.0f}")
        row(f"{label} p50 / p99 (ms)", lambda r, k=route: f"{r[k]['p50_ms']:.1f} / {r[k]['p99_ms']:.1f}")
    for what in ("first", "repeat"):
        row(f"{what} ping CPU, µs: API / workers / primaries / replicas / machine",
            lambda r, w=what: " / ".join(f"{r[f'{w}_cpu_us'][k]:.0f}"
                                         for k in ("api", "workers", "primaries", "replicas", "machine")))
    row("Redis memory (MB, all primaries)", lambda r: f"{r['redis_mb']:,.0f}")
    row("API processes' memory (MB)", lambda r: f"{r['serve_rss_mb']:,.0f}")
    row("rain won / packets; audit", lambda r: f"{r['rain']['won_packets']:,} / {r['rain']['packets']:,}; "
                                             f"{'clean' if not r['rain']['audit'] else 'PROBLEMS'}")
    row("lots' audits", lambda r: "clean" if not any(r["lot_audits"].values()) else "PROBLEMS")
    console.print(t)
    single = next((r for r in runs if r["backend"] == "single"), None)
    for r in runs:
        if single is not None and r is not single:
            for route in ("first_pings", "pings", "repeat_pings"):
                ratio = r[route]["req_s"] / single[route]["req_s"]
                console.print(f"{r['backend']} / single server, {route.replace('_', ' ')}: {ratio:.0%} (target at least 80%)")


# "cluster" is the suite's 3 primaries + 3 replicas. "cluster-primaries" drops the replicas: on one
# shared machine they re-apply every write on the cores the API needs, which separate hosts would not.
BACKENDS = {"single": lambda d: EmbeddedRedis(d / "redis", persistent=False),
            "cluster": lambda d: EmbeddedCluster(d / "cluster"),
            "cluster-primaries": lambda d: EmbeddedCluster(d / "cluster", replicas=0)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stores", type=int, default=200_000)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--grabbers", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--gate-rate", type=float, default=50.0, help="gate events per second")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="API processes (`serve --workers`)")
    ap.add_argument("--worker-processes", type=int, default=0,
                    help="`district-engine worker` processes; with none, each API process runs the consumers")
    ap.add_argument("--partitions", type=int, default=None, help="the deployment's partitions (default: DE_PARTITIONS, 16)")
    ap.add_argument("--backends", default="single,cluster", help=f"comma-separated, of: {', '.join(BACKENDS)}")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "scale.json")
    args = ap.parse_args(argv)
    runs = []
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix=f"de-bench-scale-{name}-") as tmp, ExitStack() as stack:
            stack.enter_context(server := BACKENDS[name](Path(tmp)))
            runs.append(run_backend(name, server, Path(tmp), args))
    report(runs, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(runs, indent=1, default=str))
    return runs


if __name__ == "__main__":
    main()
