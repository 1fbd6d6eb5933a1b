"""A TCP proxy between the engine and Redis that can hold a reply back (the late reply of a
command the server did run), cut a connection in the middle of a reply (the command ran, the
client saw half an answer), and black-hole all traffic (a partition: nothing arrives, nothing is
refused)."""

from __future__ import annotations

import socket
import threading
import time


class Proxy:
    """Forwards 127.0.0.1:<port> to ``target`` (host, port). ``hold_reply(pattern, seconds, skip)``:
    the reply to the next request holding ``pattern`` (bytes), after ``skip`` such requests, reaches
    the client ``seconds`` late. ``cut_reply(pattern)``: that reply's first half reaches the client,
    then both sides of the connection are closed. ``black_hole(True)``: bytes either way are
    dropped until ``black_hole(False)``."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pattern: bytes | None = None
        self._delay_s = 0.0
        self._skip = 0
        self._cut = False
        self._dropping = False
        self.held = self.cut = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def hold_reply(self, pattern: bytes, seconds: float, skip: int = 0) -> None:
        with self._lock:
            self._pattern, self._delay_s, self._skip, self._cut = pattern, seconds, skip, False

    def cut_reply(self, pattern: bytes, skip: int = 0) -> None:
        with self._lock:
            self._pattern, self._delay_s, self._skip, self._cut = pattern, 0.0, skip, True

    def black_hole(self, on: bool) -> None:
        with self._lock:
            self._dropping = on

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            hold = threading.Event()
            threading.Thread(target=self._pump, args=(client, server, hold, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, hold, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, hold: threading.Event, requests: bool) -> None:
        try:
            while data := src.recv(65536):
                if self._dropping:
                    continue
                if requests:
                    with self._lock:
                        if self._pattern is not None and self._pattern in data:
                            if self._skip:
                                self._skip -= 1
                            else:
                                self._pattern = None
                                hold.set()
                elif hold.is_set():
                    hold.clear()
                    if self._cut:  # the server ran it; half its answer, then the connection is gone
                        dst.sendall(data[:max(1, len(data) // 2)])
                        self.cut += 1
                        return
                    self.held += 1
                    time.sleep(self._delay_s)  # the server ran it; its answer comes late
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:  # shutdown first: a close alone sends no FIN while the other pump's recv holds the socket
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._listener.close()
