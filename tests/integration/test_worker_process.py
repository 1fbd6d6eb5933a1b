"""``district-engine worker`` as real processes on a real Redis: one killed with SIGKILL in the
middle of a delivery run, another started; every event reaches the receiver (at least once,
the same webhook-id if twice), and SIGTERM stops a worker cleanly."""

import os
import signal
import subprocess
import sys
import time

import pytest

from district_engine.engine import Engine
from district_engine.store.endpoints import EndpointStore
from district_engine.store.outbox import Outbox
from receiver import Receiver
from test_push import _push


def _worker(redis_url, tmp_path):
    env = os.environ | {"DE_REDIS_URL": redis_url, "DE_DATA_DIR": str(tmp_path), "DE_PUSH_RECLAIM_IDLE_S": "1",
                        "DE_PUSH_TIMEOUT_S": "2", "DE_ALLOW_PRIVATE_WEBHOOKS": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "district_engine.cli", "worker"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # up and running (signals handled) once it says so
        if "running" in line:
            return proc
    raise AssertionError(f"the worker exited: {proc.wait()}")


@pytest.mark.slow
def test_a_killed_worker_loses_nothing_and_sigterm_stops_cleanly(redis_url, redis_client, tmp_path):
    engine = Engine(redis_client, max_pushes_per_hour=100)
    with Receiver() as r:
        ep = EndpointStore(redis_client).create(r.url, owner="ch_a")  # _push's users are channel ch_a's
        r.secrets = [ep.secret]
        r.delay_s = 0.01  # slow enough that the kill lands in the middle
        ids = _push(engine, 400)
        first = _worker(redis_url, tmp_path)
        deadline = time.monotonic() + 30
        while len(r.delivered()) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert len(set(x["webhook_id"] for x in r.delivered())) < 400  # it died with work in hand
        second = _worker(redis_url, tmp_path)
        try:
            got = r.wait_for(400, timeout_s=60)
            deadline = time.monotonic() + 30
            while len({x["webhook_id"] for x in r.delivered()}) < 400 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sorted({x["webhook_id"] for x in r.delivered()}) == ids
            assert len(got) >= 400
        finally:
            second.send_signal(signal.SIGTERM)
            out, _ = second.communicate(timeout=30)
        assert second.returncode == 0, out
        assert "webhooks sent" in out
    assert Outbox(redis_client).stream.pending() == 0
