"""Cold tiles below full detail: the tile SQL on the generalised bands (migration 0022) against
the same tiles simplified per request, in the database, per zoom: median and worst of the
statement's time over the tiles around the district's centre.

    .venv/bin/python bench/tile_bands.py --database bench_1000000 --repeat 5

Each statement is run with PostgreSQL's own timing (EXPLAIN ANALYZE is not used: it adds
per-row overhead); the first run of each tile is discarded so both sides read cached pages.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from layers.catalog import COLLECTIONS  # noqa: E402
from layers.sql import TileSpec, tile_statement  # noqa: E402
from portal.platform.cluster import Cluster  # noqa: E402
from portal.settings import DatabaseSettings, TileSettings  # noqa: E402


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="bench_1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--zooms", default="10,11,12,13")
    args = parser.parse_args()
    settings = TileSettings()
    spec = TileSpec(settings.extent, settings.buffer, settings.max_features)
    parcels = COLLECTIONS["parcels"]
    url = Cluster(DatabaseSettings().state_dir).url(args.database)
    with psycopg.connect(url, autocommit=True) as conn:
        lon, lat = conn.execute(
            "SELECT ST_X(ST_Centroid(e)), ST_Y(ST_Centroid(e)) FROM "
            "(SELECT ST_EstimatedExtent('public', 'parcels', 'geom')::geometry AS e) s").fetchone()
        print(f"{args.database}; {args.repeat} runs per tile after one discarded; ms in the "
              "database (client round trip included)")
        print(f"{'zoom':>4} {'per request p50':>16} {'max':>8} {'bands p50':>10} {'max':>8}"
              f" {'speed-up':>9} {'features':>9}")
        for z in (int(v) for v in args.zooms.split(",")):
            x0, y0 = _tile(lon, lat, z)
            tiles = [(x0 + dx, y0 + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
            times: dict[bool, list[float]] = {False: [], True: []}
            size = 0
            for x, y in tiles:
                for generalised in (False, True):
                    statement, values = tile_statement(parcels, z, x, y, spec,
                                                       generalised=generalised)
                    conn.execute(statement, values, prepare=True)
                    for _ in range(args.repeat):
                        started = time.perf_counter()
                        row = conn.execute(statement, values, prepare=True).fetchone()
                        times[generalised].append((time.perf_counter() - started) * 1000)
                    if generalised and row and row[0]:
                        size += len(row[0])
            before, after = times[False], times[True]
            print(f"{z:>4} {statistics.median(before):16.1f} {max(before):8.1f} "
                  f"{statistics.median(after):10.1f} {max(after):8.1f} "
                  f"{statistics.median(before) / statistics.median(after):8.1f}x "
                  f"{size // len(tiles):>8}B")


if __name__ == "__main__":
    main()
