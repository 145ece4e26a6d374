"""Validated publication of a 100,000-parcel GeoPackage into a 1,000,000-parcel cadastre,
against `ogr2ogr` loading the same file into PostGIS with no validation at all.

    .venv/bin/python bench/publish_vs_ogr2ogr.py            # needs database bench_1000000
    (make it with: .venv/bin/python bench/demo_load.py --parcels 1000000)

Both run against a copy of `bench_1000000` (CREATE DATABASE ... TEMPLATE), so the template is
never changed. The new parcels lie south of the demo district, in a strip added to its
administrative area for the run. ogr2ogr runs three times into a fresh table (median kept);
our import runs once (it changes the cadastre): read, then under the publication lock the
validation (geometry, topology, areas, codes, overlaps with the 1M current parcels, admin area,
land use) runs while the parcels are written by COPY into the versioned parcels table with its
constraints, triggers and indexes; the transaction commits only when the report is clean.

A third figure separates what the database's rules cost from what validation costs: the rows
ogr2ogr loaded, inserted into the guarded parcels table by one INSERT ... SELECT, rolled back.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import psycopg
import pyogrio
import shapely
from database_copies import copy_database

from portal.platform import migrate
from portal.platform.db import resolve_url, with_database
from portal.settings import DatabaseSettings
from portal.surveys.importer import import_file
from spatial.readers import read_parcels

RESULTS = Path(__file__).parent / "results"
SIZE, STEP = 20.0, 22.0  # 20 m squares, 2 m streets
NORTH_EDGE = 3_345_440.0  # just south of the demo district (its area starts at 3,345,460)
WEST_EDGE = 40_515_000.0


def make_gpkg(path: Path, count: int) -> None:
    """`count` square parcels with GB/T 37346 codes, land use and declared area, in EPSG:4528."""
    columns = math.ceil(math.sqrt(count))
    i = np.arange(count)
    x0 = WEST_EDGE + (i % columns) * STEP
    y0 = NORTH_EDGE - (i // columns + 1) * STEP
    geoms = shapely.box(x0, y0, x0 + SIZE, y0 + SIZE)
    codes = [f"3301020{90 + k // 99_999:02d}{1 + k // 99_999:03d}GB{k % 99_999 + 1:05d}" for k in range(count)]
    pyogrio.write_dataframe(
        __import__("geopandas").GeoDataFrame(
            {"parcel_code": codes, "land_use_code": ["0701"] * count, "area": [SIZE * SIZE] * count},
            geometry=geoms, crs="EPSG:4528"),
        path, layer="parcels", driver="GPKG")


def widen_admin_area(url: str, rows: int) -> None:
    south = NORTH_EDGE - (rows + 2) * STEP
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE admin_areas SET boundary = ST_Multi(ST_Union(boundary, ST_Transform("
            "ST_MakeEnvelope(%s, %s, %s, %s, 4528), 4490))) WHERE code = '330102'",
            (WEST_EDGE - 20, south, WEST_EDGE + (rows + 2) * STEP, NORTH_EDGE + 30))


def ogr2ogr(url: str, gpkg: Path) -> float:
    info = psycopg.conninfo.conninfo_to_dict(url)
    pg = "PG:" + " ".join(f"{k}={v}" for k, v in info.items() if k in ("host", "port", "dbname", "user", "password"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ogr_load")
    started = time.perf_counter()
    subprocess.run(["ogr2ogr", "-f", "PostgreSQL", pg, str(gpkg), "parcels", "-nln", "ogr_load",
                    "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST"], check=True)
    return time.perf_counter() - started


def guarded_write(url: str) -> float:
    """The rows ogr2ogr loaded, inserted into the versioned parcels table with its constraints,
    triggers and indexes, in one statement and with no validation; rolled back. This is what the
    database's own rules cost, whoever writes."""
    with psycopg.connect(url) as conn:
        source = conn.execute(  # type: ignore[index]
            "INSERT INTO sources (kind, reference, issued_on) "
            "VALUES ('survey_report', 'guarded write', current_date) RETURNING source_id").fetchone()[0]
        started = time.perf_counter()
        conn.execute("INSERT INTO parcels (parcel_code, admin_area_code, land_use_code, survey_geom, declared_area, "
                     "valid_from, source_id) SELECT parcel_code, left(parcel_code, 6), land_use_code, geom, area, "
                     "current_date, %s FROM ogr_load", (source,))
        elapsed = time.perf_counter() - started
        conn.rollback()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM parcels")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--template", default="bench_1000000")
    parser.add_argument("--database", default="bench_publish")
    parser.add_argument("--keep", action="store_true", help="keep the copied database")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    gpkg = RESULTS / f"upload_{args.parcels}.gpkg"
    if not gpkg.exists():
        make_gpkg(gpkg, args.parcels)
    server = with_database(resolve_url(DatabaseSettings()), "postgres")
    started = time.perf_counter()
    url = copy_database(server, args.template, args.database)
    print(f"copied {args.template} in {time.perf_counter() - started:.1f} s")
    try:
        migrate.upgrade(url)
        widen_admin_area(url, math.ceil(math.sqrt(args.parcels)))
        with psycopg.connect(url, autocommit=True) as conn:
            current = conn.execute("SELECT count(*) FROM current_parcels").fetchone()[0]  # type: ignore[index]
            conn.execute("CHECKPOINT")  # start the timings with nothing left to write back
        loads = [ogr2ogr(url, gpkg) for _ in range(3)]
        t = time.perf_counter()
        result = read_parcels(gpkg)
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        dry = import_file(url, gpkg, dry_run=True)
        dry_s = time.perf_counter() - t
        guarded = guarded_write(url)  # after the dry run, so it finds the cache as the import will
        t = time.perf_counter()
        outcome = import_file(url, gpkg)
        ours = time.perf_counter() - t
        assert not dry.report.blocks_publication, dry.report.errors[:5]
        assert outcome.published == args.parcels == len(result.parcels)
        with psycopg.connect(url) as conn:
            after = conn.execute("SELECT count(*) FROM current_parcels").fetchone()[0]  # type: ignore[index]
        assert after == current + args.parcels
        base = statistics.median(loads)
        print(f"\n{args.parcels:,} parcels from {gpkg.name} into a cadastre of {current:,} current parcels\n")
        print(f"{'':44} {'seconds':>9} {'vs ogr2ogr':>11}")
        print(f"{'ogr2ogr, no validation (median of 3)':44} {base:9.1f} {1:10.2f}x   runs: "
              + ", ".join(f"{x:.1f}" for x in loads))
        print(f"{'the same rows into the guarded parcels table':44} {guarded:9.1f} {guarded / base:10.2f}x   "
              "(INSERT ... SELECT from ogr2ogr's table: constraints, triggers, indexes; no validation)")
        print(f"{'ours: read only':44} {read_s:9.1f} {read_s / base:10.2f}x")
        print(f"{'ours: read + validate (dry run)':44} {dry_s:9.1f} {dry_s / base:10.2f}x")
        print(f"{'ours: read + validate + publish (import)':44} {ours:9.1f} {ours / base:10.2f}x   "
              f"target <= 3x: {'met' if ours / base <= 3 else 'MISSED'}")
    finally:
        if not args.keep:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
