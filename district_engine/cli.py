"""The ``district-engine`` command line: inspect the districts and match points from the shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from district_engine.districts.geodata import geodata_dir, load_demo_districts, load_districts
from district_engine.districts.model import District
from district_engine.errors import DistrictEngineError, InvalidInputError
from district_engine.geo.points import MAX_RADIUS_M
from district_engine.matching.index import ReachIndex

# rich_markup_mode=None: click's plain help (rich's marks every flag `<bool>` and boxes the text).
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Geospatial smart-district broadcast engine.")
console = Console()
errors = Console(stderr=True)

GeodataOpt = Annotated[Optional[Path], typer.Option(
    "--geodata", help="GeoJSON file of districts (default: the demo districts bundled with the engine).")]
RadiusOpt = Annotated[float, typer.Option("--radius", help="Reach radius in metres (0 < r <= 3000).")]
UrlOpt = Annotated[Optional[str], typer.Option(
    "--url", help="Ask a running engine (e.g. http://127.0.0.1:8000) for its districts instead of a file.")]
KeyOpt = Annotated[Optional[str], typer.Option(
    "--key", envvar="DE_API_KEY", help="An operator's API key, for what only an operator may read (--mine); "
                                       "the public routes need none.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _load(geodata: Path | None, url: str | None, key: str | None = None,
          mine: bool = False) -> tuple[list[District], str]:
    """The districts to work on and where they were read from (said with every answer)."""
    if geodata is not None and url is not None:
        raise InvalidInputError("give --geodata or --url, not both", field="url")
    if mine and url is None:
        raise InvalidInputError("--mine asks a running engine: give --url (and --key)", field="mine")
    if url is not None:
        return _server_districts(url, key, mine), f"the engine at {url}" + (" (your districts)" if mine else "")
    if geodata is not None:
        try:
            return load_districts(geodata), f"the file {geodata}"
        except InvalidInputError as err:
            if err.field in ("path", "geojson"):  # the file itself: named as the option that gave it
                raise InvalidInputError(err.message, field="geodata") from None
            raise
    return load_demo_districts(), f"the demo districts bundled with the engine ({geodata_dir() / 'districts.geojson'})"


def _server_districts(url: str, key: str | None, mine: bool) -> list[District]:
    """A running engine's districts: its public list (``?mine=true``: the key's own), then each one's
    footprint (public)."""
    import httpx
    from urllib.parse import quote

    def answer(r: httpx.Response) -> dict:
        if r.status_code >= 400:
            try:
                message = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = r.text[:200]
            field = "key" if r.status_code in (401, 403) else "url"
            raise InvalidInputError(f"{r.request.method} {r.request.url.path} answered {r.status_code}: {message}",
                                    field=field)
        return r.json()

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30) as http:
            listed = answer(http.get("/v1/districts", params={"mine": "true"} if mine else None))["districts"]
            return [District.from_geojson(answer(http.get(f"/v1/districts/{quote(d['id'], safe='')}")))
                    for d in listed]
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise InvalidInputError(f"cannot reach {url} ({exc}); is the engine running (make run)?", field="url") from None


def _index(districts: list[District], radius_m: float) -> ReachIndex:
    return ReachIndex(districts, radius_m=radius_m, progress=len(districts) >= 1000)


def _fail(err: DistrictEngineError) -> None:
    errors.print(f"[red]error:[/red] {escape(str(err))}", soft_wrap=True)
    raise typer.Exit(2)


def _show(table: Table) -> None:
    """A table: on a terminal at its width; piped or redirected, whole (80 columns would cut the
    ids: ``hkri-ta…``)."""
    if console.is_terminal:
        console.print(table)
        return
    measuring = Console(width=1_000_000, file=sys.stderr)  # not written to: only measures
    Console(width=Measurement.get(measuring, measuring.options, table).maximum).print(table)


def _print_json(doc: dict) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=2))


@app.command()
def districts(geodata: GeodataOpt = None, radius: RadiusOpt = MAX_RADIUS_M, url: UrlOpt = None, key: KeyOpt = None,
              mine: Annotated[bool, typer.Option("--mine", help="With --url and --key: only your districts.")] = False,
              as_json: JsonOpt = False) -> None:
    """List the districts with their H3 cell counts, and say where they were read from."""
    try:
        found, source = _load(geodata, url, key, mine)
        index = _index(found, radius)
    except DistrictEngineError as err:
        _fail(err)
    rows = []
    for d in index.districts:
        _, interior = index.cover(d.id)
        lat, lng = d.centre
        rows.append({"id": d.id, "name": d.name, "name_zh": d.name_zh, "city": d.city,
                     "centre": {"lat": round(lat, 6), "lng": round(lng, 6)},
                     "footprint_cells": len(d.footprint_cells()), "reach_interior_cells": int(interior.sum()),
                     "reach_boundary_cells": int((~interior).sum())})
    if as_json:
        _print_json({"source": source, "radius_m": index.radius_m, "h3_res": index.res, "districts": rows})
        return
    table = Table(title=f"{len(rows)} districts, reach {index.radius_m:g} m, H3 res {index.res}",
                  caption=escape(f"read from {source}"))
    for col in ("id", "name", "city", "centre (lat, lng)", "footprint cells", "reach interior", "reach boundary"):
        table.add_column(col, justify="right" if "cells" in col or "reach" in col else "left")
    for r in rows:
        name = f"{r['name']} {r['name_zh']}" if r["name_zh"] else r["name"]
        table.add_row(r["id"], name, r["city"], f"{r['centre']['lat']:.5f}, {r['centre']['lng']:.5f}",
                      str(r["footprint_cells"]), str(r["reach_interior_cells"]), str(r["reach_boundary_cells"]))
    _show(table)


@app.command()
def match(
    lat: Annotated[float, typer.Argument(help="Latitude in degrees.")],
    lng: Annotated[float, typer.Argument(help="Longitude in degrees.")],
    coord: Annotated[str, typer.Option("--coord", help="Coordinate system of the point: wgs84, gcj02 or bd09.")] = "wgs84",
    geodata: GeodataOpt = None,
    radius: RadiusOpt = MAX_RADIUS_M,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the districts whose reach contains the point, nearest first, and where they were read from."""
    try:
        found, source = _load(geodata, url)
        index = _index(found, radius)
        matches = index.match(lat, lng, coord)
    except DistrictEngineError as err:
        _fail(err)
    rows = [{"district_id": m.district_id, "name": index.district(m.district_id).name,
             "distance_m": round(float(m.distance_m), 1)} for m in matches]
    if as_json:
        _print_json({"source": source, "lat": lat, "lng": lng, "coord": coord, "radius_m": index.radius_m,
                     "matches": rows})
        return
    if not rows:
        console.print(f"no district within {index.radius_m:g} m of ({lat}, {lng}) [{coord}] (read from {source})",
                      soft_wrap=True, markup=False, highlight=False)
        return
    table = Table(title=escape(f"districts within {index.radius_m:g} m of ({lat}, {lng}) [{coord}]"),
                  caption=escape(f"read from {source}"))
    table.add_column("district")
    table.add_column("name")
    table.add_column("distance (m)", justify="right")
    for r in rows:
        table.add_row(r["district_id"], r["name"], f"{r['distance_m']:.1f}")
    _show(table)


@app.command()
def demo() -> None:
    """Load the five demo districts and match a few sample points (what `make run` shows)."""
    districts()
    samples = [
        ("Sanlitun Soho, GCJ-02 from a phone map", 39.9310, 116.4600, "gcj02"),
        ("Gongti (Workers' Stadium), WGS-84 GPS", 39.9300, 116.4470, "wgs84"),
        ("The Bund, Shanghai, WGS-84", 31.2400, 121.4900, "wgs84"),
        ("Chunxi Road, Chengdu, BD-09 from Baidu", 30.6620, 104.0890, "bd09"),
    ]
    for label, lat, lng, coord in samples:
        console.rule(label)
        match(lat, lng, coord=coord)


operator_app = typer.Typer(help="Manage operators.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(operator_app, name="operator")


def _in_store(action):
    """Run ``action(client)`` against the engine's Redis (DE_REDIS_URL, or the embedded server);
    a domain error ends the command with status 2 and its message."""
    from district_engine.settings import Settings
    from district_engine.store import open_redis
    from district_engine.store.connection import DEFAULT_TIMEOUT_S

    try:  # a command may read a whole ledger: not the serving engine's bound
        with open_redis(Settings(), timeout_s=DEFAULT_TIMEOUT_S) as client:
            return action(client)
    except DistrictEngineError as err:
        _fail(err)


@operator_app.command("create")
def operator_create(name: Annotated[str, typer.Argument(help="The operator's display name.")]) -> None:
    """Create an operator and print its API key (shown only this once)."""
    from district_engine.store.operators import OperatorStore

    op, api_key = _in_store(lambda client: OperatorStore(client).create(name))
    console.print(f"operator [bold]{op.id}[/bold] ({op.name})")
    console.print(f"API key (shown once): [bold]{api_key}[/bold]", soft_wrap=True)


@operator_app.command("rotate-key")
def operator_rotate_key(
    operator_id: Annotated[str, typer.Argument(help="The operator's id (op_...).")],
    grace_s: Annotated[int, typer.Option(help="How long the old keys keep working; 0 revokes them now.")] = 86_400,
) -> None:
    """Give an operator a new API key (printed once); the old ones work for --grace-s more."""
    from district_engine.identity.service import Identity

    api_key = _in_store(lambda client: Identity(client).rotate_operator_key(operator_id, _grace(grace_s)))
    console.print(f"new API key of {operator_id} (shown once): [bold]{api_key}[/bold]; old keys work {grace_s} s more", soft_wrap=True)


channel_app = typer.Typer(help="Manage channels: the app backends that serve end users.", no_args_is_help=True,
                          rich_markup_mode=None)
app.add_typer(channel_app, name="channel")


def _grace(grace_s: int) -> int:
    if not 0 <= grace_s <= 30 * 86_400:
        _fail(InvalidInputError("must be within [0, 2592000] seconds", field="grace_s"))
    return grace_s


@channel_app.command("create")
def channel_create(name: Annotated[str, typer.Argument(help="The channel's display name.")]) -> None:
    """Create a channel and print its API key and token secret (shown only this once)."""
    from district_engine.identity.service import Identity

    ch, api_key, token_secret = _in_store(lambda client: Identity(client).create_channel(name))
    console.print(f"channel [bold]{ch.id}[/bold] ({ch.name})")
    console.print(f"API key (shown once): [bold]{api_key}[/bold]", soft_wrap=True)
    console.print(f"token secret (shown once; signs user tokens, HS256): [bold]{token_secret}[/bold]", soft_wrap=True)


@channel_app.command("rotate-key")
def channel_rotate_key(
    channel_id: Annotated[str, typer.Argument(help="The channel's id (ch_...).")],
    grace_s: Annotated[int, typer.Option(help="How long the old key (and secret) keep working; 0 revokes now.")] = 86_400,
    token_secret: Annotated[bool, typer.Option(help="Also a new token secret.")] = False,
) -> None:
    """Give a channel a new API key (and with --token-secret a new token secret), printed once."""
    from district_engine.identity.service import Identity

    api_key, secret = _in_store(lambda client: Identity(client).rotate_channel_key(channel_id, _grace(grace_s),
                                                                                  token_secret))
    console.print(f"new API key of {channel_id} (shown once): [bold]{api_key}[/bold]", soft_wrap=True)
    if secret:
        console.print(f"new token secret (shown once): [bold]{secret}[/bold]", soft_wrap=True)


@channel_app.command("token")
def channel_token(
    channel_id: Annotated[str, typer.Argument(help="The channel's id (ch_...).")],
    user_id: Annotated[str, typer.Argument(help="The channel's user the token is for.")],
    ttl_s: Annotated[int, typer.Option(help="Seconds until it expires (at most 86400).")] = 3600,
) -> None:
    """Print a user token (a JWT signed with the channel's token secret), for trying things out."""
    from district_engine.identity.principals import check_user_id
    from district_engine.identity.service import Identity
    from district_engine.identity.tokens import MAX_TTL_S

    try:
        check_user_id(user_id)
        if not 0 < ttl_s <= MAX_TTL_S:
            raise InvalidInputError(f"must be within (0, {MAX_TTL_S}]", field="ttl_s")
    except InvalidInputError as err:
        _fail(err)
    print(_in_store(lambda client: Identity(client).user_token(channel_id, user_id, ttl_s)))


rain_app = typer.Typer(help="Red-envelope rains.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(rain_app, name="rain")


@rain_app.command("audit")
def rain_audit(campaign_id: Annotated[str, typer.Argument(help="The rain's campaign id.")],
               as_json: JsonOpt = False) -> None:
    """Recompute a rain's figures from its ledger; exit 1 on any mismatch."""
    from district_engine.store.rains import RainStore

    def read(client):
        store = RainStore(client)
        return store.figures(campaign_id), store.audit(campaign_id)

    figures, problems = _in_store(read)
    if as_json:
        _print_json({"campaign_id": campaign_id, "figures": figures._asdict(), "mismatches": problems})
        raise typer.Exit(1 if problems else 0)
    table = Table(title=f"rain {campaign_id}")
    for col in figures._fields:
        table.add_column(col, justify="right")
    table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in figures))
    _show(table)
    if problems:
        for p in problems:
            console.print(f"[red]mismatch:[/red] {p}")
        raise typer.Exit(1)
    console.print("[green]the ledger reconciles with every figure[/green]")


parking_app = typer.Typer(help="Smart parking.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(parking_app, name="parking")


@parking_app.command("audit")
def parking_audit(lot_id: Annotated[str, typer.Argument(help="The lot's id.")]) -> None:
    """Reconcile a lot with its ledger: occupancy against open sessions, each charged session
    booked exactly once for what it was charged; exit 1 on any mismatch."""
    from district_engine.store.parking import ParkingStore

    problems = _in_store(lambda client: ParkingStore(client).audit(lot_id))
    for p in problems:
        console.print(f"[red]mismatch:[/red] {p}")
    if problems:
        raise typer.Exit(1)
    console.print(f"[green]lot {lot_id}: every session and charge reconciles with the ledger[/green]")


guides_app = typer.Typer(help="Exclusive guides: members, orders, commissions.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(guides_app, name="guides")


@guides_app.command("audit")
def guides_audit(operator_id: Annotated[Optional[str], typer.Argument(
        help="The operator's id (op_...); default: every operator with guide orders.")] = None) -> None:
    """Recompute every order, refund, commission and total of an operator's guides from its ledger;
    exit 1 on any mismatch."""
    from district_engine.store.guides import GuideStore

    def read(client):
        store = GuideStore(client)
        return [(o, *store.audit(o)) for o in ([operator_id] if operator_id else store.operators())]

    audited = _in_store(read)
    table = Table(title="guides: figures from the ledger")
    columns = ("orders", "refunds", "revenue_cents", "commission_cents", "reversed_cents")
    for col in ("operator", *columns, "mismatches"):
        table.add_column(col, justify="left" if col == "operator" else "right")
    for op, figures, problems in audited:
        table.add_row(op, *(f"{figures[c]:,}" for c in columns), str(len(problems)))
    _show(table)
    problems = [f"{op}: {p}" for op, _, found in audited for p in found]
    for p in problems:
        console.print(f"[red]mismatch:[/red] {p}", soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    console.print("[green]the ledger reconciles with every order, refund and total[/green]")


@app.command()
def gate(
    lot_id: Annotated[str, typer.Argument(help="The lot, e.g. sanlitun-south-p (a demo lot).")],
    event: Annotated[str, typer.Argument(help="entry or exit.")],
    plate: Annotated[str, typer.Argument(help="The plate the camera read, e.g. 京A12345.")],
    url: Annotated[str, typer.Option(help="The engine's base URL.")] = "http://127.0.0.1:8000",
    secret: Annotated[str | None, typer.Option(help="The lot's webhook secret (default: the demo's, from DE_DATA_DIR).")] = None,
    lane: Annotated[str, typer.Option(help="The gate's lane.")] = "lane-1",
    minutes_ago: Annotated[float, typer.Option(help="When the camera read it, minutes before now.")] = 0,
) -> None:
    """Act as a parking gate: send one signed plate event and print the engine's decision."""
    import json
    from datetime import datetime, timedelta, timezone

    import httpx

    from district_engine.parking.gate_client import gate_event_request
    from district_engine.settings import Settings

    if event not in ("entry", "exit"):
        _fail(DistrictEngineError("must be entry or exit", field="event"))
    if secret is None:
        path = Settings().data_dir / "demo_lot_secrets.json"
        secret = json.loads(path.read_text()).get(lot_id) if path.exists() else None
        if secret is None:
            _fail(DistrictEngineError(f"no demo secret for {lot_id!r} in {path}; pass --secret", field="secret"))
    at = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    try:
        body, h = gate_event_request(secret, event, plate, at, lane=lane, confidence=0.99)
    except ValueError as exc:  # not a webhook secret
        _fail(InvalidInputError(str(exc), field="secret"))
    try:
        r = httpx.post(f"{url}/v1/parking/lots/{lot_id}/gate-events", content=body, headers=h, timeout=5)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        _fail(InvalidInputError(f"cannot reach {url} ({exc}); is the engine running (make run)?", field="url"))
    console.print_json(r.text)
    if r.status_code != 200:
        raise typer.Exit(1)


@app.command()
def worker() -> None:
    """Run a push worker: the webhook sender and its retries, the scheduled jobs (broadcasts at
    go-live, rain refunds) and the matchers of bulk locations. Any number may run; they share the
    work through Redis. Stops cleanly on Ctrl-C / SIGTERM."""
    import signal
    import threading

    from district_engine.catalog import follow_changes
    from district_engine.engine import Engine
    from district_engine.settings import Settings, engine_options, worker_options
    from district_engine.worker import Worker

    settings = Settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def run(client):
        engine = Engine(client, **engine_options(settings))
        engine.catalog.load()
        follower = threading.Thread(target=follow_changes, args=(engine.catalog, stop, settings.resync_s), daemon=True)
        follower.start()
        with Worker(engine, **worker_options(settings)) as w:
            console.print(f"worker [bold]{w.consumer}[/bold] running; Ctrl-C stops it")
            stop.wait()
            console.print(f"stopping: {w.sender.sent:,} webhooks sent, {w.matched:,} locations matched")
        follower.join(2)

    _in_store(run)


def _say_demo_keys(data_dir: Path, loaded_now: bool) -> None:
    """On every start, and after a reset: the demo's keys and where they are kept."""
    from district_engine.demo import DEMO_CHANNEL_KEY, DEMO_OPERATOR_KEY, demo_keys

    found = demo_keys(data_dir)
    if found is None:
        console.print(f"the demo was loaded before, but its keys are not in {data_dir}/: `make reset-demo` "
                      "(district-engine reset-demo) loads it again, with new keys", soft_wrap=True)
        return
    when = "demo data loaded" if loaded_now else "demo data loaded on the first start"
    console.print(f"{when}; demo operator API key: [bold]{found['operator']}[/bold], "
                  f"demo channel key: [bold]{found['channel']}[/bold]", soft_wrap=True)  # keys whole, to copy
    console.print(f"demo keys: {data_dir}/{DEMO_OPERATOR_KEY} (operator), {data_dir}/{DEMO_CHANNEL_KEY} (channel), "
                  f"{data_dir}/demo_channel.json (its token secret); `make reset-demo` starts the demo over",
                  soft_wrap=True)


@app.command("reset-demo")
def reset_demo() -> None:
    """Start the demo over: delete everything in the embedded store in DE_DATA_DIR (every operator,
    channel, district, campaign, rain, user position and parking session, not only the demo's) and
    the demo's key files, then load the demo again and print its new keys. Only the embedded store
    (not a Redis at DE_REDIS_URL), and only while no engine serves from it."""
    from district_engine.demo import clear_demo, seed_demo
    from district_engine.engine import Engine
    from district_engine.settings import Settings, engine_options
    from district_engine.store import EmbeddedRedis

    settings = Settings()
    if settings.redis_url:
        _fail(InvalidInputError("reset-demo deletes only the embedded store in DE_DATA_DIR, never the Redis at "
                                f"DE_REDIS_URL ({settings.redis_url})", field="DE_REDIS_URL"))
    if EmbeddedRedis.running_in(settings.data_dir):
        _fail(InvalidInputError(f"an engine is serving from {settings.data_dir}/ (make run): stop it first (Ctrl-C)",
                                field="DE_DATA_DIR"))

    def reset(client) -> int:
        deleted = clear_demo(client, settings.data_dir)
        seed_demo(Engine(client, **engine_options(settings)), settings.data_dir)
        return deleted

    deleted = _in_store(reset)
    console.print(f"deleted {deleted:,} keys from the embedded store in {settings.data_dir}/ and the demo's key files",
                  soft_wrap=True)
    _say_demo_keys(settings.data_dir, loaded_now=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the HTTP API. Without DE_REDIS_URL, runs an embedded redis-server in DE_DATA_DIR.

    The first start loads the demo districts and campaigns under a demo operator.
    """
    import os
    import signal
    import sys
    from contextlib import ExitStack

    import uvicorn

    from district_engine.demo import seed_demo
    from district_engine.engine import Engine
    from district_engine.settings import Settings, engine_options
    from district_engine.store import EmbeddedRedis, connect

    settings = Settings()
    with ExitStack() as stack:
        url = settings.redis_url or EmbeddedRedis.running_in(settings.data_dir)
        if url is None:
            server = stack.enter_context(EmbeddedRedis(settings.data_dir, appendfsync=settings.redis_appendfsync))
            url = server.url
            console.print(f"embedded redis-server on {url} (data in {settings.data_dir}/)")
        os.environ["DE_REDIS_URL"] = url  # the workers connect to the same server
        client = stack.enter_context(connect(url))
        api_key = seed_demo(Engine(client, **engine_options(settings)), settings.data_dir)
        _say_demo_keys(settings.data_dir, loaded_now=api_key is not None)
        console.print(f"operator console: http://{host}:{port}/console/ (sign in with an operator's API key)",
                      soft_wrap=True)
        console.print(f"try: curl 'http://{host}:{port}/v1/feed?lat=39.9310&lng=116.4600&coord=gcj02'", soft_wrap=True)
        # uvicorn shuts down on SIGTERM, then raises the signal again with the handler it found:
        # this one, so that the stack unwinds and an embedded redis-server stops with the engine.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        # access_log=False: the engine writes its own JSON access line (with the request id and
        # the route); uvicorn's text line would repeat it, a fixed cost on every request.
        # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from loopback and
        # rewrite the client address; the engine reads it itself, from DE_TRUSTED_PROXIES only.
        uvicorn.run("api.main:app_factory", factory=True, host=host, port=port, workers=workers, log_level="info",
                    access_log=False, proxy_headers=False)


if __name__ == "__main__":
    app()
