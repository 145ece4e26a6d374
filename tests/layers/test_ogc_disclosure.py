"""Nothing personal through /ogc: every response is scanned for the demo's parties.

Party names and identity document numbers come from the `parties` table of the demo
district; the scan covers the landing page, every linked JSON and HTML document, all
features (every page), tiles, queryables, schemas, OpenAPI and error responses.
"""

from __future__ import annotations

import math
from urllib.parse import urlparse

import httpx
import mapbox_vector_tile
import psycopg
from identities import opened
from ogc_server import Server


def _secrets(server: Server) -> set[str]:
    with psycopg.connect(server.database_url) as conn:
        rows = [(name, opened(digest, sealed), masked) for name, digest, sealed, masked in conn.execute(
            "SELECT name, id_document_digest, id_document_sealed, id_document_masked FROM parties").fetchall()]
        restrictions = conn.execute(
            "SELECT court, document_number FROM restrictions WHERE court IS NOT NULL").fetchall()
    values = {v for row in rows for v in row if v and len(v) >= 2}
    values |= {v for row in restrictions for v in row if v}
    assert len(values) > 100
    return values


def _crawl(server: Server) -> dict[str, str]:
    """Every /ogc document reachable by links from the landing page (JSON and HTML)."""
    seen: dict[str, str] = {}
    queue = [server.ogc + "/?f=json", server.ogc + "/?f=html"]
    while queue and len(seen) < 400:
        url = queue.pop()
        if url in seen or not url.startswith(server.ogc):
            continue
        response = httpx.get(url, timeout=30)
        seen[url] = response.text
        if "json" not in response.headers.get("content-type", ""):
            continue
        try:
            body = response.json()
        except ValueError:
            continue
        links = list(body.get("links", [])) if isinstance(body, dict) else []
        for c in body.get("collections", []) if isinstance(body, dict) else []:
            links += c.get("links", [])
        for link in links:
            href = link.get("href", "")
            if "{" in href or urlparse(href).path.endswith(("/openapi",)):
                continue
            if link.get("rel") in ("next", "prev"):
                continue
            queue.append(href)
    return seen


def test_no_party_data_in_any_ogc_response(ogc_server: Server) -> None:
    secrets = _secrets(ogc_server)
    documents = _crawl(ogc_server)
    assert len(documents) > 15
    ogc = ogc_server.ogc
    for extra in [
        "/openapi?f=json", "/collections/parcels/queryables?f=json",
        "/collections/parcels/schema?f=json", "/collections/admin-areas/items",
        "/collections/parcels/items?filter=name%3D'x'", "/collections/parcels/items?party=1",
        "/collections/parcels/items/330102001001GB99999",
        "/collections/parcels/items?f=html&limit=50",
    ]:
        documents[ogc + extra] = httpx.get(ogc + extra, timeout=30).text
    page = httpx.get(ogc + "/collections/parcels/items", params={"limit": 10000}, timeout=60)
    documents["all parcels"] = page.text
    assert page.json()["numberReturned"] > 300
    password = psycopg.conninfo.conninfo_to_dict(ogc_server.database_url).get("password")
    if password:  # the generated pygeoapi config holds the database URL: it must not show
        secrets.add(str(password))
    for url, text in documents.items():
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{url} shows {leaked[:3]}"


def test_no_party_data_in_tiles(ogc_server: Server) -> None:
    secrets = _secrets(ogc_server)
    with psycopg.connect(ogc_server.database_url) as conn:
        lon, lat = conn.execute("SELECT ST_X(ST_Centroid(ST_Extent(geom))), "
                                "ST_Y(ST_Centroid(ST_Extent(geom))) FROM parcels").fetchone()
    for z in (12, 14, 16):
        n = 2**z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        for collection in ("parcels", "admin-areas"):
            response = httpx.get(
                f"{ogc_server.ogc}/collections/{collection}/tiles/WebMercatorQuad/{z}/{y}/{x}",
                timeout=30)
            if response.status_code == 204:
                continue
            decoded = mapbox_vector_tile.decode(response.content)
            values = {str(v) for layer in decoded.values() for f in layer["features"]
                      for v in f["properties"].values()}
            keys = {k for layer in decoded.values() for f in layer["features"]
                    for k in f["properties"]}
            assert keys <= {"parcel_code", "land_use_code", "admin_area_code", "admin_area_name"}
            assert not values & secrets
