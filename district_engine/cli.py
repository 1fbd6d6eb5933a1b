"""The ``district-engine`` command line: inspect the districts and match points from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from district_engine.districts.geodata import load_demo_districts, load_districts
from district_engine.errors import DistrictEngineError
from district_engine.geo.points import MAX_RADIUS_M
from district_engine.matching.index import ReachIndex

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Geospatial smart-district broadcast engine.")
console = Console()

GeodataOpt = Annotated[Optional[Path], typer.Option("--geodata", help="GeoJSON file of districts (default: the demo districts).")]
RadiusOpt = Annotated[float, typer.Option("--radius", help="Reach radius in metres (0 < r <= 3000).")]


def _index(geodata: Path | None, radius_m: float) -> ReachIndex:
    districts = load_districts(geodata) if geodata else load_demo_districts()
    return ReachIndex(districts, radius_m=radius_m, progress=len(districts) >= 1000)


def _fail(err: DistrictEngineError) -> None:
    console.print(f"[red]error:[/red] {err}")
    raise typer.Exit(2)


@app.command()
def districts(geodata: GeodataOpt = None, radius: RadiusOpt = MAX_RADIUS_M) -> None:
    """List the loaded districts with their H3 cell counts."""
    try:
        index = _index(geodata, radius)
    except DistrictEngineError as err:
        _fail(err)
    table = Table(title=f"{len(index)} districts, reach {index.radius_m:g} m, H3 res {index.res}")
    for col in ("id", "name", "city", "centre (lat, lng)", "footprint cells", "reach interior", "reach boundary"):
        table.add_column(col, justify="right" if "cells" in col or "reach" in col else "left")
    for d in index.districts:
        _, interior = index.cover(d.id)
        lat, lng = d.centre
        name = f"{d.name} {d.name_zh}" if d.name_zh else d.name
        table.add_row(d.id, name, d.city, f"{lat:.5f}, {lng:.5f}", str(len(d.footprint_cells())),
                      str(int(interior.sum())), str(int((~interior).sum())))
    console.print(table)


@app.command()
def match(
    lat: Annotated[float, typer.Argument(help="Latitude in degrees.")],
    lng: Annotated[float, typer.Argument(help="Longitude in degrees.")],
    coord: Annotated[str, typer.Option("--coord", help="Coordinate system of the point: wgs84, gcj02 or bd09.")] = "wgs84",
    geodata: GeodataOpt = None,
    radius: RadiusOpt = MAX_RADIUS_M,
) -> None:
    """Print the districts whose reach contains the point, nearest first."""
    try:
        index = _index(geodata, radius)
        matches = index.match(lat, lng, coord)
    except DistrictEngineError as err:
        _fail(err)
    if not matches:
        console.print(f"no district within {index.radius_m:g} m of ({lat}, {lng}) [{coord}]")
        return
    table = Table(title=f"districts within {index.radius_m:g} m of ({lat}, {lng}) [{coord}]")
    table.add_column("district")
    table.add_column("name")
    table.add_column("distance (m)", justify="right")
    for m in matches:
        d = index.district(m.district_id)
        table.add_row(m.district_id, d.name, f"{m.distance_m:.1f}")
    console.print(table)


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


if __name__ == "__main__":
    app()
