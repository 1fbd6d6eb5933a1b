"""Orders benchmark: orders attributed per second, through the HTTP API and directly through the service.

Seed: Sanlitun under one operator with 20 guides (one of whom left, handing its members to another)
and --members members served by them, a channel, and a live campaign whose offer a fifth of the
members were given through the engine's locations. Then, on one embedded Redis:
  (a) POST /v1/orders through `district-engine serve --workers 2` under wrk: fresh order ids, nine in
      ten from members and one in ten from others, the three sales channels, the operator's own key.
      Beside it, in the same run and at the same connection count, GET /healthz. The operator's orders
      limit (DE_OPERATOR_ORDERS_PER_MINUTE, 60,000 a minute by default: 1,000 a second) is raised
      out of reach, not turned off: its count still runs on every request. Then again on a server
      with the count off (0), /healthz beside it again: what the count costs;
  (b) the guides service directly (Guides.record_order), one order at a time: a few round trips each;
  (c) the service's batch path (Guides.record_orders) in --clients processes, --batch orders a call:
      the same checks and rules per order, a few round trips per batch.
Ends with the guides audit over every order (zero mismatches) and a table.

    make bench-orders [ARGS="--seconds 10 --direct-orders 200000 --clients 2"]  (--direct-only: no HTTP)

With --compare N (instead of the above): (a) on the fast path and as a plain FastAPI route
(DE_DIRECT_ROUTES=false), in N interleaved rounds, each beside its own /healthz.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from multiprocessing import get_context
from pathlib import Path

from rich.console import Console
from rich.table import Table

from district_engine import load_demo_districts
from district_engine.channel import check_ping
from district_engine.engine import Engine
from district_engine.guides.service import NewOrder
from district_engine.store import EmbeddedRedis, connect, keys
from district_engine.store.channels import ChannelStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpbench import server_cpu_s, serving, wrk, wrk_script  # noqa: E402  (the benches' shared helpers, beside this file)

console = Console(width=120)
SALES_CHANNELS = ("store", "cloud_store", "flagship")
GUIDES = 20
NEAR_SANLITUN = (39.9300, 116.4470)  # (lat, lng), about 270 m from the footprint


def seed(url: str, members: int) -> dict:
    """The operator, its key, a channel, the guides and their members, a campaign given to a fifth of
    them: the ids the loads need."""
    engine = Engine(connect(url))
    operator, key = engine.stores.operators.create("bench brand")
    channel, _, _ = ChannelStore(engine.client).create("bench channel")
    sanlitun = next(d for d in load_demo_districts() if d.id == "sanlitun-taikoo-li")
    engine.districts.put(sanlitun, operator.id)
    now = engine.clock()
    engine.campaigns.create(operator.id, district_id=sanlitun.id, kind="campaign", title="Double 11",
                           body="Up to 50% off", starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(days=1))
    guides = engine.guides
    team = [guides.create_guide(operator.id, sanlitun.id, f"Guide {i}", 200 + 25 * i) for i in range(GUIDES)]
    served = now - timedelta(days=3)
    for i in range(members):
        guides.record_service(team[i % GUIDES].id, operator.id, channel.id, f"m{i}", served)
    guides.deactivate(team[-1].id, operator.id, team[0].id)  # a guide left: its members are the first's
    lat, lng = NEAR_SANLITUN
    given = [check_ping(f"{channel.id}:m{i}", lat, lng) for i in range(0, members, 5)]
    for start in range(0, len(given), 1000):
        engine.channel.locate_many(given[start:start + 1000])
    return {"operator": operator.id, "key": key, "channel": channel.id}


def orders_script(path: Path, ids: dict, run: str, members: int) -> str:
    """A wrk script: POST /v1/orders with a fresh order id each (run, thread, count), a random user
    (nine in ten a member), amount and sales channel, dated now."""
    return wrk_script(path, (
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {ids["key"]}"\n'
        'local sales = {"store", "cloud_store", "flagship"}\nlocal n = 0\n'
        "request = function()\n  n = n + 1\n"
        f"  local user = math.random(0, {members * 10 // 9})\n"
        "  local b = string.format('{\"order_id\":\"%s-%d-%d\",\"channel_id\":\"%s\",\"user_id\":\"m%d\","
        "\"amount_cents\":%d,\"sales_channel\":\"%s\",\"at\":\"%s\"}', "
        f'"{run}", thread_no, n, "{ids["channel"]}", user, math.random(100, 500000), sales[math.random(1, 3)], '
        'os.date("!%Y-%m-%dT%H:%M:%SZ"))\n'
        '  return wrk.format(nil, "/v1/orders", nil, b)\nend\n'))


def recorded(client, operator_id: str) -> int:
    return int(client.hlen(keys.guide_keys(operator_id)["orders"]))


def http_orders(url: str, tmp: str, ids: dict, members: int, seconds: int, connections: int, workers: int,
                calls_per_minute: int, run: str, env: dict | None = None) -> dict:
    """/healthz, then orders, on `district-engine serve` with this operator orders limit (0: not counted)
    and ``env``."""
    client = connect(url)
    with serving(url, tmp, workers, env={"DE_OPERATOR_ORDERS_PER_MINUTE": str(calls_per_minute)} | (env or {})) as base:
        # Warm-up, not measured: every worker loads its scripts and caches the key, wrk's
        # connections open.
        wrk(base, orders_script(Path(tmp) / "warm.lua", ids, f"warm-{run}", members), 2, connections)
        before = recorded(client, ids["operator"])
        healthz = wrk(f"{base}/healthz", None, seconds, connections)
        cpu = server_cpu_s(base)
        orders = wrk(base, orders_script(Path(tmp) / "orders.lua", ids, run, members), seconds, connections)
        orders["server_cpu_us"] = (server_cpu_s(base) - cpu) * 1e6 / max(1, orders["requests"])
        n = recorded(client, ids["operator"]) - before
    return {"healthz": healthz, "orders": orders | {"orders": n}, "calls_per_minute": calls_per_minute}


def _service_orders(ids: dict, members: int, n: int, prefix: str, seed_: int) -> list[NewOrder]:
    import random

    rng = random.Random(seed_)
    at = datetime.now(timezone.utc)
    return [NewOrder(f"{prefix}-{i}", ids["channel"], f"m{rng.randrange(members * 10 // 9)}",
                     rng.randrange(100, 500_000), SALES_CHANNELS[i % 3], at) for i in range(n)]


def one_at_a_time(url: str, ids: dict, members: int, n: int) -> dict:
    guides = Engine(connect(url)).guides
    orders = _service_orders(ids, members, n, "single", 1)
    t = time.perf_counter()
    for o in orders:
        guides.record_order(ids["operator"], *o[:6], district_id=o.district_id)
    return {"orders": n, "orders_s": n / (time.perf_counter() - t)}


def _client(url: str, ids: dict, members: int, n: int, batch: int, p: int, start_at: float, results) -> None:
    """One client process of the batch load; puts (its start, its end, the orders it recorded anew,
    the orders refused) in ``results``, or the error that stopped it."""
    try:
        results.put(_client_run(url, ids, members, n, batch, p, start_at))
    except Exception as exc:  # noqa: BLE001 - reported by the parent, which waits for every child
        results.put(repr(exc))


def _client_run(url: str, ids: dict, members: int, n: int, batch: int, p: int, start_at: float) -> tuple:
    guides = Engine(connect(url)).guides
    guides.record_orders(ids["operator"], _service_orders(ids, members, 10, f"warm{p}", p))  # scripts, connections
    new = refused = 0
    while time.time() < start_at:
        time.sleep(0.001)
    t = time.perf_counter()
    for start in range(0, n, batch):
        part = _service_orders(ids, members, min(batch, n - start), f"batch{p}-{start}", p * 1_000_003 + start)
        answers = guides.record_orders(ids["operator"], part)
        refused += sum(isinstance(a, Exception) for a in answers)
        new += sum(not isinstance(a, Exception) and not a.replayed for a in answers)
    return t, time.perf_counter(), new, refused


def redis_cpu_s(client) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def batched(url: str, ids: dict, members: int, n: int, batch: int, clients: int) -> dict:
    """The batch load, and what Redis spent on it: its CPU per order, so its ceiling for this load
    (every order's script on one core; the clients are Python, on the other)."""
    client = connect(url)
    cpu_before = redis_cpu_s(client)
    # Forked, and nothing pickled but the answers: the smoke test loads this module from its path,
    # under a name a spawned child could not import.
    ctx = get_context("fork")
    results = ctx.Queue()
    start_at = time.time() + 5
    procs = [ctx.Process(target=_client, args=(url, ids, members, n // clients, batch, p, start_at, results))
             for p in range(clients)]
    for proc in procs:
        proc.start()
    runs = [results.get(timeout=3600) for _ in procs]
    for proc in procs:
        proc.join()
    if failed := [r for r in runs if isinstance(r, str)]:
        raise RuntimeError(f"a client process failed: {failed}")
    span = max(r[1] for r in runs) - min(r[0] for r in runs)  # perf_counter: one monotonic clock for the machine
    new = sum(r[2] for r in runs)
    redis_us = (redis_cpu_s(client) - cpu_before) * 1e6 / max(1, new)
    return {"orders": new, "refused": sum(r[3] for r in runs), "sent": n // clients * clients, "orders_s": new / span,
            "clients": clients, "batch": batch, "redis_cpu_us_per_order": redis_us}


VARIANTS = {"fast path": {}, "plain route": {"DE_DIRECT_ROUTES": "false"}}


def compare(http: tuple, rounds: int, out: Path) -> dict:
    """(a) for each variant, ``rounds`` times, the variants interleaved (a busy machine's drift
    falls on both alike)."""
    runs: dict[str, list] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        for i, (variant, env) in enumerate(VARIANTS.items()):
            run = http_orders(*http, calls_per_minute=10**9, run=f"cmp{r}v{i}", env={"DE_REDIS_TIMEOUT_MS": "5000"} | env)
            runs[variant].append(run)
            h, o = run["healthz"], run["orders"]
            console.print(f"round {r + 1} {variant}: /healthz {h['req_s']:,.0f} req/s, orders {o['req_s']:,.0f} "
                          f"req/s = {o['req_s'] / h['req_s']:.1%} (p99 {o['p99_ms']:.1f} ms), server CPU "
                          f"{o['server_cpu_us']:.0f} us/order")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_name("orders_compare.json").write_text(json.dumps(runs, indent=2, default=str))
    return runs


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=10, help="each wrk run (/healthz, then orders)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--single-orders", type=int, default=2_000)
    ap.add_argument("--direct-orders", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--clients", type=int, default=2, help="processes of the batch load")
    ap.add_argument("--direct-only", action="store_true", help="skip (a): the service's paths and the audit only")
    ap.add_argument("--compare", type=int, default=0, metavar="ROUNDS",
                    help="only (a): the fast path and the plain route, in this many rounds")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "orders.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="de-bench-orders-") as tmp, EmbeddedRedis(tmp, persistent=False) as srv:
        t = time.perf_counter()
        ids = seed(srv.url, args.members)
        console.print(f"seeded {args.members:,} members of {GUIDES} guides in {time.perf_counter() - t:.1f} s")
        r = {"members": args.members, "workers": args.workers, "connections": args.connections}
        http = (srv.url, tmp, ids, args.members, args.seconds, args.connections, args.workers)
        if args.compare:
            return compare(http, args.compare, args.out)
        if not args.direct_only:
            r["http"] = http_orders(*http, calls_per_minute=10**9, run="http")
            r["http_uncounted"] = http_orders(*http, calls_per_minute=0, run="uncounted")
        r["single"] = one_at_a_time(srv.url, ids, args.members, args.single_orders)
        r["batched"] = batched(srv.url, ids, args.members, args.direct_orders, args.batch, args.clients)
        engine = Engine(connect(srv.url))
        t = time.perf_counter()
        figures, problems = engine.guides.audit(ids["operator"])
        r["audit"] = {"figures": figures, "problems": problems, "seconds": time.perf_counter() - t}
        r["recorded"] = recorded(engine.client, ids["operator"])
        totals = engine.client.hgetall(keys.guide_keys(ids["operator"])["totals"])
        r["conversions"] = sum(int(v) for f, v in totals.items() if f.endswith(b":conversions"))
    table = Table(title=f"orders attributed: Sanlitun, {GUIDES} guides, {args.members:,} members "
                        f"(2-core machine: load generator, server and Redis share it)")
    for col in ("path", "orders", "orders/s", "vs /healthz", "p50 ms", "p99 ms", "non-2xx"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for key, what in (("http", "calls counted"), ("http_uncounted", "calls not counted")):
        if key not in r:
            continue
        h, o = r[key]["healthz"], r[key]["orders"]
        table.add_row(f"GET /healthz (baseline), wrk -c{args.connections}", "", f"{h['req_s']:,.0f}", "100%",
                      f"{h['p50_ms']:.2f}", f"{h['p99_ms']:.2f}", str(h["non_2xx"]))
        table.add_row(f"POST /v1/orders, {args.workers} workers, {what}", f"{o['orders']:,}", f"{o['req_s']:,.0f}",
                      f"{o['req_s'] / h['req_s']:.0%}", f"{o['p50_ms']:.2f}", f"{o['p99_ms']:.2f}", str(o["non_2xx"]))
    s, b = r["single"], r["batched"]
    table.add_row("Guides.record_order, one at a time", f"{s['orders']:,}", f"{s['orders_s']:,.0f}", "", "", "", "")
    table.add_row(f"Guides.record_orders, {b['batch']:,} a call, {b['clients']} processes", f"{b['orders']:,}",
                  f"{b['orders_s']:,.0f}", "", "", "", "")
    console.print(table)
    console.print(f"Redis spent {b['redis_cpu_us_per_order']:.1f} us of CPU per order of the batch load (the store's "
                  f"ceiling on one core: {1e6 / b['redis_cpu_us_per_order']:,.0f} orders/s); the rest of its time "
                  f"was the Python clients'")
    a = r["audit"]
    console.print(f"audit of {a['figures']['orders']:,} orders ({r['recorded']:,} recorded; {r['conversions']:,} "
                  f"campaign conversions) in {a['seconds']:.1f} s: "
                  f"{'clean' if not a['problems'] else str(len(a['problems'])) + ' mismatches'}; targets: HTTP >= 30% "
                  f"of /healthz, direct >= 20,000/s")
    for p in a["problems"][:10]:
        console.print(f"[red]mismatch:[/red] {p}", soft_wrap=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, indent=2, default=str))
    return r


if __name__ == "__main__":
    main()
