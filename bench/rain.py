"""Red-envelope grab benchmark: the grab script against a local embedded Redis.

Two loads in one run, on a rain of 1,000,000 packets with distinct users:
  (a) redis-benchmark (C, 50 connections, pipelined) calling EVALSHA directly: the server's rate;
  (b) a pipelined Python client through RainStore's script: what one engine process can drive.
Needs redis-benchmark (Debian's redis-tools); `make bench-rain` installs it if missing.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time

import numpy as np
from rich.console import Console

from district_engine.redenvelope import split_packets
from district_engine.store import EmbeddedRedis, connect, keys
from district_engine.store.rains import RainStore
from district_engine.store.scripts import Scripts

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
             "EVALSHA", sha, "5", k["meta"], k["packets"], k["winners"], k["ledger"], k["grabs"], "user:__rand_int__", str(now),
             "g"],
            capture_output=True, text=True, check=True).stdout
        server_rate = float(re.findall(r"([\d.]+) requests per second", out)[-1])
        # (b) the Python client, pipelined 1,000 grabs per round trip.
        m = 100_000
        t = time.perf_counter()
        for start in range(0, m, 1000):
            scripts.pipeline([("grab_packet", [k["meta"], k["packets"], k["winners"], k["ledger"], k["grabs"]],
                               [f"py{i}", now, f"g{i}"]) for i in range(start, start + 1000)])
        client_rate = m / (time.perf_counter() - t)
        problems = store.audit("bench")
        f = store.figures("bench")
    console.print(f"(a) redis-benchmark EVALSHA grab: {server_rate:,.0f} grabs/s (target 50,000)")
    console.print(f"(b) pipelined Python client:      {client_rate:,.0f} grabs/s")
    console.print(f"after {f.won_packets:,} wins: won {f.won_cents:,} + remaining {f.remaining_cents:,} + refunded "
                  f"{f.refunded_cents:,} = {f.won_cents + f.remaining_cents + f.refunded_cents:,} of {f.total_cents:,}; "
                  f"audit: {'clean' if not problems else problems}")


if __name__ == "__main__":
    main()
