"""A 600 dpi A1 scan (about 14,000 x 10,000 pixels) through digitising: upload (type check in
the limited worker, kept in the archive), render the page at full size and build its pixel
pyramid, fit, warp with GDAL into a tiled GeoTIFF with overviews, then the tiles at the server
(the service function the route calls, without HTTP): overlay tiles (Web Mercator) cold (not in
the tile cache; the warped file was opened by the warp) and warm (cached) at several zooms, and
the scan's pixel tiles (georeferencing at full resolution) at several zooms; each step timed
(wall).

    .venv/bin/python bench/digitise_a1.py [--width 14000 --height 10000] [--tiles 50]

Runs in a throwaway database on the managed cluster (migrated, a small demo district), with the
archive in a temporary folder, both removed at the end. The scan is drawn with Pillow (a grey
sheet with a parcel grid and a boundary-point table), deflated TIFF, about the bytes of a real
line-drawing scan. The goal of issue 19: upload to tiles under 60 s; a tile under 50 ms at the
server.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from PIL import Image, ImageDraw

from portal.archive.service import Archive
from portal.archive.store import FolderStore
from portal.demo.loader import load_demo
from portal.platform import migrate
from portal.platform.db import resolve_url, with_database
from portal.platform.permissions import Principal, Role
from portal.settings import ArchiveSettings, DatabaseSettings, Settings, SurveySettings
from portal.surveys import digitising
from spatial.warp import pixel_levels, tile_bounds

SURVEYOR = Principal(11, "surveyor", frozenset({Role.SURVEYOR}))
E0, N0, M = 40_515_000.0, 3_345_600.0, 0.02  # top-left corner of the sheet, metres per pixel (1:500 at 600 dpi)


def scan(width: int, height: int) -> bytes:
    # Paper grain (a scanner's noise) makes the file as hard to compress as a real scan.
    grain = np.random.default_rng(1).integers(225, 246, size=(height, width), dtype=np.uint8)
    image = Image.fromarray(grain)
    del grain
    pen = ImageDraw.Draw(image)
    for x in range(200, width - 200, 1000):
        pen.line([(x, 200), (x, height - 200)], fill=0, width=6)
    for y in range(200, height - 200, 800):
        pen.line([(200, y), (width - 200, y)], fill=0, width=6)
    out = tempfile.SpooledTemporaryFile()
    image.save(out, "JPEG", quality=75)
    out.seek(0)
    return out.read()


def timed(label: str, results: dict[str, float], fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    results[label] = time.perf_counter() - start
    print(f"{label:<28} {results[label]:8.2f} s", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=14_000)
    parser.add_argument("--height", type=int, default=10_000)
    parser.add_argument("--tiles", type=int, default=50)
    args = parser.parse_args()
    data = scan(args.width, args.height)
    print(f"scan: {args.width} x {args.height} px, {len(data) / 1024**2:.1f} MiB JPEG", flush=True)
    server = with_database(resolve_url(DatabaseSettings()), "postgres")
    name = f"bench_digitise_{secrets.token_hex(3)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    url = with_database(server, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        migrate.upgrade(url)
        load_demo(url, settings=Settings(), parcels=100, seed=7)
        with tempfile.TemporaryDirectory(prefix="bench-archive-") as folder:
            run(url, data, args, Path(folder))
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)))


def run(url: str, data: bytes, args: argparse.Namespace, folder: Path) -> None:
    archive = Archive(FolderStore(folder / "store"), folder / "cache",
                      ArchiveSettings(max_file_bytes=max(len(data) + 1, ArchiveSettings().max_file_bytes)))
    results: dict[str, float] = {}
    w, h = args.width, args.height
    corners = [(0, 0), (w, 0), (w, h), (0, h), (w / 2, h / 2), (w / 3, 2 * h / 3)]
    points = [{"label": f"J{i + 1}", "column": c, "row": r, "easting": E0 + c * M, "northing": N0 - r * M}
              for i, (c, r) in enumerate(corners)]
    with psycopg.connect(url) as conn:
        total = time.perf_counter()
        started = timed("upload + render + pyramid", results, digitising.start, conn, archive, SURVEYOR, "a1.jpg", data,
                        crs=4528, page=1, scale_denominator=500)
        did = started["digitisation_id"]
        digitising.set_points(conn, SURVEYOR, did, points)
        timed("fit (affine)", results, digitising.fit_points, conn, SURVEYOR, did, "affine", SurveySettings())
        warped = timed("warp + overviews (GDAL)", results, digitising.warp, conn, archive, SURVEYOR, did)
        results["total to warped"] = time.perf_counter() - total
        overlay_tiles(conn, archive, did, warped, args.tiles)
        pixel_tiles(conn, archive, did, w, h, args.tiles)
    print(f"{'upload to warped':<28} {results['total to warped']:8.2f} s (goal < 60 s)")
    print(f"load average {open('/proc/loadavg').read().split()[:3]}")


def overlay_tiles(conn: psycopg.Connection, archive: Archive, did: int, warped: dict, count: int) -> None:  # type: ignore[type-arg]
    from pyproj import Transformer

    west, south, east, north = warped["lonlat_bounds"]
    to_merc = Transformer.from_crs(4326, 3857, always_xy=True)
    x0, y1 = to_merc.transform(west, south)
    x1, y0 = to_merc.transform(east, north)
    half = 20037508.342789244
    for z in (15, 16, 17, 18, 19, 20, 21):
        size = 2 * half / 2**z
        xs = range(int((x0 + half) // size), int((x1 + half) // size) + 1)
        ys = range(int((half - y0) // size), int((half - y1) // size) + 1)
        tiles = [(x, y) for x in xs for y in ys]
        tiles = tiles[:: max(1, len(tiles) // count)][:count]
        cold, warm = [], []
        for times in (cold, warm):
            for x, y in tiles:
                start = time.perf_counter()
                digitising.tile(conn, archive, SURVEYOR, did, z, x, y)
                times.append(time.perf_counter() - start)
        assert tile_bounds(z, tiles[0][0], tiles[0][1])
        print(f"overlay z{z:<2} cold median {statistics.median(cold) * 1000:6.1f} ms, p95 "
              f"{np.percentile(cold, 95) * 1000:6.1f} ms; warm median {statistics.median(warm) * 1000:5.1f} ms "
              f"({len(cold)} tiles)", flush=True)


def pixel_tiles(conn: psycopg.Connection, archive: Archive, did: int, w: int, h: int, count: int) -> None:  # type: ignore[type-arg]
    levels = pixel_levels(w, h)
    for z in range(-levels, 1, 2 if levels > 3 else 1):
        span = 256 * 2 ** (-z)
        tiles = [(x, y) for x in range(-(-w // span)) for y in range(-(-h // span))]
        tiles = tiles[:: max(1, len(tiles) // count)][:count]
        times = []
        for x, y in tiles:
            start = time.perf_counter()
            digitising.scan_tile(conn, archive, SURVEYOR, did, z, x, y)
            times.append(time.perf_counter() - start)
        print(f"scan pixel tiles z{z:<3} median {statistics.median(times) * 1000:6.1f} ms, p95 "
              f"{np.percentile(times, 95) * 1000:6.1f} ms ({len(times)} tiles)", flush=True)


if __name__ == "__main__":
    main()
