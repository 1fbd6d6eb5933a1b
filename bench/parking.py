"""Gate-decision benchmark: signed plate events at a fixed rate against `district-engine serve --workers 2`.

Open loop (a request every 1/rate s, whatever the answers' pace, so a slow server shows as latency,
not as a lower rate): entries and exits interleaved, half the exiting cars with a bound account
(charged through the ledger gateway), half without (answered `pay`). Baseline in the same run:
GET /healthz at the same rate. Latency is measured at the client (an upper bound of the server's)
and read from the server's own Prometheus histogram.

    make bench-parking [ARGS="--rate 500 --seconds 20"]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from district_engine import load_demo_districts
from district_engine.engine import Engine
from district_engine.signing import headers as signed_headers
from district_engine.store import EmbeddedRedis, connect

console = Console(width=120)
TARIFF = {"free_minutes": 15, "unit_minutes": 60, "cents_per_unit": 1000, "daily_cap_cents": 8000}


def seed(url: str, cars: int) -> tuple[str, str]:
    """A Sanlitun lot with room for every car, and every other car's plate bound: (lot id, secret)."""
    engine = Engine(connect(url))
    operator, _ = engine.operators.create("bench")
    sanlitun = next(d for d in load_demo_districts() if d.id == "sanlitun-taikoo-li")
    engine.put_district(sanlitun, operator.id)
    lot, secret = engine.create_lot(operator.id, sanlitun.id, 39.9325, 116.4474, name="bench lot", capacity=100_000,
                                    tariff=TARIFF)
    for i in range(0, cars, 2):
        engine.parking.bind_plate(f"u{i}", plate(i), f"agr_{i}")
    return lot.id, secret


def plate(i: int) -> str:
    return f"京A{i:05d}"


def events(cars: int, lag: int) -> list[tuple[str, int]]:
    """(type, car) interleaved: car i enters, and car i - lag leaves, until every car has left."""
    out = []
    for i in range(cars + lag):
        if i < cars:
            out.append(("vehicle.entry", i))
        if i >= lag:
            out.append(("vehicle.exit", i - lag))
    return out


async def open_loop(url: str, requests: list[tuple[str, bytes, dict]], rate: float) -> tuple[np.ndarray, dict]:
    """Send each (path, body, headers) at its slot; latencies (ms) and status counts."""
    latencies = np.zeros(len(requests))
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(url, connector=connector) as http:
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


def server_p99_ms(metrics: str, route: str) -> str:
    """The p99 bucket of the server's own latency histogram for a route ("<= x ms")."""
    buckets = {}
    for labels, count in re.findall(r"^http_request_duration_seconds_bucket\{([^}]*)\} (\S+)$", metrics, re.M):
        label = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if label.get("route") == route:
            bound = float("inf") if label["le"] == "+Inf" else float(label["le"])
            buckets[bound] = buckets.get(bound, 0) + float(count)  # summed over the status labels
    total = buckets.get(float("inf"), 0)
    for le in sorted(buckets):
        if total and buckets[le] >= 0.99 * total:
            return f"<= {le * 1000:g} ms" if le != float("inf") else "> 1 s"
    return "n/a"


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
        port = 18000 + os.getpid() % 1000
        env = os.environ | {"DE_REDIS_URL": srv.url, "DE_DATA_DIR": tmp}
        log = open(Path(tmp) / "serve.log", "w")
        server = subprocess.Popen([sys.executable, "-m", "district_engine.cli", "serve", "--port", str(port),
                                   "--workers", str(args.workers)], env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start:\n" + (Path(tmp) / "serve.log").read_text()[-3000:])
                time.sleep(0.2)
            entered = datetime.now(timezone.utc) - timedelta(hours=2)
            now_s = int(time.time())
            reqs = []
            for type_, car in events(cars, lag=min(200, cars)):
                at = entered if type_ == "vehicle.entry" else entered + timedelta(hours=2)
                body = json.dumps({"type": type_, "plate": plate(car), "confidence": 0.98,
                                   "captured_at": at.isoformat(), "lane": "in" if type_ == "vehicle.entry" else "out"},
                                  ensure_ascii=False).encode()
                h = signed_headers(secret, f"msg_{uuid.uuid4().hex}", now_s, body) | {"Content-Type": "application/json"}
                reqs.append((f"/v1/parking/lots/{lot_id}/gate-events", body, h))
            health, health_status = asyncio.run(open_loop(base, [("/healthz", None, {})] * len(reqs), args.rate))
            gates, gate_status = asyncio.run(open_loop(base, reqs, args.rate))
            metrics = httpx.get(f"{base}/metrics").text
            engine = Engine(connect(srv.url))
            ledger = engine.parking.store.ledger(lot_id)
            occupied = engine.parking.lot(lot_id).occupied
        finally:
            server.terminate()
            server.wait(30)
    charges = [e for e in ledger if e["type"] == "charge"]
    r = {
        "rate": args.rate, "events": len(reqs), "workers": args.workers,
        "healthz": {"p50_ms": float(np.percentile(health, 50)), "p99_ms": float(np.percentile(health, 99)),
                    "statuses": health_status, "server_p99": server_p99_ms(metrics, "/healthz")},
        "gate": {"p50_ms": float(np.percentile(gates, 50)), "p99_ms": float(np.percentile(gates, 99)),
                 "statuses": gate_status,
                 "server_p99": server_p99_ms(metrics, "/v1/parking/lots/{lot_id}/gate-events")},
        "charges": len(charges), "charged_sessions": len({e["session"] for e in charges}),
        "cars_left_inside": occupied,  # those with no bound account were answered "pay" and wait
    }
    table = Table(title=f"{r['events']:,} signed gate events at {args.rate:g}/s, {args.workers} workers "
                        f"(2-core machine: load generator, server and Redis share it)")
    for col in ("route", "p50 ms (client)", "p99 ms (client)", "p99 (server histogram)", "statuses"):
        table.add_column(col, justify="right")
    for name, row in (("GET /healthz (baseline)", r["healthz"]), ("POST gate-events", r["gate"])):
        table.add_row(name, f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}", row["server_p99"], str(row["statuses"]))
    console.print(table)
    console.print(f"p99 ratio gate/healthz: {r['gate']['p99_ms'] / r['healthz']['p99_ms']:.2f}x (target: gate p99 "
                  f"< 15 ms server-side); charges booked {r['charges']:,} for {r['charged_sessions']:,} sessions "
                  f"(each once: {r['charges'] == r['charged_sessions']}); cars still inside: {occupied:,}")
    return r


if __name__ == "__main__":
    main()
