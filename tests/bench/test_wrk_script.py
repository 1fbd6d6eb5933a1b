"""wrk's threads must not send the same "random" requests (they did, so half of the benchmarks'
first contacts were repeats)."""

import http.server
import threading

import pytest

from helpers import free_port, load_bench


@pytest.mark.slow
def test_each_wrk_thread_draws_its_own_random_requests(tmp_path):
    paths = []

    class Record(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            paths.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        httpbench = load_bench("httpbench")
        script = httpbench.wrk_script(tmp_path / "r.lua", 'request = function()\n'
                                      '  return wrk.format("GET", "/" .. math.random(1, 1000000000))\nend\n')
        httpbench.wrk(f"http://127.0.0.1:{server.server_address[1]}/", script, 1, 2)
    finally:
        server.shutdown()
    assert len(paths) > 100
    assert len(set(paths)) > 0.99 * len(paths)  # both threads alike would give one half
