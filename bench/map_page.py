"""How fast the public map is on a large district, in headless Chromium and over HTTP.

    .venv/bin/python bench/map_page.py --database bench_1000000 [--runs 5] [--stand-in-tiles]

Serves create_app() over the named database with uvicorn, then measures with Debian's chromium
(cold cache: a new browser context per run): time to the map being interactive (the script has
wired search, clicks and labels: `performance.mark("map-ready")`), time to the first and to all
parcel tiles at zoom 16 in the densest part, click-to-panel; then the JSON API and the PDF
sheet (median of several calls), and location search side by side with the 0001 trigram index
as the peer. --stand-in-tiles serves tiles with the tests' stand-in when layers/ is not there.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import uvicorn

from portal.app import create_app
from portal.platform.db import resolve_url, with_database
from portal.settings import AccountSettings, DatabaseSettings, Settings

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _serve(url: str, stand_in: bool) -> tuple[str, uvicorn.Server]:
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=url),
                              accounts=AccountSettings(identity_key="be7c" * 16)))
    if stand_in:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "web"))
        from tiles_stand_in import add_tiles_if_missing

        print("tiles:", "tests' stand-in" if add_tiles_if_missing(app) else "the app's own (layers/)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def _median_ms(call, n: int = 7) -> float:  # type: ignore[no-untyped-def]
    call()  # warm
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="bench_1000000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stand-in-tiles", action="store_true")
    args = parser.parse_args()
    url = with_database(resolve_url(DatabaseSettings()), args.database)
    with psycopg.connect(url) as conn:
        parcels = conn.execute("SELECT count(*) FROM parcels WHERE end_lifespan IS NULL").fetchone()[0]
        code, lon, lat = conn.execute("""
            SELECT parcel_code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom))
              FROM parcels WHERE end_lifespan IS NULL ORDER BY parcel_id LIMIT 1 OFFSET %s""",
                                      (parcels // 2,)).fetchone()
        unit, location = conn.execute(
            "SELECT unit_number, location FROM units WHERE end_lifespan IS NULL AND parcel_id = "
            "(SELECT parcel_id FROM parcels WHERE parcel_code = %s AND end_lifespan IS NULL) LIMIT 1",
            (code,)).fetchone()
    base, server = _serve(url, args.stand_in_tiles)
    print(f"{args.database}: {parcels} current parcels; probe parcel {code} at {lon:.5f}, {lat:.5f}")

    from playwright.sync_api import sync_playwright

    ready, first_tile, all_tiles, click = [], [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(args.runs):
            context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
            page = context.new_page()
            page.goto(base + "/")
            page.wait_for_selector("html[data-map-ready=true]")
            ready.append(page.evaluate("performance.getEntriesByName('map-ready')[0].startTime"))
            started = page.evaluate("""([lon, lat]) => new Promise(resolve => {
                const P = window.portalMap, t0 = performance.now(); let first = null;
                P.parcels.on('tileload', () => { if (first === null) first = performance.now() - t0; });
                P.parcels.once('load', () => resolve([first, performance.now() - t0]));
                P.map.setView([lat, lon], 16, {animate: false});
            })""", [lon, lat])
            first_tile.append(started[0] or 0.0)
            all_tiles.append(started[1])
            t0 = time.perf_counter()
            page.evaluate("([lon, lat]) => window.portalMap.map.setView([lat, lon], 18, {animate: false})",
                          [lon, lat])
            page.mouse.click(640, 400 + 45)  # the map's centre (below the header and search bar)
            page.wait_for_function("() => !document.querySelector('#parcel-panel').hidden")
            click.append((time.perf_counter() - t0) * 1000)
            context.close()
        browser.close()

    def fmt(values: list[float]) -> str:
        return f"median {statistics.median(values):7.0f} ms   (min {min(values):.0f}, max {max(values):.0f})"

    print(f"\nbrowser, {args.runs} cold runs, 1280x800, headless Debian chromium")
    print(f"  map interactive after navigation start   {fmt(ready)}   target < 2000 ms")
    print(f"  zoom 16 in the district: first tile drawn  {fmt(first_tile)}")
    print(f"  zoom 16 in the district: all tiles drawn   {fmt(all_tiles)}")
    print(f"  click at zoom 18 -> parcel panel shown     {fmt(click)}")

    with httpx.Client(base_url=base, timeout=60) as http:
        box = f"{lon - 0.004},{lat - 0.0022},{lon + 0.004},{lat + 0.0022}"  # about zoom 17 on screen
        words = location[6:]
        calls = {
            "GET / (map page HTML)": lambda: http.get("/"),
            "GET /api/parcels/at": lambda: http.get("/api/parcels/at", params={"lon": lon, "lat": lat}),
            "GET /api/parcels/{code}": lambda: http.get(f"/api/parcels/{code}"),
            "GET /api/search parcel code prefix": lambda: http.get("/api/search", params={"q": code[:17]}),
            "GET /api/search unit number": lambda: http.get("/api/search", params={"q": unit}),
            f"GET /api/search location {words!r}": lambda: http.get("/api/search", params={"q": words}),
            "GET /api/search location '庆春东路'": lambda: http.get("/api/search", params={"q": "庆春东路"}),
            "GET /api/parcels/labels (zoom 17 view)": lambda: http.get("/api/parcels/labels",
                                                                       params={"bbox": box}),
            "GET /parcels/{code}/sheet.pdf": lambda: http.get(f"/parcels/{code}/sheet.pdf"),
        }
        print("\nHTTP, median of 7 after one warm-up call")
        for name, call in calls.items():
            print(f"  {name:<48} {_median_ms(call):8.1f} ms")
        # A sheet for a parcel never printed before subsets and converts the Chinese font anew.
        with psycopg.connect(url) as conn:
            others = [r[0] for r in conn.execute(
                "SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL ORDER BY parcel_id "
                "LIMIT 5 OFFSET %s", (parcels // 3,))]
        cold = []
        for other in others:
            started = time.perf_counter()
            http.get(f"/parcels/{other}/sheet.pdf").raise_for_status()
            cold.append((time.perf_counter() - started) * 1000)
        print(f"  {'GET /parcels/{code}/sheet.pdf, 5 new parcels':<48} {statistics.median(cold):8.1f} ms"
              f" (min {min(cold):.0f}, max {max(cold):.0f})")

    peer = "SELECT unit_number FROM units WHERE end_lifespan IS NULL AND location LIKE %s LIMIT 10"
    ours = "SELECT unit_number FROM units WHERE end_lifespan IS NULL AND location_bigrams(location) " \
           "@> location_bigrams(%s) AND location LIKE %s LIMIT 10"
    with psycopg.connect(url) as conn:
        print("\nlocation search in SQL (LIKE '%text%' LIMIT 10), median of 7: "
              "bigram GIN (0005, ours) vs pg_trgm GIN (0001, peer)")
        for text in ("庆春东路", words, "上城区解放路1", "西湖大道"):  # the last is nowhere
            peer_ms = _median_ms(lambda t=text: conn.execute(peer, (f"%{t}%",)).fetchall())
            ours_ms = _median_ms(lambda t=text: conn.execute(ours, (t, f"%{t}%")).fetchall())
            print(f"  {text!r:<32} ours {ours_ms:8.1f} ms   pg_trgm {peer_ms:8.1f} ms")
    server.should_exit = True


if __name__ == "__main__":
    main()
