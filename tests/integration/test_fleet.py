"""The engine as it is deployed: two `district-engine serve` API processes and two
`district-engine worker` processes sharing one Redis (a single server, and a Redis Cluster), each a
real process started from the command line. Users ping both API processes at once; gates send
every exit twice, to both. Offers are at most once, charges exactly once, and pushes complete."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from district_engine.parking.gate_client import gate_event_request
from district_engine.store import connect
from district_engine.store.parking import ParkingStore
from helpers import free_port
from receiver import Receiver

ADMIN = "fleet-admin-token"
NEAR_SANLITUN = (39.9300, 116.4470)  # (lat, lng), about 270 m from the footprint
LOT = "sanlitun-south-p"  # a demo lot: ¥10 per started hour after 15 free minutes (geodata/parking_lots.geojson)
USERS = 120
PLATES = 20


def _start(args: list[str], env: dict, ready: str) -> subprocess.Popen:
    """The command as a process, once it prints ``ready``; its output is drained from then on (a
    full pipe would block its logging, and with it the process)."""
    proc = subprocess.Popen([sys.executable, "-m", "district_engine.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc.output = []
    for line in proc.stdout:
        proc.output.append(line)
        if ready in line:
            threading.Thread(target=lambda: proc.output.extend(proc.stdout), daemon=True).start()
            return proc
    raise AssertionError(f"{args} exited: {proc.wait()}: {''.join(proc.output)}")


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    time.sleep(0.1)  # the drain thread reads the last lines
    return proc.returncode, "".join(proc.output[-40:])


@pytest.mark.slow
def test_two_api_processes_and_two_workers_offer_once_charge_once_and_push_everything(redis_url, tmp_path):
    client = connect(redis_url)
    client.flushall()
    env = os.environ | {"DE_REDIS_URL": redis_url, "DE_DATA_DIR": str(tmp_path), "DE_WORKER": "false",
                        "DE_ADMIN_TOKEN": ADMIN, "DE_PUSH_ALLOW_PRIVATE_URLS": "true", "DE_MAX_PUSHES_PER_HOUR": "100",
                        "DE_PUSH_RECLAIM_IDLE_S": "1"}
    ports = [free_port(), free_port()]
    procs = []
    try:
        for port in ports:  # the first seeds the demo; the second finds it seeded
            procs.append(_start(["serve", "--port", str(port)], env, "Uvicorn running"))
        apis = [httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=10) for p in ports]
        key = (tmp_path / "demo_operator_key").read_text().strip()
        secret = json.loads((tmp_path / "demo_lot_secrets.json").read_text())[LOT]
        channel = {"Authorization": f"Bearer {(tmp_path / 'demo_channel_key').read_text().strip()}"}

        with Receiver() as receiver:
            r = apis[0].post("/v1/push-endpoints", json={"url": receiver.url}, headers=channel)
            assert r.status_code == 201, r.text
            receiver.secrets = [r.json()["secret"]]
            for _ in range(2):
                procs.append(_start(["worker"], env, "running"))

            # Every user pings three times, alternating between the two API processes, all at once.
            lat, lng = NEAR_SANLITUN
            pings = [(f"user-{u}", apis[(u + i) % 2]) for u in range(USERS) for i in range(3)]
            with ThreadPoolExecutor(24) as pool:
                answers = list(pool.map(lambda p: (p[0], p[1].post(
                    "/v1/locations", json={"user_id": p[0], "lat": lat, "lng": lng}, headers=channel)), pings))
            offered: dict[str, list[str]] = {}
            for user, answer in answers:
                assert answer.status_code == 200, answer.text
                offered.setdefault(user, []).extend(o["campaign_id"] for o in answer.json()["new_offers"])
            live = {c["id"] for c in apis[1].get("/v1/campaigns", params={"state": "live", "district_id": "sanlitun-taikoo-li"},
                                                  headers={"Authorization": f"Bearer {key}"}).json()["campaigns"]}
            assert live and all(sorted(o) == sorted(set(o)) for o in offered.values())  # at most once
            assert all(live <= set(o) for o in offered.values())  # and each user got Sanlitun's offers

            # The workers push every offer delivered: one webhook-id per (user, campaign).
            expected = {(u, c) for u, cs in offered.items() for c in cs}
            deadline = time.monotonic() + 60
            pushed = {}
            while time.monotonic() < deadline and len(pushed) < len(expected):
                pushed = {x["webhook_id"]: (x["payload"]["data"]["user_id"], x["payload"]["data"]["campaign_id"])
                          for x in receiver.delivered()}
                time.sleep(0.1)
            assert sorted(pushed.values()) == sorted(expected) and receiver.bad_signatures == 0

        # Parking: each car enters at process A; its exit is sent to both processes at once with
        # one webhook-id, and read again on the lane by process B with another.
        t0 = datetime.now(timezone.utc) - timedelta(minutes=95)
        plates = [f"京A{10000 + i}" for i in range(PLATES)]
        for i, plate in enumerate(plates):
            r = apis[0].post("/v1/parking/plates", json={"user_id": f"user-{i}", "plate": plate,
                                                         "payment_token": f"agr_{i}"}, headers=channel)
            assert r.status_code == 201, r.text
            body, h = gate_event_request(secret, "entry", plate, t0, confidence=0.98)
            assert apis[0].post(f"/v1/parking/lots/{LOT}/gate-events", content=body, headers=h).json()["decision"] == "open"

        def exit_(plate):
            body, h = gate_event_request(secret, "exit", plate, t0 + timedelta(minutes=95), confidence=0.98)
            again, h2 = gate_event_request(secret, "exit", plate, t0 + timedelta(minutes=95, seconds=3), confidence=0.98)
            with ThreadPoolExecutor(3) as pool:
                sent = [pool.submit(apis[0].post, f"/v1/parking/lots/{LOT}/gate-events", content=body, headers=h),
                        pool.submit(apis[1].post, f"/v1/parking/lots/{LOT}/gate-events", content=body, headers=h),
                        pool.submit(apis[1].post, f"/v1/parking/lots/{LOT}/gate-events", content=again, headers=h2)]
                return [s.result().json() for s in sent]

        with ThreadPoolExecutor(8) as pool:
            decisions = list(pool.map(exit_, plates))
        for answers_ in decisions:
            assert answers_[0] == answers_[1] == answers_[2], answers_  # one decision, whoever asked
            assert answers_[0]["decision"] == "open" and answers_[0]["charged_cents"] == 2000  # 95 min: 2 started hours
        charges = [e for e in ParkingStore(client).ledger(LOT) if e["type"] == "charge"]
        assert len(charges) == PLATES and len({e["session"] for e in charges}) == PLATES
        assert sum(int(e["amount"]) for e in charges) == 2000 * PLATES
    finally:
        stopped = [(args, *_stop(p)) for args, p in zip(["serve", "serve", "worker", "worker"], procs)]
        client.close()
    for args, code, out in stopped:
        if args == "serve":  # uvicorn shuts down gracefully, then re-raises the signal it caught
            assert code in (0, -signal.SIGTERM) and "Application shutdown complete" in out, out
        else:
            assert code == 0 and "webhooks sent" in out, out
