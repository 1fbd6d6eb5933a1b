"""Red-envelope grab benchmark: the grab script against a local embedded Redis, and grabs over HTTP.

Three loads in one run, on rains of 1,000,000 packets with distinct users:
  (a) redis-benchmark (C, 50 connections, pipelined) calling EVALSHA directly: the server's rate;
  (b) a pipelined Python client through RainStore's script: what one engine process can drive;
  (c) POST /v1/red-envelopes/{id}/grab through `district-engine serve --workers 2` under wrk, next
      to GET /healthz in the same run: a crowd of distinct users behind one channel's backend (one
      channel key, one address), as the city channel sends them; no limit is lifted, and none of
      them may be refused (429).
Needs redis-benchmark (Debian's redis-tools) and wrk; `make bench-rain` installs them if missing.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from rich.console import Console

from district_engine import load_demo_districts
from district_engine.engine import Engine
from district_engine.redenvelope import split_packets
from district_engine.store import EmbeddedRedis, connect, keys
from district_engine.store.channels import ChannelStore
from district_engine.store.rains import RainStore
from district_engine.store.scripts import Scripts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpbench import serving, wrk, wrk_script  # noqa: E402  (the benches' shared helpers, beside this file)

console = Console(width=120)
PACKETS = 1_000_000


def main():
    with tempfile.TemporaryDirectory(prefix="de-bench-rain-") as tmp, EmbeddedRedis(tmp, persistent=False) as srv:
        client = connect(srv.url)
        store = RainStore(client)
        now = int(time.time() * 1000)
        t = time.perf_counter()
        store.create("bench", split_packets(100_000_000, PACKETS, 1, rng=np.random.default_rng(0)), now - 1000, now + 3_600_000)
        console.print(f"created a rain of {PACKETS:,} packets in {time.perf_counter() - t:.1f} s")
        k = keys.rain_keys("bench")
        scripts = Scripts(client)
        sha = scripts._script("grab_packet").sha
        client.script_load(scripts._script("grab_packet").script)
        # (a) redis-benchmark: __rand_int__ gives each request a fresh user id.
        n = 400_000
        out = subprocess.run(
            ["redis-benchmark", "-p", str(srv.port), "-n", str(n), "-c", "50", "-P", "16", "-r", "100000000", "-q",
             "EVALSHA", sha, "6", k["meta"], k["packets"], k["winners"], k["ledger"], k["grabs"], k["grab_ids"],
             "user:__rand_int__", str(now), "grab:__rand_int__"],
            capture_output=True, text=True, check=True).stdout
        server_rate = float(re.findall(r"([\d.]+) requests per second", out)[-1])
        # (b) the Python client, pipelined 1,000 grabs per round trip.
        m = 100_000
        t = time.perf_counter()
        for start in range(0, m, 1000):
            scripts.pipeline([("grab_packet", [k["meta"], k["packets"], k["winners"], k["ledger"], k["grabs"], k["grab_ids"]],
                               [f"py{i}", now, f"g{i}"]) for i in range(start, start + 1000)])
        client_rate = m / (time.perf_counter() - t)
        problems = store.audit("bench")
        f = store.figures("bench")
        http = http_grabs(srv.url, tmp, seconds=10, connections=32)
    console.print(f"(a) redis-benchmark EVALSHA grab: {server_rate:,.0f} grabs/s (target 50,000)")
    console.print(f"(b) pipelined Python client:      {client_rate:,.0f} grabs/s")
    console.print(f"after {f.won_packets:,} wins: won {f.won_cents:,} + remaining {f.remaining_cents:,} + refunded "
                  f"{f.refunded_cents:,} = {f.won_cents + f.remaining_cents + f.refunded_cents:,} of {f.total_cents:,}; "
                  f"audit: {'clean' if not problems else problems}")
    h, g = http["healthz"], http["grab"]
    console.print(f"(c) HTTP, 2 workers, wrk -c32: /healthz {h['req_s']:,.0f} req/s (p50 {h['p50_ms']:.2f} ms, p99 "
                  f"{h['p99_ms']:.2f} ms); grab {g['req_s']:,.0f} req/s = {g['req_s'] / h['req_s']:.0%} of /healthz "
                  f"(p50 {g['p50_ms']:.2f} ms, p99 {g['p99_ms']:.2f} ms), non-2xx {g['non_2xx']}; "
                  f"{http['won_packets']:,} won over HTTP, audit: {'clean' if not http['problems'] else http['problems']}")
    return {"redis_benchmark_grabs_s": server_rate, "python_grabs_s": client_rate, "http": http}


def http_grabs(redis_url: str, tmp: str, seconds: int, connections: int) -> dict:
    """A live Sanlitun rain of 1,000,000 packets; wrk grabs it over HTTP with fresh user ids."""
    engine = Engine(connect(redis_url))
    operator, _ = engine.stores.operators.create("bench")
    _, channel_key, _ = ChannelStore(engine.client).create("bench channel")
    sanlitun = next(d for d in load_demo_districts() if d.id == "sanlitun-taikoo-li")
    engine.districts.put(sanlitun, operator.id)
    now = engine.clock()
    c = engine.campaigns.create(operator.id, district_id=sanlitun.id, kind="red_envelope", title="Rain", body="Grab!",
                               starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1),
                               total_cents=100_000_000, packets=PACKETS)
    script = wrk_script(Path(tmp) / "grab.lua",
                        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                        f'wrk.headers["Authorization"] = "Bearer {channel_key}"\n'
                        "request = function()\n"
                        '  local b = string.format(\'{"user_id":"h%d","lat":39.9300,"lng":116.4470}\', '
                        "math.random(1, 1000000000))\n"
                        f'  return wrk.format(nil, "/v1/red-envelopes/{c.id}/grab", nil, b)\nend\n')
    with serving(redis_url, tmp, workers=2) as base:
        out = {"healthz": wrk(f"{base}/healthz", None, seconds, connections),
               "grab": wrk(base, script, seconds, connections)}
    f = engine.stores.rains.figures(c.id)
    out |= {"won_packets": f.won_packets, "problems": engine.stores.rains.audit(c.id)}
    return out


if __name__ == "__main__":
    main()
