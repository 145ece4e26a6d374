"""MapLibre GL JS on a page of another origin draws parcels from our tiles (issue 18 sections 2
and 3): a second small HTTP server on another port serves the page and MapLibre (vendored from
npm, portal/web/assets/vendor.txt); headless Debian Chromium renders it with software WebGL.
The map finds the tiles through our TileJSON, so both cross-origin reads (TileJSON and MVT)
must carry CORS headers. The screenshot is kept in artifacts/screenshots/.
"""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from chromium import CHROMIUM, SCREENSHOTS
from ogc_server import Server

pytestmark = pytest.mark.browser

MAPLIBRE = Path(__file__).resolve().parents[2] / "portal" / "web" / "static" / "vendor" / "maplibre-gl"
# WebGL without a GPU: SwiftShader through ANGLE (Chromium asks for the opt-in since 2025).
WEBGL_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
              "--ignore-gpu-blocklist", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run"]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="maplibre-gl.css">
<script src="maplibre-gl.js"></script>
<style>html, body, #map {{ margin: 0; width: 800px; height: 600px; }}</style>
</head><body><div id="map"></div>
<script>
window.map = new maplibregl.Map({{
  container: "map", center: {center}, zoom: 16, fadeDuration: 0,
  style: {{
    version: 8,
    sources: {{parcels: {{type: "vector", url: {tilejson}}}}},
    layers: [
      {{id: "background", type: "background", paint: {{"background-color": "#f4f1ea"}}}},
      {{id: "parcels-fill", type: "fill", source: "parcels", "source-layer": "parcels",
        paint: {{"fill-color": "#e0b050", "fill-opacity": 0.6}}}},
      {{id: "parcels-line", type: "line", source: "parcels", "source-layer": "parcels",
        paint: {{"line-color": "#7a4b00", "line-width": 1}}}}
    ]
  }}
}});
window.errors = [];
map.on("error", (e) => window.errors.push(String(e.error && e.error.message || e)));
</script></body></html>
"""


@pytest.fixture(scope="module")
def webgl_browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: scripts/setup installs it")
    if not (MAPLIBRE / "maplibre-gl.js").exists():
        pytest.fail("maplibre-gl is not vendored: run scripts/vendor")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=WEBGL_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def other_origin(ogc_server: Server, tmp_path: Path) -> Iterator[str]:
    """A page on http://localhost:<another port>: another origin than the API's 127.0.0.1."""
    with psycopg.connect(ogc_server.database_url) as conn:
        row = conn.execute("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) c "
                           "FROM parcels WHERE end_lifespan IS NULL) s").fetchone()
    assert row is not None
    for name in ("maplibre-gl.js", "maplibre-gl.css"):
        shutil.copy(MAPLIBRE / name, tmp_path / name)
    tilejson = f"{ogc_server.ogc}/collections/parcels/tiles/WebMercatorQuad/metadata?f=tilejson"
    (tmp_path / "index.html").write_text(PAGE.format(center=json.dumps([row[0], row[1]]),
                                                     tilejson=json.dumps(tilejson)))
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


def test_maplibre_on_another_origin_renders_parcels_from_our_tiles(
        ogc_server: Server, other_origin: str, webgl_browser) -> None:  # type: ignore[no-untyped-def]
    page = webgl_browser.new_page(viewport={"width": 800, "height": 600})
    try:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{other_origin}/index.html")
        page.wait_for_function("window.map && map.loaded() && map.areTilesLoaded()",
                               timeout=60_000)
        page.wait_for_function("map.queryRenderedFeatures({layers: ['parcels-fill']}).length > 0",
                               timeout=30_000)
        rendered = page.evaluate(
            "[...new Set(map.queryRenderedFeatures({layers: ['parcels-fill']})"
            ".map(f => f.properties.parcel_code))]")
        errors = page.evaluate("window.errors")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "maplibre-parcels-other-origin.png"))
    finally:
        page.close()
    assert errors == []
    assert len(rendered) > 5, rendered
    with psycopg.connect(ogc_server.database_url) as conn:
        codes = {r[0] for r in conn.execute(
            "SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL").fetchall()}
    assert set(rendered) <= codes
    tiles = [u for u in requests if "/tiles/WebMercatorQuad/16/" in u]
    assert tiles and all(u.startswith(ogc_server.ogc) for u in tiles)
    # Offline: nothing but the page's origin and the API's.
    assert all(u.startswith((other_origin, ogc_server.url, "data:", "blob:")) for u in requests), \
        requests
