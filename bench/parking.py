"""Gate-decision benchmark: signed plate events at a fixed rate against `district-engine serve --workers 2`.

Open loop (a request every 1/rate s, whatever the answers' pace, so a slow server shows as latency,
not as a lower rate): entries and exits interleaved, half the exiting cars with a bound account
(charged through the ledger gateway), half without (answered `pay`), after a warm-up. Baseline in
the same run and at the same time: GET /healthz at a fifth of the rate. Latency is measured at the
client (an upper bound of the server's) and read from the server's own Prometheus histogram (one
worker's: /metrics answers from the worker it reaches).

    make bench-parking [ARGS="--rate 500 --seconds 20"]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import numpy as np
from rich.console import Console
from rich.table import Table

from district_engine import load_demo_districts
from district_engine.engine import Engine
from district_engine.signing import headers as signed_headers
from district_engine.store import EmbeddedRedis, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpbench import serving  # noqa: E402  (the benches' shared helpers, beside this file)

console = Console(width=120)
TARIFF = {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000, "daily_cap_cents": 8000}


def seed(url: str, cars: int) -> tuple[str, str]:
    """A Sanlitun lot with room for every car, and every other car's plate bound: (lot id, secret)."""
    engine = Engine(connect(url))
    operator, _ = engine.stores.operators.create("bench")
    sanlitun = next(d for d in load_demo_districts() if d.id == "sanlitun-taikoo-li")
    engine.districts.put(sanlitun, operator.id)
    lot, secret = engine.parking.create_lot(operator.id, sanlitun.id, lat=39.9325, lng=116.4474, name="bench lot",
                                            capacity=100_000, tariff=TARIFF)
    for i in range(0, cars, 2):
        engine.parking.bind_plate(f"u{i}", plate(i), f"agr_{i}")
    return lot.id, secret


def plate(i: int, letter: str = "A") -> str:
    return f"京{letter}{i:05d}"


def events(cars: int, lag: int) -> list[tuple[str, int]]:
    """(type, car) interleaved: car i enters, and car i - lag leaves, until every car has left."""
    out = []
    for i in range(cars + lag):
        if i < cars:
            out.append(("vehicle.entry", i))
        if i >= lag:
            out.append(("vehicle.exit", i - lag))
    return out


async def open_loop(http: aiohttp.ClientSession, requests: list[tuple[str, bytes, dict]],
                    rate: float) -> tuple[np.ndarray, dict]:
    """Send each (path, body, headers) at its slot; latencies (ms) and status counts."""
    latencies = np.zeros(len(requests))
    statuses: dict[int, int] = {}
    start = time.perf_counter()

    async def one(i, path, body, headers):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        t = time.perf_counter()
        if body is None:
            async with http.get(path) as r:
                await r.read()
        else:
            async with http.post(path, data=body, headers=headers) as r:
                await r.read()
        latencies[i] = (time.perf_counter() - t) * 1000
        statuses[r.status] = statuses.get(r.status, 0) + 1

    await asyncio.gather(*(one(i, *req) for i, req in enumerate(requests)))
    return latencies, statuses


async def run(url: str, warmup: list, gates: list, health: list, rate: float) -> tuple:
    """The warm-up, then the gate events and /healthz side by side (healthz at a fifth of the rate),
    on one client session: connections opened by the warm-up are reused, and stay busy (an idle one
    is closed by the server after 5 s), so no measured request pays for a TCP connect."""
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=256)) as http:
        await open_loop(http, warmup, rate)
        return await asyncio.gather(open_loop(http, gates, rate), open_loop(http, health, rate / 5))


def server_latencies(log_path: Path, since: datetime) -> dict[str, np.ndarray]:
    """Server-side durations (ms) by route since a time, from both workers' JSON access logs."""
    out: dict[str, list] = {}
    stamp = since.strftime("%Y-%m-%dT%H:%M:%S")
    for line in log_path.read_text().splitlines():
        if '"district_engine.access"' not in line:
            continue
        rec = json.loads(line)
        if rec["ts"] >= stamp:
            out.setdefault(rec["route"], []).append(rec["duration_ms"])
    return {route: np.asarray(v) for route, v in out.items()}


def _server(durations) -> dict:
    if durations is None or not len(durations):
        return {"server_p50_ms": float("nan"), "server_p99_ms": float("nan"), "server_n": 0}
    return {"server_p50_ms": float(np.percentile(durations, 50)), "server_p99_ms": float(np.percentile(durations, 99)),
            "server_n": int(len(durations))}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=500, help="events per second")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    n_events = int(args.rate * args.seconds)
    cars = n_events // 2
    with tempfile.TemporaryDirectory(prefix="de-bench-parking-") as tmp, EmbeddedRedis(tmp, persistent=False) as srv:
        lot_id, secret = seed(srv.url, cars)
        with serving(srv.url, tmp, args.workers) as base:
            def gate_requests(n_cars: int, letter: str) -> list:
                entered = datetime.now(timezone.utc) - timedelta(hours=2)
                now_s = int(time.time())
                out = []
                for type_, car in events(n_cars, lag=min(1000, n_cars)):  # 2 s at 500/s: no exit overtakes its entry
                    at = entered if type_ == "vehicle.entry" else entered + timedelta(hours=2)
                    body = json.dumps({"type": type_, "plate": plate(car, letter), "confidence": 0.98,
                                       "captured_at": at.isoformat(), "lane": "in" if type_ == "vehicle.entry" else "out"},
                                      ensure_ascii=False).encode()
                    h = signed_headers(secret, f"msg_{uuid.uuid4().hex}", now_s, body) | {"Content-Type": "application/json"}
                    out.append((f"/v1/parking/lots/{lot_id}/gate-events", body, h))
                return out

            # Warm-up, not measured: every worker loads its scripts and models, the client opens its
            # connections; otherwise the first requests' start-up costs would count as the tail.
            warm_cars = max(50, int(args.rate))
            reqs = gate_requests(cars, "A")
            measured_from = datetime.now(timezone.utc) + timedelta(seconds=warm_cars * 2 / args.rate)
            (gates, gate_status), (health, health_status) = asyncio.run(run(
                base, gate_requests(warm_cars, "B"), reqs, [("/healthz", None, {})] * (len(reqs) // 5), args.rate))
            engine = Engine(connect(srv.url))
            ledger = engine.parking.store.ledger(lot_id)
            occupied = engine.parking.lot(lot_id).occupied
            reviews = len(engine.parking.store.reviews(lot_id, count=100_000))
        served = server_latencies(Path(tmp) / "serve.log", measured_from)
    charges = [e for e in ledger if e["type"] == "charge"]
    r = {
        "rate": args.rate, "events": len(reqs), "healthz_requests": len(health), "workers": args.workers,
        "healthz": {"p50_ms": float(np.percentile(health, 50)), "p99_ms": float(np.percentile(health, 99)),
                    "statuses": health_status, **_server(served.get("/healthz"))},
        "gate": {"p50_ms": float(np.percentile(gates, 50)), "p99_ms": float(np.percentile(gates, 99)),
                 "statuses": gate_status, **_server(served.get("/v1/parking/lots/{lot_id}/gate-events"))},
        "charges": len(charges), "charged_sessions": len({e["session"] for e in charges}),
        "cars_left_inside": occupied,  # those with no bound account were answered "pay" and wait
        "warmup_cars": warm_cars,  # none bound: all of them wait too
        "reviews": reviews,  # exits with no entry found (none expected)
    }
    table = Table(title=f"{r['events']:,} signed gate events at {args.rate:g}/s, {args.workers} workers "
                        f"(2-core machine: load generator, server and Redis share it)")
    for col in ("route", "p50 ms client", "p99 ms client", "p50 ms server", "p99 ms server", "statuses"):
        table.add_column(col, justify="right")
    for name, row in (("GET /healthz (baseline)", r["healthz"]), ("POST gate-events", r["gate"])):
        table.add_row(name, f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}", f"{row['server_p50_ms']:.2f}",
                      f"{row['server_p99_ms']:.2f}", str(row["statuses"]))
    console.print(table)
    console.print(f"server-side p99: gate {r['gate']['server_p99_ms']:.2f} ms (target < 15), "
                  f"{r['gate']['server_p99_ms'] / r['healthz']['server_p99_ms']:.1f}x /healthz's; the client's p99 adds "
                  f"the load generator's own waits on this 2-core machine; charges booked {r['charges']:,} for {r['charged_sessions']:,} sessions "
                  f"(each once: {r['charges'] == r['charged_sessions']}); cars still inside: {occupied:,}; events kept for review: "
                  f"{reviews}")
    return r


if __name__ == "__main__":
    main()
