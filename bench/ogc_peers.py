"""OGC API speed on the 1,000,000-parcel district: ours against MapServer 8 and QGIS Server 3.22.

    CADASTRE_STATE_DIR=/work/main/.cadastre .venv/bin/python bench/ogc_peers.py [--repeat 30]

The two servers registry offices actually run, from Debian (`mapserver-bin`, `qgis-server`,
`nginx`, `spawn-fcgi`; `scripts/setup --bench` installs them), each in its best configuration:
persistent FastCGI processes (two each, one per core) behind nginx with kept-alive upstream
connections. Ours is one uvicorn worker (`portal.app:create_app`). One run, one database, the
same parcels: the peers read the view `bench_peers.parcels` (made here if missing: the public
view's columns plus the integer key MapServer needs, and an index on that key as text, the form
MapServer 8.0 queries an item by; QGIS 3.22 ignores attribute exclusion in OGC API output, so a
view is what publishes only public fields). Before timing, every server answers a few untimed
requests (a FastCGI process loads its map or project on its first request).

Cases, each a median and p99 over `--repeat` sequential requests on one kept-alive connection
(latency at the client, not throughput), each server having read every distinct URL of the
case once, untimed, before (no server pays for database pages another then finds warm): item
by id, a 1,000-feature bbox page, a deep page
(ours follows its keyset cursor, the peers use offset), an attribute filter (ours as CQL2 text,
QGIS as its `property=value` filter; MapServer 8.0's OGC API has no filter), and cold vector
tiles at z12/z14/z16 (a tile never asked before by any server; QGIS 3.22 serves no vector
tiles). At z12 MapServer is given the rule our tiles follow below z14 (parcels smaller than
three quarters of a screen pixel left out), so both send the same parcels. Then the warm z16
tile throughput: one tile asked again and again over `--throughput-connections` kept-alive
connections for `--throughput-seconds` (requests/s, median and p99), ours from its tile cache,
MapServer computing it each time (it has no cache of its own).

The database is only read when the view and index below exist already (run with
`PGOPTIONS='-c default_transaction_read_only=on'` to make sure of it); they are made if missing.

Secrets: the database password reaches the peers only through files written into a private
temporary folder (mode 0700) for this run, never through a file in the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from ogc import _free_port, _start, _tiles_near  # noqa: E402
from ogc_tail import _load  # noqa: E402
from serving import wait_until_serving  # noqa: E402

from portal.platform.cluster import Cluster  # noqa: E402
from portal.settings import DatabaseSettings, TileSettings  # noqa: E402

PEERS_VIEW = """
CREATE SCHEMA IF NOT EXISTS bench_peers;
CREATE OR REPLACE VIEW bench_peers.parcels AS
SELECT p.parcel_id AS id, p.parcel_code, p.calculated_area AS area, p.land_use_code,
       lu.name_zh AS land_use_name, p.admin_area_code, a.name AS admin_area_name,
       p.valid_from, p.valid_to, p.geom
FROM parcels p JOIN land_uses lu ON lu.code = p.land_use_code
     JOIN admin_areas a ON a.code = p.admin_area_code
WHERE p.end_lifespan IS NULL;
-- MapServer 8.0 asks for an item as "id"::text = '...': without this index it reads every parcel.
CREATE INDEX IF NOT EXISTS bench_peers_parcel_id_text ON parcels ((parcel_id::text))
    WHERE end_lifespan IS NULL;
"""
BBOX_PAGE = 1000
DEEP = 500_000
LAND_USE = "0501"
PROPERTIES = ("parcel_code,area,land_use_code,land_use_name,admin_area_code,admin_area_name,"
              "valid_from,valid_to")
EARTH_CIRCUMFERENCE = 40_075_016.686


def _mapfile(conninfo: str, port: int, edge_pixels: float, z12_min_area: float) -> str:
    layer = """
  LAYER
    NAME "{name}"
    GROUP "parcels"
    TYPE POLYGON
    STATUS ON
    CONNECTIONTYPE POSTGIS
    CONNECTION "{conn}"
    PROCESSING "CLOSE_CONNECTION=DEFER"
    DATA "{data}"
    PROJECTION "init=epsg:4490" END
    {scale}
    METADATA
      "ows_title" "parcels"
      "gml_include_items" "{props}"
      "gml_featureid" "id"
      "gml_types" "auto"
      "oga_enable_request" "*"
    END
    TEMPLATE "void"
  END"""
    detailed = layer.format(
        name="parcels", conn=conninfo, props=PROPERTIES, scale="MAXSCALEDENOM 50000",
        data="geom from bench_peers.parcels using unique id using srid=4490")
    low = layer.format(
        name="parcels_low", conn=conninfo, props=PROPERTIES,
        scale="MINSCALEDENOM 50000 MAXSCALEDENOM 250000",
        data=(f"geom from (select * from bench_peers.parcels where area >= {z12_min_area:.3f}) "  # noqa: S608
              "as p using unique id using srid=4490"))  # (a number computed here, not input)
    return f"""MAP
  NAME "parcels"
  EXTENT 120.15 30.22 120.87 30.56
  SIZE 256 256
  PROJECTION "init=epsg:4490" END
  WEB
    METADATA
      "ows_enable_request" "*"
      "oga_enable_request" "*"
      "ows_title" "cadastre"
      "ows_srs" "EPSG:4490 EPSG:3857 EPSG:4326"
      "oga_onlineresource" "http://127.0.0.1:{port}/ms/parcels/ogcapi"
      "oga_html_template_directory" "/usr/share/mapserver/ogcapi/templates/html-plain/"
      "oga_max_limit" "10000"
    END
  END
  OUTPUTFORMAT
    NAME "mvt"
    DRIVER MVT
    FORMATOPTION "EDGE_BUFFER={edge_pixels:g}"
    FORMATOPTION "EXTENT=4096"
  END{detailed}{low}
END
"""


def _nginx_conf(work: Path, port: int) -> str:
    def upstream(name: str, keepalive: str = "keepalive 8; ") -> str:
        servers = "".join(f"server unix:{work}/{name}{i}.sock; " for i in range(2))
        return f"upstream {name} {{ {servers}{keepalive}}}"

    common = ("include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; "
              "fastcgi_param PATH_INFO $fastcgi_path_info; ")
    return f"""
user root;
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx.err warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx-body;
  fastcgi_temp_path {work}/nginx-fastcgi;
  proxy_temp_path {work}/nginx-proxy;
  uwsgi_temp_path {work}/nginx-uwsgi;
  scgi_temp_path {work}/nginx-scgi;
  {upstream("ms")}
  {upstream("qgis")}
  {upstream("ms", "").replace("upstream ms ", "upstream ms_concurrent ")}
  server {{
    listen 127.0.0.1:{port};
    location /ms {{
      fastcgi_split_path_info ^(/ms)(.*)$;
      {common}
      fastcgi_param MAPSERVER_CONFIG_FILE {work}/mapserver.conf;
      fastcgi_pass ms;
    }}
    # Concurrent clients: a FastCGI process serves one connection at a time and keeps a kept-
    # alive one for ever, so more clients than processes need a connection per request (a
    # unix socket connect), queued in the socket's backlog until a process is free.
    location /msc {{
      fastcgi_split_path_info ^(/msc)(.*)$;
      include /etc/nginx/fastcgi_params; fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_param MAPSERVER_CONFIG_FILE {work}/mapserver.conf;
      fastcgi_pass ms_concurrent;
    }}
    location /qgis {{
      fastcgi_split_path_info ^(/qgis)(.*)$;
      {common}
      fastcgi_param QGIS_PROJECT_FILE {work}/parcels.qgs;
      fastcgi_pass qgis;
    }}
  }}
}}
"""


def _timed(client: httpx.Client, urls: list[str]) -> list[float] | str:
    times = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url, timeout=120)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        times.append(elapsed)
    return times


def _cell(times: list[float] | str | None) -> str:
    if times is None:
        return "n/a"
    if isinstance(times, str):
        return times
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"{statistics.median(times):7.1f} / {p99:7.1f}"


def main() -> None:  # noqa: PLR0915 - one run set up and torn down in one place
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="bench_1000000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--throughput-seconds", type=float, default=5.0)
    parser.add_argument("--throughput-connections", type=int, default=8)
    parser.add_argument("--throughput-only", action="store_true", help="skip the latency cases")
    args = parser.parse_args()
    for tool in ("mapserv", "nginx", "spawn-fcgi", "/usr/lib/cgi-bin/qgis_mapserv.fcgi"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: scripts/setup --bench installs the peers")

    url = Cluster(DatabaseSettings().state_dir).url(args.database)
    info = psycopg.conninfo.conninfo_to_dict(url)
    conninfo = " ".join(f"{k}={info[k]}" for k in ("host", "port", "dbname", "user", "password"))
    n = args.repeat
    with psycopg.connect(url, autocommit=True) as conn:
        made = conn.execute("SELECT to_regclass('bench_peers.parcels') IS NOT NULL "
                            "AND to_regclass('bench_peers_parcel_id_text') IS NOT NULL").fetchone()
        if not (made and made[0]):
            conn.execute(PEERS_VIEW)
        lon, lat = conn.execute(
            "SELECT ST_X(ST_Centroid(e)), ST_Y(ST_Centroid(e)) FROM "
            "(SELECT ST_EstimatedExtent('public', 'parcels', 'geom')::geometry AS e) s").fetchone()
        sample = conn.execute(
            "SELECT parcel_id, parcel_code FROM parcels TABLESAMPLE SYSTEM (0.1) REPEATABLE (11) "
            "WHERE end_lifespan IS NULL LIMIT %s", (n,)).fetchall()
        deep_after = conn.execute(
            "SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL ORDER BY parcel_code "
            "OFFSET %s LIMIT 1", (DEEP - 1,)).fetchone()[0]
        half = 0.002
        while conn.execute("SELECT count(*) FROM parcels WHERE end_lifespan IS NULL AND "
                           "geom && ST_MakeEnvelope(%s, %s, %s, %s, 4490)",
                           (lon - half, lat - half, lon + half, lat + half)).fetchone()[0] < 1500:
            half *= 1.3
    bbox = f"{lon - half:.6f},{lat - half:.6f},{lon + half:.6f},{lat + half:.6f}"

    tiles = TileSettings()
    pixel_z12 = EARTH_CIRCUMFERENCE / 2**12 / 256
    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    os.chmod(work, 0o700)
    ports = {"ours": _free_port(), "peers": _free_port()}
    (work / "parcels.map").write_text(_mapfile(conninfo, ports["peers"],
                                               tiles.buffer / tiles.extent * 256, pixel_z12**2 * 0.75))
    (work / "mapserver.conf").write_text(
        f'CONFIG\n  MAPS\n    "parcels" "{work}/parcels.map"\n  END\nEND\n')
    made = subprocess.run(["/usr/bin/python3", str(HERE / "peers" / "qgis_project.py"),
                           str(work / "parcels.qgs"), conninfo], capture_output=True, text=True,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    if made.returncode:
        sys.exit(f"the QGIS project could not be written: {made.stderr[-2000:]}")
    (work / "nginx.conf").write_text(_nginx_conf(work, ports["peers"]))

    processes: list[subprocess.Popen[bytes]] = []
    peer_env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_SERVER_LOG_LEVEL": "2",
                "QGIS_SERVER_LOG_STDERR": "0", "MAPSERVER_CONFIG_FILE": str(work / "mapserver.conf")}
    try:
        for name, program in (("ms", "/usr/bin/mapserv"), ("qgis", "/usr/lib/cgi-bin/qgis_mapserv.fcgi")):
            for i in range(2):
                processes.append(subprocess.Popen(
                    ["spawn-fcgi", "-n", "-s", str(work / f"{name}{i}.sock"), "--", program],
                    env=peer_env, stdout=(work / f"{name}{i}.log").open("wb"), stderr=subprocess.STDOUT))
        time.sleep(1)
        nginx = subprocess.Popen(["nginx", "-c", str(work / "nginx.conf")],
                                 stdout=(work / "nginx.log").open("wb"), stderr=subprocess.STDOUT)
        processes.append(nginx)
        first_id = sample[0][0]
        wait_until_serving(nginx, f"http://127.0.0.1:{ports['peers']}/ms/parcels/ogcapi/collections/"
                           f"parcels/items/{first_id}?f=json", what="mapserver", log=work / "nginx.err")
        uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log",
                   "--host", "127.0.0.1"]
        processes.append(_start("ours", [*uvicorn, "--port", str(ports["ours"]), "--factory",
                                         "portal.app:create_app"],
                                {"DATABASE_URL": url, "CADASTRE_ACCOUNTS_IDENTITY_KEY": "be7c" * 16,
                                 "CADASTRE_PUBLIC_URL": f"http://127.0.0.1:{ports['ours']}"},
                                ports["ours"], "/ogc/conformance", work / "ours.log"))

        ours = f"http://127.0.0.1:{ports['ours']}/ogc/collections/parcels"
        ms = f"http://127.0.0.1:{ports['peers']}/ms/parcels/ogcapi/collections/parcels"
        ms_tile = f"http://127.0.0.1:{ports['peers']}/ms?map=parcels&mode=tile&tilemode=gmap&layers=parcels"
        qgis = f"http://127.0.0.1:{ports['peers']}/qgis/wfs3/collections/parcels"
        cases: list[tuple[str, dict[str, list[str] | None]]] = [
            ("item by id", {
                "ours": [f"{ours}/items/{code}" for _, code in sample],
                "mapserver": [f"{ms}/items/{i}?f=json" for i, _ in sample],
                "qgis": [f"{qgis}/items/{i}.json" for i, _ in sample]}),
            ("bbox page 1000", {
                "ours": [f"{ours}/items?bbox={bbox}&limit={BBOX_PAGE}"] * n,
                "mapserver": [f"{ms}/items?bbox={bbox}&limit={BBOX_PAGE}&f=json"] * n,
                "qgis": [f"{qgis}/items.json?bbox={bbox}&limit={BBOX_PAGE}"] * n}),
            (f"deep page ({DEEP:,})", {
                "ours": [f"{ours}/items?after={deep_after}&limit=100"] * n,
                "mapserver": [f"{ms}/items?offset={DEEP}&limit=100&f=json"] * min(n, 5),
                "qgis": [f"{qgis}/items.json?offset={DEEP}&limit=100"] * min(n, 5)}),
            ("attribute filter", {
                "ours": [f"{ours}/items?filter=land_use_code='{LAND_USE}'&limit=100"] * n,
                "mapserver": None,
                "qgis": [f"{qgis}/items.json?land_use_code={LAND_USE}&limit=100"] * n}),
        ]
        for z in (12, 14, 16):
            count = 6 if z == 12 else n
            chosen = _tiles_near(lon, lat, z, 2 * count)
            mine, theirs = chosen[0::2], chosen[1::2]  # neighbours: cold for both, same density
            cases.append((f"tile z{z} cold", {
                "ours": [f"{ours}/tiles/WebMercatorQuad/{t[0]}/{t[2]}/{t[1]}" for t in mine],
                "mapserver": [f"{ms_tile}&tile={t[1]}+{t[2]}+{t[0]}&map.imagetype=mvt" for t in theirs],
                "qgis": None}))

        results: dict[str, dict[str, list[float] | str | None]] = {}
        with httpx.Client() as client:
            for _server, urls in (("ours", cases[0][1]["ours"]), ("mapserver", cases[0][1]["mapserver"]),
                                 ("qgis", cases[0][1]["qgis"])):
                assert urls is not None
                for _ in range(4):
                    client.get(urls[-1], timeout=120)
            for name, urls_by_server in cases if not args.throughput_only else []:
                if "cold" not in name:
                    # Like with like: every server first reads each distinct URL of the case once,
                    # untimed, so that no one pays for the database's cold pages the next reads.
                    for urls in urls_by_server.values():
                        for url in dict.fromkeys(urls or []):
                            client.get(url, timeout=120)
                results[name] = {}
                for server, urls in urls_by_server.items():
                    results[name][server] = None if urls is None else _timed(client, urls)
        if results:
            _print(results, n)
        # Warm z16 tile throughput: the same tile again and again over concurrent kept-alive
        # connections, ours (one uvicorn worker, its tile cache) against MapServer (two FastCGI
        # processes, which compute the tile each time from warm database pages).
        z, x, y = _tiles_near(lon, lat, 16, 1)[0]
        warm = {"ours": (ports["ours"], f"/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}"),
                "MapServer 8": (ports["peers"], f"/msc?map=parcels&mode=tile&tilemode=gmap&layers=parcels"
                                                f"&tile={x}+{y}+{z}&map.imagetype=mvt")}
        c, seconds = args.throughput_connections, args.throughput_seconds
        print(f"\nwarm tile z16 throughput, {c} connections, {seconds:g} s each (the same tile {z}/{x}/{y})")
        for server, (port, path) in warm.items():
            try:
                asyncio.run(_load(port, [path], c, 1.0))  # untimed: cached (ours), warm pages (both)
                latencies = asyncio.run(_load(port, [path], c, seconds))
            except (RuntimeError, OSError, asyncio.IncompleteReadError) as error:
                log = work / "nginx.err"
                print(f"{server:<14} failed: {error}\n{log.read_text()[-1500:] if log.exists() else ''}")
                continue
            print(f"{server:<14}{len(latencies) / seconds:9.0f} req/s   {_cell(latencies_ms(latencies))} ms "
                  "(median / p99)")
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


def latencies_ms(latencies: list[float]) -> list[float]:
    return [t * 1000 for t in latencies]


def _print(results: dict[str, dict[str, list[float] | str | None]], n: int) -> None:
    print(f"median / p99 at the client in ms, {n} sequential requests per case (deep page: 5 for the peers)")
    print(f"{'case':<22}{'ours':>20}{'MapServer 8':>20}{'QGIS Server 3.22':>20}{'best peer/ours':>16}")
    for name, row in results.items():
        ours = row["ours"]
        peers = [statistics.median(v) for k, v in row.items() if k != "ours" and isinstance(v, list)]
        ratio = (f"{min(peers) / statistics.median(ours):.2f}x" if peers and isinstance(ours, list)
                 else "n/a")
        print(f"{name:<22}{_cell(ours):>20}{_cell(row['mapserver']):>20}{_cell(row['qgis']):>20}{ratio:>16}")


if __name__ == "__main__":
    main()
