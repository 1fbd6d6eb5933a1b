"""A real local webhook receiver for tests: an HTTP server on a free port that verifies every
request's Standard Webhooks signature and records what it got; its answers can be scripted."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from district_engine.signing import verify


class Receiver:
    def __init__(self, secrets: list[str] | None = None):
        self.secrets = secrets or []
        self.received: list[dict] = []  # verified deliveries: {"webhook_id", "payload", "status", "at"}
        self.bad_signatures = 0
        self.answers: list[int] = []  # statuses to answer next, in order; then 204
        self.delay_s = 0.0  # how long each answer takes
        self.reply_bytes = 0  # the size of each answer's body
        self.reply_declares_length = True  # False: no Content-Length, the body ends when the connection closes
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay_s)
                try:
                    verify(receiver.secrets, self.headers.get("webhook-id"), self.headers.get("webhook-timestamp"),
                           self.headers.get("webhook-signature"), body, now_s=time.time())
                except Exception:
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    status = 401
                else:
                    with receiver.lock:
                        status = receiver.answers.pop(0) if receiver.answers else 204
                        receiver.received.append({"webhook_id": self.headers["webhook-id"],
                                                  "payload": json.loads(body), "status": status,
                                                  "at": time.time()})
                self.send_response(status)
                if receiver.reply_declares_length:
                    self.send_header("Content-Length", str(receiver.reply_bytes))
                else:
                    self.close_connection = True
                self.end_headers()
                try:
                    self.wfile.write(b"x" * receiver.reply_bytes)
                except OSError:  # the sender hung up: it had read enough
                    pass

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # the sender opens hundreds of connections at once
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> list[dict]:
        """Deliveries answered 2xx."""
        with self.lock:
            return [r for r in self.received if 200 <= r["status"] < 300]

    def wait_for(self, n: int, timeout_s: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.delivered()
            if len(got) >= n:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{len(self.delivered())} deliveries of {n} arrived in {timeout_s} s")
