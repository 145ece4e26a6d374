"""Every way of asking /ogc for the same thing gets the same answer (review findings L8-L12):
control characters are a 4xx in OGC's exception format wherever they are put; f=html and
f=jsonld honour datetime and crs as GeoJSON does; item and items answers carry the same
headers; ids match exactly; and what the served documents link is what the OpenAPI lists."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import psycopg
from ogc_server import EPSG, FORMATS, ITEMS, Server
from ogc_server import ogc_get as _get


def _parcels(server: Server) -> tuple[str, tuple[str, str, str]]:
    """A current parcel's code, and a retired one's: (code, an instant it was valid, one
    before it began)."""
    with psycopg.connect(server.database_url) as conn:
        current = conn.execute("SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL "
                               "ORDER BY parcel_code LIMIT 1").fetchone()
        retired = conn.execute(
            "SELECT parcel_code, begin_lifespan, end_lifespan FROM parcels "
            "WHERE end_lifespan IS NOT NULL ORDER BY parcel_code LIMIT 1").fetchone()
    assert current is not None and retired is not None
    begin, end = retired[1], retired[2]
    return str(current[0]).strip(), (str(retired[0]).strip(), _instant(begin + (end - begin) / 2),
                                     _instant(begin - dt.timedelta(days=1)))


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_ogc_exception(response: httpx.Response) -> bool:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return False
    body = response.json()
    return isinstance(body, dict) and {"code", "description"} <= set(body)


def test_control_characters_are_a_4xx_in_ogc_format_everywhere(ogc_server: Server) -> None:
    code, _ = _parcels(ogc_server)
    item = f"{ITEMS}/{code}"
    parameters = ("bbox", "bbox-crs", "datetime", "crs", "sortby", "properties", "filter",
                  "filter-lang", "filter-crs", "limit", "offset", "after", "lang", "f",
                  "parcel_code", "skipGeometry")
    for bad in ("\x00", "\x01", "\x1b", "\x7f"):
        for path in (ITEMS, "/collections/admin-areas/items"):
            for name in parameters:
                for f in FORMATS:
                    params = {"limit": "1", "f": f, name: f"a{bad}"}
                    if name == "filter":
                        params[name] = f"parcel_code='a{bad}'"
                    response = _get(ogc_server, path, **params)
                    assert response.status_code == 400, (path, name, f, response.text)
                    assert _is_ogc_exception(response), (path, name, f, response.text)
                    assert response.headers["access-control-allow-origin"] == "*"
        for name in ("crs", "datetime", "f", "lang"):
            for f in FORMATS:
                response = _get(ogc_server, item, **{"f": f, name: f"a{bad}"})
                assert response.status_code == 400, (name, f, response.text)
                assert _is_ogc_exception(response), (name, f, response.text)
        for path in ("/", "/collections", "/collections/parcels", "/conformance", "/openapi",
                     "/collections/parcels/queryables", "/collections/parcels/tiles",
                     "/tileMatrixSets", "/collections/parcels/tiles/WebMercatorQuad/15/13520/27320"):
            response = _get(ogc_server, path, f=f"json{bad}", lang=f"en{bad}")
            assert response.status_code == 400, (path, response.text)
            assert _is_ogc_exception(response), (path, response.text)
        # In the path: the id of a feature, a collection, a tile matrix set, a tile.
        bad = quote(bad)
        for path in (f"{item}{bad}", f"{ITEMS}/{bad}", f"/collections/parcels{bad}/items",
                     f"/collections/parcels{bad}/items/{code}", f"/tileMatrixSets/Web{bad}",
                     f"/collections/parcels/tiles/WebMercatorQuad{bad}/15/13520/27320",
                     f"/collections/parcels/tiles/WebMercatorQuad/15/13520/2{bad}",
                     f"/collections/parcels{bad}", f"/collections/parcels/tiles/Web{bad}/metadata"):
            for f in FORMATS:
                response = _get(ogc_server, path, f=f)
                assert 400 <= response.status_code < 500, (path, f, response.status_code)
                assert _is_ogc_exception(response), (path, f, response.text)


def test_html_and_jsonld_of_an_item_honour_datetime_and_crs(ogc_server: Server) -> None:
    current, (retired, valid_at, before) = _parcels(ogc_server)
    cases = [(retired, {}, 404), (retired, {"datetime": valid_at}, 200),
             (retired, {"datetime": before}, 404), (current, {"datetime": "1999-01-01T00:00:00Z"}, 404),
             (current, {}, 200)]
    for code, params, status in cases:
        for f in FORMATS:
            response = _get(ogc_server, f"{ITEMS}/{code}", f=f, **params)
            assert response.status_code == status, (code, params, f, response.status_code)
    for f in FORMATS:
        response = _get(ogc_server, f"{ITEMS}/{current}", f=f, crs=EPSG + "4528")
        assert response.status_code == 200, (f, response.text)
        assert response.headers["content-crs"] == f"<{EPSG}4528>", f


def test_html_and_jsonld_of_items_honour_datetime_and_crs(ogc_server: Server) -> None:
    _, (retired, valid_at, _) = _parcels(ogc_server)
    for f in ("html", "jsonld"):
        now = _get(ogc_server, ITEMS, f=f, parcel_code=retired)
        then = _get(ogc_server, ITEMS, f=f, parcel_code=retired, datetime=valid_at)
        assert now.status_code == then.status_code == 200, f
        item = f"/items/{retired}"  # a feature's own link (the page's links name it too)
        assert item not in now.text and item in then.text, f
        response = _get(ogc_server, ITEMS, f=f, limit=1, crs=EPSG + "4528")
        assert response.headers["content-crs"] == f"<{EPSG}4528>", f


def test_refusals_vary_on_accept_on_every_path(ogc_server: Server) -> None:
    for path, params in (("/conformance", {"f": "xml"}), ("/collections/parcels/tiles/Nope/metadata", {}),
                         ("/collections/parcels/tiles/WebMercatorQuad/metadata", {"f": "xml"}),
                         ("/tileMatrixSets/Nope", {}), (ITEMS, {"limit": "x"}),
                         ("/collections/parcels/tiles/WebMercatorQuad/99/0/0", {})):
        response = _get(ogc_server, path, **params)
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert "accept" in response.headers.get("vary", "").lower(), (path, params)
        assert response.headers.get("access-control-allow-origin") == "*", (path, params)


def test_an_empty_crs_is_refused_as_any_other_invalid_crs(ogc_server: Server) -> None:
    current, _ = _parcels(ogc_server)
    for path in (ITEMS, f"{ITEMS}/{current}"):
        for f in FORMATS:
            for name in ("crs", "bbox-crs", "filter-crs"):
                if name != "crs" and path != ITEMS:
                    continue
                response = _get(ogc_server, path, f=f, **{name: ""})
                assert response.status_code == 400, (path, f, name, response.text)
                assert _is_ogc_exception(response)
                assert name in response.json()["description"]


def test_item_and_items_answers_carry_the_same_headers(ogc_server: Server) -> None:
    current, _ = _parcels(ogc_server)
    for path in (ITEMS, f"{ITEMS}/{current}"):
        for f in FORMATS:
            response = _get(ogc_server, path, f=f, limit=1) if path == ITEMS else \
                _get(ogc_server, path, f=f)
            assert response.status_code == 200, (path, f)
            assert response.headers.get("access-control-allow-origin") == "*", (path, f)
            assert "accept" in response.headers.get("vary", "").lower(), (path, f)
            link = response.headers.get("link", "")
            assert 'rel="alternate"' in link or 'rel="self"' in link, (path, f, link)
            assert "text/html" in link and "application/geo+json" in link, (path, f, link)
    for path in (f"{ITEMS}/nowhere", "/collections/nowhere/items", "/collections/nowhere/items/x"):
        for f in FORMATS:
            response = _get(ogc_server, path, f=f)
            assert response.status_code == 404, (path, f)
            assert response.headers.get("access-control-allow-origin") == "*", (path, f)
            assert "accept" in response.headers.get("vary", "").lower(), (path, f)
    # The item's Link header says what its body's links say.
    response = _get(ogc_server, f"{ITEMS}/{current}", crs=EPSG + "4528")
    for link in response.json()["links"]:
        assert f'<{link["href"]}>; rel="{link["rel"]}"' in response.headers["link"], link
    assert any(link["rel"] == "self" and "crs=" in link["href"] for link in response.json()["links"])


def test_an_id_matches_exactly(ogc_server: Server) -> None:
    current, _ = _parcels(ogc_server)
    for padded in (f"{current}%20%20", f"{current}%20", f"%20{current}", f"{current}%09"):
        for f in FORMATS:
            response = httpx.get(f"{ogc_server.ogc}{ITEMS}/{padded}", params={"f": f}, timeout=60)
            assert response.status_code == 404, (padded, f, response.status_code)
    response = _get(ogc_server, f"{ITEMS}/{current}")
    assert all(current + " " not in link["href"] and "%20" not in link["href"]
               for link in response.json()["links"])


def _openapi_paths(server: Server) -> dict[str, Any]:
    document: dict[str, Any] = _get(server, "/openapi", f="json").json()
    paths: dict[str, Any] = document["paths"]
    return paths


def _template_of(path: str, templates: dict[str, Any]) -> str | None:
    for template in templates:
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    return None


def _links(document: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(document, dict):
        if isinstance(document.get("href"), str) and "rel" in document:
            found.append(document)
        for value in document.values():
            found += _links(value)
    elif isinstance(document, list):
        for value in document:
            found += _links(value)
    return found


def test_every_link_of_the_served_documents_is_in_the_openapi_and_back(ogc_server: Server) -> None:
    current, _ = _parcels(ogc_server)
    templates = _openapi_paths(ogc_server)
    prefix = urlsplit(ogc_server.ogc).path
    todo = ["/", "/collections", "/tileMatrixSets", "/conformance"]
    seen: set[str] = set()
    reached: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        response = _get(ogc_server, path, f="json")
        assert response.status_code == 200, (path, response.status_code)
        if not response.headers["content-type"].endswith("json"):
            continue
        for link in _links(response.json()):
            href = link["href"]
            if not href.startswith(ogc_server.ogc):
                continue
            target = urlsplit(href).path[len(prefix):] or "/"
            template = _template_of(target, templates)
            assert template is not None, (path, link)
            reached.add(template)
            if "{" not in href and link.get("type", "application/json").endswith("json") \
                    and "/items" not in target:
                todo.append(target)
    # And back: every path the OpenAPI lists answers, and the documents lead to it (or to
    # the item itself, which a feature's own links give).
    filled = {"{featureId}": current, "{tileMatrixSetId}": "WebMercatorQuad", "{tileMatrix}": "15",
              "{tileRow}": "13520", "{tileCol}": "27320"}
    for template in templates:
        path = template.replace("{featureId}", current) if "admin" not in template else \
            template.replace("{featureId}", "330102")
        for key, value in filled.items():
            path = path.replace(key, value)
        response = _get(ogc_server, path)
        assert response.status_code in (200, 204, 404) and response.status_code < 500, (template,)
        if "{featureId}" not in template:
            assert response.status_code in (200, 204), (template, response.status_code)
            assert template in reached, template


def test_the_tile_matrix_sets_served_are_those_declared(ogc_server: Server) -> None:
    paths = _openapi_paths(ogc_server)
    parameter = next(p for p in paths["/tileMatrixSets/{tileMatrixSetId}"]["get"]["parameters"]
                     if p["name"] == "tileMatrixSetId")
    declared = set(parameter["schema"]["enum"])
    listed = _get(ogc_server, "/tileMatrixSets", f="json").json()["tileMatrixSets"]
    assert {tms["id"] for tms in listed} == declared
    titles = {tms["id"]: tms["title"] for tms in listed}
    assert titles["WorldCRS84Quad"] == "CRS84 for the World"
    assert titles["WebMercatorQuad"] == "Google Maps Compatible for the World"
    for tms in listed:
        assert [link["rel"] for link in tms["links"]].count("self") == 1, tms
        for link in tms["links"]:
            assert "/tileMatrixSets/" in link["href"], link
            answer = httpx.get(link["href"], timeout=60)
            assert answer.status_code == 200, link
            if link["rel"] == "self":
                assert answer.json()["title"] == titles[tms["id"]], link
    assert _get(ogc_server, "/tileMatrixSets/Nope").status_code == 404
    # One document has one self link (pygeoapi gave the tile sets' URI template as another).
    for path in ("/", "/collections/parcels/tiles", "/collections/parcels/tiles/WebMercatorQuad",
                 "/tileMatrixSets"):
        links = _get(ogc_server, path, f="json").json()["links"]
        assert [link["rel"] for link in links].count("self") <= 1, (path, links)
        assert not any("/TileMatrixSets" in link["href"] for link in links), (path, links)
    # The old spelling still leads there, query and all.
    for old, new in (("/TileMatrixSets?f=json", "/tileMatrixSets?f=json"),
                     ("/TileMatrixSets/WebMercatorQuad", "/tileMatrixSets/WebMercatorQuad")):
        response = httpx.get(ogc_server.ogc + old, timeout=60)
        assert response.status_code == 308, old
        assert response.headers["location"].endswith(new)
        assert httpx.get(ogc_server.ogc + old, timeout=60, follow_redirects=True).status_code == 200


def _features(response: httpx.Response, f: str) -> list[str]:
    """The parcel codes a page lists, in any of the three formats."""
    assert response.status_code == 200, (f, response.status_code, response.text[:300])
    if f == "html":  # the codes (ZDDM: 12 digits, 2 letters, 5 digits) the page shows
        return sorted(set(re.findall(r"\b\d{12}[A-Z]{2}\d{5}\b", response.text)))
    body = response.json()
    features = body.get("features", body.get("@graph", []))
    return [str(feature.get("id", feature.get("@id", ""))).rsplit("/", 1)[-1] for feature in features]


def test_every_format_answers_a_page_matching_nothing_with_an_empty_page(ogc_server: Server) -> None:
    """What selects no feature is an empty page in each format, never a refusal in one of
    them: a datetime before the collection's temporal extent (pygeoapi's HTML and JSON-LD
    refused it with 400 while GeoJSON answered an empty page), a bbox outside the spatial
    extent, an offset past the end, a cursor after the last id, a filter matching nothing."""
    with psycopg.connect(ogc_server.database_url) as conn:
        last = conn.execute("SELECT max(parcel_code) FROM parcels").fetchone()
    assert last is not None
    nothing = [
        {"datetime": "1900-01-01T00:00:00Z/1900-12-31T00:00:00Z"},
        {"datetime": "../1900-12-31T00:00:00Z"},
        {"datetime": "1900-06-01T00:00:00Z"},
        {"bbox": "-10,-10,-9,-9"},
        {"bbox": "-10,-10,-9,-9", "datetime": "1900-06-01T00:00:00Z"},
        {"offset": "100000000"},
        {"after": str(last[0]).strip() + "Z"},
        {"filter": "parcel_code = 'no such parcel'"},
        {"filter": "parcel_code = 'no such parcel'", "datetime": "1900-01-01T00:00:00Z/1900-12-31T00:00:00Z"},
    ]
    control = {f: _features(_get(ogc_server, ITEMS, f=f, limit=3), f) for f in FORMATS}
    assert all(control.values()), control  # each format shows features when some match
    disagreeing = []
    for params in nothing:
        for f in FORMATS:
            response = _get(ogc_server, ITEMS, f=f, limit=3, **params)
            if response.status_code != 200 or _features(response, f):
                disagreeing.append((params, f, response.status_code, response.text[-200:]))
            elif f == "json":
                assert response.json()["numberReturned"] == 0, params
    assert not disagreeing, disagreeing
