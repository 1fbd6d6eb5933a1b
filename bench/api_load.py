"""HTTP benchmark: the feed and locations routes with 2 uvicorn workers, load from wrk on the same machine.

Data: the 5 demo districts plus 20,000 synthetic stores (40 cities), each demo district and 2,000 of
the stores with a live campaign. Points arrive in GCJ-02, as from a Chinese map SDK. Baseline in the same run: GET /healthz. Also measured: how long a
new district with a live campaign takes to show in the feed of every worker.

    make bench-http          # installs wrk with apt if it is missing

With --compare N (instead of the run above): locations served by the fast path, as a plain
FastAPI route (DE_DIRECT_ROUTES=false), and with every offer serialized whole
(DE_OFFER_JSON_CAMPAIGNS=0), in N interleaved rounds, each run beside its own /healthz and with
users of its own (first contacts, as in the main run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from district_engine.demo import seed_demo
from district_engine.districts.synthetic import synthetic_pings, synthetic_stores
from district_engine.engine import Engine
from district_engine.geo import from_wgs84
from district_engine.store import EmbeddedRedis, connect
from district_engine.store.campaigns import CampaignStore
from district_engine.store.channels import ChannelStore
from district_engine.store.districts import DistrictStore
from district_engine.campaigns.model import Campaign

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpbench import server_cpu_s, serving, wrk, wrk_script  # noqa: E402  (the benches' shared helpers, beside this file)

console = Console(width=120)
ROOT = Path(__file__).resolve().parent.parent


def seed(url: str, n_stores: int, n_campaigns: int) -> tuple[list, str, str]:
    """(stores, an operator's key, a channel's key)."""
    client = connect(url)
    engine = Engine(client)
    seed_demo(engine, Path(tempfile.mkdtemp()))
    operator, key = engine.stores.operators.create("bench operator")
    _, channel_key, _ = ChannelStore(client).create("bench channel")
    stores = synthetic_stores(n_stores, n_cities=max(1, n_stores // 500))
    districts = DistrictStore(client)
    campaigns = CampaignStore(client)
    now = engine.clock()
    every = max(1, n_stores // max(1, n_campaigns))  # spread over all cities, so most pings see offers
    for i, s in enumerate(track(stores, description="seeding stores", console=console)):
        districts.put(s, operator.id)
        if i % every == 0:
            campaigns.put(Campaign(id=f"bench-{i}", owner=operator.id, district_id=s.id, kind="campaign",
                                   title=f"Offer {i}", body="bench", starts_at=now - timedelta(minutes=1),
                                   ends_at=now + timedelta(days=1)))
    return stores, key, channel_key


def lua_points(path: Path, lat, lng, post: bool, users: int | None = 200_000, delay_ms: float | None = None,
               channel_key: str | None = None, user_prefix: str = "u") -> str:
    """A wrk script: GET /v1/feed at, or POST /v1/locations from, random ones of these points (GCJ-02);
    locations from random user ids 1..``users``, each always at the same point, or with
    ``users=None`` each point always from its own user (after the first round, every ping is a repeat: the same user at the same place), sent
    by one channel's backend (``channel_key``), as the city channel sends them.
    ``delay_ms``: each connection waits that long before each request (a paced load, not flat out);
    ``user_prefix``: the user ids' (another prefix, other users)."""
    pts = ",".join(f"{{{a:.6f},{b:.6f}}}" for a, b in zip(lat, lng))
    if post:
        # Each user pings from one point only (``users // points`` users per point): a user
        # hopping between cities would be an impossible jump, and untrusted (docs/identity.md).
        per_point = max(1, (users or 0) // len(lat))
        user = "i" if users is None else f"i + {len(lat)} * math.random(0, {per_point - 1})"
        body = ('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["Authorization"] = "Bearer {channel_key}"\n'
                f"local pts = {{{pts}}}\n"
                "request = function()\n  local i = math.random(#pts)\n  local p = pts[i]\n"
                f'  local b = string.format(\'{{"user_id":"{user_prefix}%d","lat":%f,"lng":%f}}\', {user}, p[1], p[2])\n'
                '  return wrk.format(nil, "/v1/locations", nil, b)\nend\n')
        body = body.replace('"lng":%f}', '"lng":%f,"coord":"gcj02"}')
    else:
        body = (f"local pts = {{{pts}}}\n"
                "request = function()\n  local p = pts[math.random(#pts)]\n"
                '  return wrk.format("GET", string.format("/v1/feed?lat=%f&lng=%f&coord=gcj02", p[1], p[2]))\nend\n')
    if delay_ms is not None:
        body += f"function delay()\n  return {delay_ms:.1f}\nend\n"
    return wrk_script(path, body)


def freshness_ms(base: str, key: str, district_id: str = "fresh-mall", at: tuple[float, float] = (30.251, 120.1615),
                 probes: int = 20) -> float:
    """Upload a district at ``at`` (lat, lng) and a live campaign there; the time (ms) from the
    upload until a round of ``probes`` feed requests, sent at once on as many connections (which
    the kernel spreads over the workers), all show the campaign. A round takes one request's
    latency, so under load this is not ``probes`` latencies in a row."""
    lat, lng = at
    ring = [[lng - 0.0015, lat - 0.001], [lng + 0.0015, lat - 0.001], [lng + 0.0015, lat + 0.001],
            [lng - 0.0015, lat + 0.001], [lng - 0.0015, lat - 0.001]]
    feature = {"type": "Feature", "properties": {"id": district_id, "name": "Fresh", "city": "Hangzhou"},
               "geometry": {"type": "Polygon", "coordinates": [ring]}}  # GeoJSON: [lng, lat]
    limits = httpx.Limits(max_connections=probes, max_keepalive_connections=probes)
    with httpx.Client(base_url=base, timeout=10, limits=limits) as http, ThreadPoolExecutor(probes) as pool:
        h = {"Authorization": f"Bearer {key}"}
        def feed(_):
            return http.get("/v1/feed", params={"lat": lat, "lng": lng}).json()["offers"]

        list(pool.map(feed, range(probes)))  # the connections are open before the clock starts
        t0 = time.perf_counter()
        http.post("/v1/districts", json=feature, headers=h).raise_for_status()
        now = time.time()

        def iso(t):
            return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))

        c = http.post("/v1/campaigns", headers=h, json={"district_id": district_id, "title": "New", "body": "b",
                                                        "starts_at": iso(now - 60), "ends_at": iso(now + 3600)}).json()
        while time.perf_counter() - t0 < 10:
            if all(any(o["campaign_id"] == c["id"] for o in offers) for offers in pool.map(feed, range(probes))):
                break
        return (time.perf_counter() - t0) * 1000


VARIANTS = {"fast path": {}, "plain route": {"DE_DIRECT_ROUTES": "false"},
            "fast path, no JSON pieces": {"DE_OFFER_JSON_CAMPAIGNS": "0"}}
PATIENT = {"DE_REDIS_TIMEOUT_MS": "5000",  # a loaded machine's slow start is not a fault here
           "DE_QUOTA_DISTRICTS_PER_OPERATOR": "0"}  # the bench operator owns every synthetic store


def offer_json_us(offers_per_answer: int = 4) -> dict:
    """In process, no server: µs per offer of a locations answer's JSON with each campaign's pieces
    kept, and serialized whole (the best of 15 repeats: the least disturbed by other work)."""
    import timeit
    from types import SimpleNamespace

    from api.fastpath import OfferJson
    from api.routers.channel import offer_public_json
    from district_engine.campaigns.offers import Offer

    t0 = datetime(2026, 11, 11, 12, tzinfo=timezone.utc)
    offers = [Offer(Campaign(id=f"bench-{i}", owner="op", district_id="d1", kind="campaign", title=f"Offer {i}",
                             body="bench", starts_at=t0, ends_at=t0 + timedelta(days=1)), 123.456)
              for i in range(offers_per_answer)]
    engine = SimpleNamespace(district_name=lambda d: "Store 12")
    result = {}
    for label, size in (("pieces", 20_000), ("whole", 0)):
        offer_json = OfferJson(size)
        best = min(timeit.repeat(lambda cache=offer_json: [offer_public_json(o, engine, cache) for o in offers],
                                 number=2000, repeat=15))
        result[label] = best / 2000 / len(offers) * 1e6
    return result


def compare(redis_url: str, tmp: str, lat, lng, channel_key: str, rounds: int, seconds: int, connections: int,
            workers: int) -> dict:
    """Each variant's /healthz and locations, ``rounds`` times, the variants interleaved (a busy
    machine's drift falls on all of them alike), and the server's CPU per location update (Redis's
    is the same work in every variant)."""
    runs: dict[str, list] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        for i, (variant, env) in enumerate(VARIANTS.items()):
            with serving(redis_url, tmp, workers, env=PATIENT | env) as base:
                users = f"r{r}v{i}u"
                wrk(base, lua_points(Path(tmp) / "warm.lua", lat, lng, post=True, channel_key=channel_key,
                                     user_prefix=f"warm{users}"), 2, connections)
                healthz = wrk(f"{base}/healthz", None, seconds, connections)
                cpu = server_cpu_s(base)
                loc = wrk(base, lua_points(Path(tmp) / "cmp.lua", lat, lng, post=True, channel_key=channel_key,
                                           user_prefix=users), seconds, connections)
                loc["server_cpu_us"] = (server_cpu_s(base) - cpu) * 1e6 / max(1, loc["requests"])
                runs[variant].append({"healthz": healthz, "locations": loc})
                console.print(f"round {r + 1} {variant}: /healthz {healthz['req_s']:,.0f} req/s, locations "
                              f"{loc['req_s']:,.0f} req/s = {loc['req_s'] / healthz['req_s']:.1%} "
                              f"(p99 {loc['p99_ms']:.1f} ms), server CPU {loc['server_cpu_us']:.0f} us/update")
    return runs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stores", type=int, default=20_000)
    ap.add_argument("--campaigns", type=int, default=2_000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--compare", type=int, default=0, metavar="ROUNDS",
                    help="only locations: fast path, plain route, no JSON pieces, in this many rounds")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "api_load.json")
    args = ap.parse_args(argv)
    results = {"stores": args.stores, "campaigns": args.campaigns, "workers": args.workers}
    with tempfile.TemporaryDirectory(prefix="de-bench-http-") as tmp, EmbeddedRedis(tmp) as redis_server:
        stores, key, channel_key = seed(redis_server.url, args.stores, args.campaigns)
        lat, lng = synthetic_pings(stores, 2000, seed=9)
        lat, lng = from_wgs84(lat, lng, "gcj02")  # as the city channel's map SDK sends them
        if args.compare:
            results["offer_json_us"] = offer_json_us()
            console.print("offer JSON, us per offer: {pieces:.2f} from pieces, {whole:.2f} whole".format(
                **results["offer_json_us"]))
            results["compare"] = compare(redis_server.url, tmp, lat, lng, channel_key, args.compare, args.seconds,
                                         args.connections, args.workers)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.with_name("api_compare.json").write_text(json.dumps(results, indent=2))
            return results
        with serving(redis_server.url, tmp, args.workers, env=PATIENT) as base:
            feed_lua = lua_points(Path(tmp) / "feed.lua", lat, lng, post=False)
            loc_lua = lua_points(Path(tmp) / "loc.lua", lat, lng, post=True, channel_key=channel_key)
            results["healthz"] = wrk(f"{base}/healthz", None, args.seconds, args.connections)
            results["feed"] = wrk(base, feed_lua, args.seconds, args.connections)
            results["locations"] = wrk(base, loc_lua, args.seconds, args.connections)
            # The latency at the target's load: each connection paced to send its share of 40% of
            # /healthz's rate. Its wait is the period less what a request costs it at that pace
            # (the latency and wrk's own turn), which grows with the load: two calibration runs,
            # each correcting the wait by how far its cycle was from the period.
            period_ms = 1000 * args.connections / (0.4 * results["healthz"]["req_s"])

            def paced(wait_ms):
                return wrk(base, lua_points(Path(tmp) / "paced.lua", lat, lng, post=True, delay_ms=wait_ms,
                                            channel_key=channel_key), args.seconds, args.connections)

            wait_ms = period_ms
            for _ in range(2):
                cycle_ms = 1000 * args.connections / paced(wait_ms)["req_s"]
                wait_ms = max(0.0, wait_ms - (cycle_ms - period_ms))
            results["locations at 40%"] = paced(wait_ms)
            results["freshness_ms"] = freshness_ms(base, key)
            offers = httpx.get(f"{base}/v1/feed", params={"lat": float(lat[0]), "lng": float(lng[0]),
                                                          "coord": "gcj02"}).json()["offers"]
            results["sample_feed_offers"] = len(offers)
            sample = [len(httpx.get(f"{base}/v1/feed", params={"lat": float(a), "lng": float(b), "coord": "gcj02"})
                          .json()["offers"]) for a, b in zip(lat[:200], lng[:200])]
            results["feed_offers_per_ping"] = float(np.mean(sample))

    t = Table(title=f"HTTP, {args.workers} uvicorn workers, {args.stores:,} stores + 5 demo districts, wrk -c{args.connections}")
    for col in ("route", "req/s", "vs /healthz", "p50 (ms)", "p99 (ms)", "non-2xx"):
        t.add_column(col, justify="right" if col != "route" else "left")
    h = results["healthz"]["req_s"]
    for route in ("healthz", "feed", "locations", "locations at 40%"):
        r = results[route]
        t.add_row(route, f"{r['req_s']:,.0f}", f"{r['req_s'] / h:.0%}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                  str(r["non_2xx"]))
    console.print(t)
    console.print(f"feed answers carry {results['feed_offers_per_ping']:.1f} offers on average (200 sampled points)")
    console.print(f"a new district + campaign shown by a round of 20 feed requests at once after {results['freshness_ms']:.0f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
