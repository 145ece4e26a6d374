"""Tail latency of the OGC hot paths under concurrent keep-alive connections: p50/p99 of item
by id and of cold tiles at 1, 4, 8 and 32 connections, against one uvicorn worker.

    .venv/bin/python bench/ogc_tail.py --database bench_100000 --seconds 10

The client is a minimal HTTP/1.1 client on asyncio streams (one request at a time per
connection, back to back), so that its own cost stays small next to the server's on a shared
machine. Cold tiles: the tile cache is switched off (CADASTRE_TILE_CACHE_SIZE=0) and z14/z16
tiles around the district's centre are requested in turn. `--env NAME=VALUE` passes settings to
the server (e.g. CADASTRE_DATABASE_OGC_POOL_MAX_SIZE=4) to compare configurations in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from serving import wait_until_serving  # noqa: E402

from portal.platform.cluster import Cluster  # noqa: E402
from portal.settings import DatabaseSettings  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n"):
        name = line.split(b":", 1)[0].strip().lower()
        if name == b"content-length":
            length = int(line.split(b":", 1)[1])
        elif name == b"transfer-encoding" and b"chunked" in line.lower():
            chunked = True  # nginx in front of a FastCGI peer (bench/ogc_peers.py)
    if chunked:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    elif length:
        await reader.readexactly(length)
    return status


async def _load(port: int, paths: list[str], connections: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def worker(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while time.monotonic() < stop:
                started = time.perf_counter()
                status = await _get(reader, writer, paths[i % len(paths)])
                latencies.append(time.perf_counter() - started)
                if status not in (200, 204):
                    raise RuntimeError(f"{paths[i % len(paths)]} answered {status}")
                i += connections
        finally:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(connections)))
    return latencies


def _summary(name: str, connections: int, latencies: list[float], seconds: float) -> str:
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    worst = ordered[-1] * 1000
    return (f"{name:<14} c={connections:<3} {len(ordered) / seconds:7.0f} req/s   p50 {p50:6.2f} ms"
            f"   p99 {p99:7.2f} ms   p99/p50 {p99 / p50:5.1f}   max {worst:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="bench_1000000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", default="1,4,8,32")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--app", default="portal.app:create_app", help="the app factory")
    args = parser.parse_args()

    url = Cluster(DatabaseSettings().state_dir).url(args.database)
    with psycopg.connect(url) as conn:
        lon, lat = conn.execute(
            "SELECT ST_X(ST_Centroid(e)), ST_Y(ST_Centroid(e)) FROM "
            "(SELECT ST_EstimatedExtent('public', 'parcels', 'geom')::geometry AS e) s").fetchone()
        ids = [r[0] for r in conn.execute(
            "SELECT parcel_code FROM parcels TABLESAMPLE SYSTEM (1) REPEATABLE (7) "
            "WHERE end_lifespan IS NULL LIMIT 2000")]
    random.Random(7).shuffle(ids)
    cases: dict[str, list[str]] = {"item by id": [f"/ogc/collections/parcels/items/{i}"
                                                  for i in ids]}
    for z, radius in ((16, 12), (14, 3)):
        x0, y0 = _tile(lon, lat, z)
        cases[f"cold tile z{z}"] = [
            f"/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y0 + dy}/{x0 + dx}"
            for dx in range(-radius, radius + 1) for dy in range(-radius, radius + 1)]

    port = _free_port()
    log = Path(tempfile.mkdtemp(prefix="bench-ogc-tail-")) / "ours.log"
    env = {**os.environ, "DATABASE_URL": url, "CADASTRE_ACCOUNTS_IDENTITY_KEY": "be7c" * 16,
           "CADASTRE_PUBLIC_URL": f"http://127.0.0.1:{port}", "CADASTRE_TILE_CACHE_SIZE": "0",
           **dict(e.split("=", 1) for e in args.env)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log", "--host",
         "127.0.0.1", "--port", str(port), "--factory", args.app],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_until_serving(process, f"http://127.0.0.1:{port}/ogc/conformance", what="ours",
                           log=log)
        print(f"{args.database}; {args.seconds:g} s per case; one uvicorn worker; "
              f"app {args.app}; settings: {' '.join(args.env) or 'defaults'}")
        for name, paths in cases.items():
            asyncio.run(_load(port, paths, 4, 2))  # warm the pool and the plans
            for connections in (int(c) for c in args.connections.split(",")):
                latencies = asyncio.run(_load(port, paths, connections, args.seconds))
                print(_summary(name, connections, latencies, args.seconds), flush=True)
    finally:
        process.terminate()
        process.wait(timeout=20)
        if args.app.startswith("bench.ogc_tail_app"):
            print(log.read_text().strip())


if __name__ == "__main__":
    main()
