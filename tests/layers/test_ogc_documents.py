"""What clients read in our documents is true (issue 18 section 1): every link leads somewhere
and says what it leads to, TileJSON is TileJSON, conformance declares what is implemented."""

from __future__ import annotations

import html
import math
import re

import httpx
import mapbox_vector_tile
import psycopg
from ogc_server import Server

TMS = "/collections/parcels/tiles/WebMercatorQuad"


def _get(server: Server, path: str, headers: dict[str, str] | None = None,
         **params: object) -> httpx.Response:
    return httpx.get(server.ogc + path, params=params, headers=headers, timeout=60)


def _first_parcel(server: Server) -> tuple[str, float, float]:
    with psycopg.connect(server.database_url) as conn:
        row = conn.execute("SELECT parcel_code, ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom))"
                           " FROM parcels WHERE end_lifespan IS NULL ORDER BY parcel_code "
                           "LIMIT 1").fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def _parcels_in_tile(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(response.content)
    return {f["properties"]["parcel_code"] for f in decoded["parcels"]["features"]}


def _links(document: dict) -> list[dict]:
    links: list[dict] = list(document.get("links", []))
    for tileset in document.get("tilesets", []):
        links += tileset.get("links", [])
    return links


def test_tileset_links_say_their_type_and_the_template_gives_tiles(ogc_server: Server) -> None:
    code, lon, lat = _first_parcel(ogc_server)
    for path in (TMS, f"{TMS}/metadata", "/collections/parcels/tiles"):
        for link in _links(_get(ogc_server, path, f="json").json()):
            assert "type_" not in link, (path, link)
    tileset = _get(ogc_server, TMS, f="json").json()
    for link in tileset["links"]:
        assert set(link) >= {"href", "rel", "type"}, link
    item = [link for link in tileset["links"] if link["rel"] == "item"]
    assert [link["type"] for link in item] == ["application/vnd.mapbox-vector-tile"]
    x, y = _tile_of(lon, lat, 16)
    href = item[0]["href"].format(tileMatrix=16, tileRow=y, tileCol=x)
    assert code in _parcels_in_tile(httpx.get(href, timeout=30))
    scheme = [link for link in tileset["links"] if link["rel"].endswith("tiling-scheme")]
    assert httpx.get(scheme[0]["href"], params={"f": "json"}, timeout=30).json()["id"] == \
        "WebMercatorQuad"


def test_the_tilejson_link_leads_to_tilejson_3(ogc_server: Server) -> None:
    code, lon, lat = _first_parcel(ogc_server)
    listing = _get(ogc_server, "/collections/parcels/tiles", f="json").json()
    described = [link for link in _links(listing) if "TileJSON" in link.get("title", "")]
    assert described, listing
    href = described[0]["href"].replace("{tileMatrixSetId}", "WebMercatorQuad")
    for url, headers in ((href, None), (ogc_server.ogc + f"{TMS}/metadata", None),
                         (ogc_server.ogc + f"{TMS}/metadata?f=tilejson", None),
                         (ogc_server.ogc + f"{TMS}/metadata", {"Accept": "*/*"})):
        response = httpx.get(url, headers=headers, timeout=30)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-type"].startswith("application/json")
        tilejson = response.json()
        assert tilejson["tilejson"] == "3.0.0"
        assert tilejson["minzoom"] == 0 and tilejson["maxzoom"] >= 18
        west, south, east, north = tilejson["bounds"]
        assert west <= lon <= east and south <= lat <= north
        assert east - west < 5 and north - south < 5  # the district's extent, not China's
        layers = {layer["id"]: layer for layer in tilejson["vector_layers"]}
        assert set(layers["parcels"]["fields"]) == {"parcel_code", "land_use_code"}
        assert all(isinstance(v, str) for v in layers["parcels"]["fields"].values())
        x, y = _tile_of(lon, lat, 17)
        tile = tilejson["tiles"][0].format(z=17, x=x, y=y)
        assert code in _parcels_in_tile(httpx.get(tile, timeout=30))
    html = _get(ogc_server, f"{TMS}/metadata", f="html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert _get(ogc_server, "/collections/parcels/tiles/Nope/metadata").status_code == 404
    assert _get(ogc_server, "/collections/nowhere/tiles/WebMercatorQuad/metadata"
                ).status_code == 404


def test_every_link_of_every_document_leads_somewhere(ogc_server: Server) -> None:
    code, _, _ = _first_parcel(ogc_server)
    documents = ["/", "/collections", "/collections/parcels", "/collections/parcels/items",
                 f"/collections/parcels/items/{code}", "/collections/parcels/tiles", TMS,
                 "/tileMatrixSets", "/collections/admin-areas"]
    seen: set[str] = set()
    for path in documents:
        for link in _links(_get(ogc_server, path, f="json").json()):
            href = link["href"]
            if "{" in href or href in seen or not href.startswith(ogc_server.url):
                continue
            seen.add(href)
            response = httpx.get(href, timeout=60)
            assert response.status_code == 200, (path, link, response.status_code)
            if link.get("type"):
                assert response.headers["content-type"].split(";")[0] == \
                    link["type"].split(";")[0], (path, link, response.headers["content-type"])
    assert any("f=jsonld" in href for href in seen)
    page = _get(ogc_server, "/collections/parcels/items", f="jsonld", limit=2)
    assert page.status_code == 200 and page.headers["content-type"] == "application/ld+json"
    assert code in page.text
    one = _get(ogc_server, f"/collections/parcels/items/{code}", f="jsonld")
    assert one.status_code == 200 and code in one.text


def test_every_link_of_the_html_pages_leads_somewhere(ogc_server: Server) -> None:
    """A crawl of the HTML pages from the landing page (a few items, not all of them)."""
    todo = [ogc_server.ogc + "/?f=html"]
    seen: set[str] = set()
    items = 0
    while todo and len(seen) < 120:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        response = httpx.get(url, timeout=60)
        assert response.status_code == 200, (url, response.status_code)
        if not response.headers["content-type"].startswith("text/html"):
            continue
        for href in re.findall(r'href="([^"]+)"', response.text):
            href = html.unescape(href)
            if not href.startswith(ogc_server.ogc) or "{" in href:
                continue
            if "/items/" in href:
                items += 1
                if items > 5:
                    continue
            todo.append(href)
    assert len(seen) > 15
