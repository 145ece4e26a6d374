"""One surveyor's upload through the whole workflow: create (read, validate, keep), submit
(validate again) and approve (validate under the publication lock, publish), each step timed.

    .venv/bin/python bench/submission_steps.py --parcels 5000 [--format geojson]

Runs in a throwaway database on the managed cluster (migrated, a small demo district, its
administrative area widened to take the upload), dropped at the end. The upload is the
GeoPackage of `publish_vs_ogr2ogr.py` (or the same as GeoJSON): square parcels in EPSG:4528 south of the demo district.
Each step is given in wall time and in this process's CPU time (reading, transforming, validating
geometry in Python); the database's share is the difference, roughly.
"""

from __future__ import annotations

import argparse
import math
import secrets
import time
from pathlib import Path

import psycopg
from publish_vs_ogr2ogr import RESULTS, make_gpkg, widen_admin_area

from portal.demo.loader import load_demo
from portal.platform import migrate
from portal.platform.db import resolve_url, with_database
from portal.platform.permissions import Principal, Role
from portal.settings import DatabaseSettings, Settings, SurveySettings
from portal.surveys import workflow

SURVEYOR = Principal(11, "surveyor", frozenset({Role.SURVEYOR}))
REGISTRAR = Principal(21, "registrar", frozenset({Role.REGISTRAR}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parcels", type=int, default=5000)
    parser.add_argument("--format", choices=["gpkg", "geojson"], default="gpkg")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    gpkg = RESULTS / f"upload_{args.parcels}.gpkg"
    if not gpkg.exists():
        make_gpkg(gpkg, args.parcels)
    if args.format == "geojson":  # the same parcels as RFC 7946-style GeoJSON with a named CRS
        geojson = gpkg.with_suffix(".geojson")
        if not geojson.exists():
            __import__("geopandas").read_file(gpkg).to_file(geojson, driver="GeoJSON")
        gpkg = geojson
    server = with_database(resolve_url(DatabaseSettings()), "postgres")
    name = f"bench_steps_{secrets.token_hex(3)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    url = with_database(server, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        migrate.upgrade(url)
        load_demo(url, settings=Settings(), parcels=400, seed=7)
        widen_admin_area(url, math.ceil(math.sqrt(args.parcels)))
        run(url, gpkg, SurveySettings(max_upload_bytes=max(SurveySettings().max_upload_bytes, gpkg.stat().st_size + 1)))
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)))


def run(url: str, gpkg: Path, settings: SurveySettings) -> None:
    upload = workflow.Upload(gpkg.name, gpkg.read_bytes())
    times: dict[str, tuple[float, float]] = {}

    def timed(step: str, call):  # type: ignore[no-untyped-def]
        wall, cpu = time.perf_counter(), time.process_time()
        result = call()
        times[step] = (time.perf_counter() - wall, time.process_time() - cpu)
        return result

    with psycopg.connect(url) as conn:
        submission_id = timed("create", lambda: workflow.create(conn, upload, SURVEYOR, settings))
        shown = {p["parcel_code"]: p["calculated_area"] for p in workflow.get(conn, submission_id, SURVEYOR)["parcels"]}
        timed("submit", lambda: workflow.submit(conn, submission_id, SURVEYOR, settings))
        publication = timed("approve", lambda: workflow.approve(conn, submission_id, REGISTRAR, settings))
        stored = dict(conn.execute("SELECT parcel_code, calculated_area::float8 FROM current_parcels "
                                   "WHERE parcel_id = ANY(%s)", (publication.parcel_ids,)).fetchall())
        conn.rollback()
    differ = sum(1 for code, area in shown.items() if stored.get(code) != area)
    wall, cpu = (sum(t[i] for t in times.values()) for i in (0, 1))
    print(f"{len(publication.parcel_ids):,} parcels from {gpkg.name} (seconds, wall / this process's CPU): "
          + ", ".join(f"{k} {w:.2f} / {c:.2f}" for k, (w, c) in times.items())
          + f"; total {wall:.2f} / {cpu:.2f}; shown area differs from published for {differ} parcel(s)")


if __name__ == "__main__":
    main()
