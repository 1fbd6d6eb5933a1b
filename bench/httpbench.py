"""What the HTTP benchmarks share: `district-engine serve` on an embedded Redis, and wrk."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

__all__ = ["serving", "server_cpu_s", "start_worker", "stop_processes", "workers", "wrk", "wrk_script"]

# wrk runs its script in one Lua state per thread, each seeded alike: without a seed of its own,
# every thread sends the same "random" requests (2 threads: 44k requests, 22k distinct), so half
# of what was meant as first contacts were repeats. Seeded per thread: 29.6k requests, 29.2k distinct.
_SEED_EACH_THREAD = """local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end
function init(args)
  math.randomseed(os.time() * 100 + thread_no)
end
"""


def wrk_script(path: Path, body: str) -> str:
    """Write a wrk script (``request`` and the rest) whose threads each draw their own random
    numbers; its path."""
    path.write_text(_SEED_EACH_THREAD + body)
    return str(path)


@contextmanager
def serving(redis_url: str, data_dir: str | Path, workers: int = 2, env: dict | None = None):
    """`district-engine serve --workers N` against ``redis_url`` until the block ends: yields its
    base URL once several /readyz answers in a row say every worker has loaded. Its log (JSON
    access lines included) is data_dir/serve.log."""
    port = 18000 + os.getpid() % 1000
    log_path = Path(data_dir) / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "district_engine.cli", "serve", "--port", str(port),
                                   "--workers", str(workers)],
                                  env=os.environ | {"DE_REDIS_URL": redis_url, "DE_DATA_DIR": str(data_dir)} | (env or {}),
                                  stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            ready = 0
            while ready < 10:
                try:
                    ready = ready + 1 if httpx.get(f"{base}/readyz", timeout=2).status_code == 200 else 0
                except httpx.HTTPError:
                    time.sleep(0.2)
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start:\n" + log_path.read_text()[-3000:])
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


def server_cpu_s(base: str) -> float:
    """CPU seconds spent so far by the `district-engine serve` at ``base`` (serving's) and its
    workers: per request, a cost that a busy machine's other load changes far less than a rate."""
    import psutil

    port = base.rsplit(":", 1)[1]
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "serve" in cmd and "--port" in cmd and cmd[cmd.index("--port") + 1] == port:
            total = 0.0
            for q in [p, *p.children(recursive=True)]:
                t = q.cpu_times()
                total += t.user + t.system
            return total
    raise LookupError(f"no server at {base}")


def start_worker(redis_url: str, data_dir: str | Path, i: int, env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    """A `district-engine worker` process against ``redis_url``; it and its log, data_dir/worker<i>.log
    (it says "running" once it is)."""
    log_path = Path(data_dir) / f"worker{i}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "district_engine.cli", "worker"],
                                env=os.environ | {"DE_REDIS_URL": redis_url, "DE_DATA_DIR": str(data_dir)} | (env or {}),
                                stdout=log, stderr=subprocess.STDOUT)
    return proc, log_path


@contextmanager
def workers(redis_url: str, data_dir: str | Path, n: int, env: dict | None = None):
    """``n`` worker processes (``start_worker``) until the block ends; yields them once all run."""
    started = [start_worker(redis_url, data_dir, i, env) for i in range(n)]
    try:
        deadline = time.monotonic() + 120
        while not all("running" in log.read_text() for _, log in started):
            if any(p.poll() is not None for p, _ in started) or time.monotonic() > deadline:
                raise RuntimeError("a worker did not start:\n" + "\n".join(log.read_text()[-2000:] for _, log in started))
            time.sleep(0.2)
        yield [p for p, _ in started]
    finally:
        stop_processes([p for p, _ in started])


def stop_processes(procs: list[subprocess.Popen], timeout_s: float = 30) -> None:
    """SIGTERM to each, then wait for each (killed if it takes longer than ``timeout_s``)."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wrk(url: str, script: str | None, seconds: int, connections: int) -> dict:
    """req/s, p50/p99 (ms), requests and non-2xx answers of one wrk run (2 threads)."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def ms(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"req_s": rps, "p50_ms": ms("50"), "p99_ms": ms("99"), "requests": requests,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}
