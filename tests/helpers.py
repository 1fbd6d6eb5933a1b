"""Shared builders for tests: random footprints and points on the ellipsoid (WGS-84, lng/lat), and a
real server for an app."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import shapely
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
SANLITUN = (39.9335, 116.4481)  # (lat, lng)


def offset(lat, lng, azimuth_deg, distance_m):
    """(lat, lng) at a geodesic distance and azimuth from (lat, lng); arrays welcome."""
    lng2, lat2, _ = GEOD.fwd(np.broadcast_to(lng, np.shape(distance_m)), np.broadcast_to(lat, np.shape(distance_m)),
                             azimuth_deg, distance_m)
    return lat2, lng2


def ring_around(lat, lng, radius_m, n, rng, jitter=0.5, clockwise=False):
    """A star-shaped simple ring of n vertices around (lat, lng): [(lng, lat), ...] closed."""
    az = (np.arange(n) + rng.uniform(0.0, 0.6, n)) * (360.0 / n)  # spread evenly: the ring stays simple
    r = radius_m * rng.uniform(1 - jitter, 1.0, n)
    la, ln = offset(lat, lng, az, r)
    pts = list(zip(ln.tolist(), la.tolist()))
    if clockwise:
        pts = pts[::-1]
    return pts + pts[:1]


def random_footprint(rng, lat, lng, radius_m):
    """A Polygon (maybe with a hole) or a two-part MultiPolygon, around (lat, lng)."""
    kind = rng.integers(0, 3)
    if kind == 0:
        return shapely.Polygon(ring_around(lat, lng, radius_m, int(rng.integers(3, 12)), rng))
    if kind == 1:
        outer = ring_around(lat, lng, radius_m, 16, rng, jitter=0.1)
        hole = ring_around(lat, lng, radius_m * 0.4, 6, rng, jitter=0.2, clockwise=True)
        return shapely.Polygon(outer, [hole])
    a = shapely.Polygon(ring_around(lat, lng, radius_m * 0.45, 6, rng, jitter=0.3))
    la, ln = offset(lat, lng, rng.uniform(0, 360), radius_m * 1.5)
    b = shapely.Polygon(ring_around(float(la), float(ln), radius_m * 0.45, 7, rng, jitter=0.3))
    return shapely.MultiPolygon([a, b])


def feature(district_id, geometry, name="Test district", city="Beijing"):
    """A GeoJSON Feature for a shapely geometry (RFC 7946 [lng, lat])."""
    import json

    return {"type": "Feature", "properties": {"id": district_id, "name": name, "city": city},
            "geometry": json.loads(shapely.to_geojson(geometry))}


def square(lat, lng, half_m):
    """An axis-aligned square footprint of side 2*half_m around (lat, lng), as GeoJSON coordinates."""
    corners = [(-half_m, -half_m), (half_m, -half_m), (half_m, half_m), (-half_m, half_m)]
    pts = []
    for e, n in corners:
        az = np.degrees(np.arctan2(e, n))
        la, ln = offset(lat, lng, az, np.hypot(e, n))
        pts.append([float(ln), float(la)])
    return {"type": "Polygon", "coordinates": [pts + [pts[0]]]}


def command_calls(client, command: str) -> int:
    """How many times every primary ran ``command`` (or one of its subcommands) so far."""
    from district_engine.store.connection import is_cluster

    nodes = client.info("commandstats", target_nodes=client.PRIMARIES).values() if is_cluster(client) else \
        [client.info("commandstats")]
    return sum(v["calls"] for n in nodes for k, v in n.items()
               if k == f"cmdstat_{command}" or k.startswith(f"cmdstat_{command}|"))


def primary_count(client) -> int:
    """The primaries serving ``client``: a Cluster's, or 1."""
    from district_engine.store.connection import is_cluster

    return len(client.get_primaries()) if is_cluster(client) else 1


class RoundTrips:
    """Counts the round trips every client of this process makes while in use (each send of one or
    more commands to a server: a pipeline is one per node it reaches). A connection's own health
    check (a PING after 30 s idle, sent with check_health=False) is not counted."""

    def __init__(self, monkeypatch):
        import redis.connection

        self.count = 0
        send = redis.connection.AbstractConnection.send_packed_command

        def counted(conn, command, check_health=True):
            self.count += check_health
            return send(conn, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)


def load_bench(name: str):
    """A benchmark script of bench/ (not a package) as a module, for the smoke tests."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app):
    """The ASGI app under a real uvicorn server on a free port, in a thread: its base URL."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


def acceptable_text(min_size: int = 1, max_size: int = 40):
    """A hypothesis strategy for text the engine accepts (district_engine/validation.py): no control
    characters, no lone surrogates."""
    from hypothesis import strategies as st

    return st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=min_size, max_size=max_size)


def fast_route_app():
    """An app with one fast route, POST /fast (marked as api.fastpath.direct marks it), which answers
    its body back, raises InvalidInputError (field x) for b"bad" and RuntimeError for b"boom"; and
    a plain route, POST /slow."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    from district_engine.errors import InvalidInputError

    app = FastAPI()

    async def fast(request):
        body = await request.body()
        if body == b"bad":
            raise InvalidInputError("bad", field="x")
        if body == b"boom":
            raise RuntimeError("unhandled")
        return Response(b"fast:" + body)

    fast.direct = True
    app.post("/fast")(fast)

    @app.post("/slow")
    async def slow():
        return {"slow": True}

    return app


def as_integers(value):
    """``value`` with its integral floats as integers: JSON Schema's integer is any number with no
    fraction, 1.0 too, which the server refuses where it counts (a strict integer: a client sending
    1.0 computed it as a float). The same number, so a positive case stays positive."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: as_integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_integers(v) for v in value]
    return value
