"""Hostile or odd input to /ogc gets a 4xx (or a right answer), never a 500 or a dropped
connection (issue 15 section 9, issue 18 section 1)."""

from __future__ import annotations

import httpx
from ogc_server import Server

GK40 = "http://www.opengis.net/def/crs/EPSG/0/4528"


def _get(server: Server, path: str, headers: dict[str, str] | None = None,
         **params: object) -> httpx.Response:
    return httpx.get(server.ogc + path, params=params, headers=headers, timeout=60)


def test_any_language_is_answered(ogc_server: Server) -> None:
    for params, headers in (({"lang": "zh"}, None), ({"lang": "fr"}, None),
                            ({"lang": "zh-CN"}, None), ({"lang": "xx-!!"}, None),
                            ({}, {"Accept-Language": "fr"}),
                            ({}, {"Accept-Language": "zh-CN,zh;q=0.9"}),
                            ({}, {"Accept-Language": "en-GB"}),
                            ({}, {"Accept-Language": "*;q=0.1, ;;;"})):
        for path in ("/", "/conformance", "/collections", "/collections/parcels",
                     "/collections/parcels/queryables"):
            response = _get(ogc_server, path, headers=headers, f="json", **params)
            assert response.status_code == 200, (path, params, headers, response.text)


def test_a_deeply_nested_filter_is_refused_not_crashed(ogc_server: Server) -> None:
    text = " AND ".join(["area > 1"] * 500)
    response = _get(ogc_server, "/collections/parcels/items", filter=text,
                    **{"filter-lang": "cql2-text"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "InvalidParameterValue"
    assert "filter" in response.json()["description"]
    nested = "area > 1"
    for level in range(60):
        nested = f"area > {level} {'AND' if level % 2 else 'OR'} ({nested})"
    response = _get(ogc_server, "/collections/parcels/items", filter=nested)
    assert response.status_code == 400, response.text
    assert "nested" in response.json()["description"]
    # Redundant parentheses are no nesting at all.
    response = _get(ogc_server, "/collections/parcels/items",
                    filter="(" * 300 + "area > 1" + ")" * 300, limit=1)
    assert response.status_code == 200, response.text
    # A modest filter still works.
    response = _get(ogc_server, "/collections/parcels/items",
                    filter=" AND ".join(["area > 1"] * 20), limit=1)
    assert response.status_code == 200, response.text


def test_a_bbox_outside_its_crs_is_refused(ogc_server: Server) -> None:
    response = _get(ogc_server, "/collections/parcels/items", bbox="1e15,1e15,2e15,2e15",
                    **{"bbox-crs": GK40})
    assert response.status_code == 400, response.text
    assert "bbox" in response.json()["description"]
    assert "4528" in response.json()["description"]
    response = _get(ogc_server, "/collections/parcels/items", bbox="-200,-100,200,100")
    assert response.status_code == 400, response.text
    # The same through pygeoapi's HTML page.
    response = _get(ogc_server, "/collections/parcels/items", bbox="1e15,1e15,2e15,2e15",
                    f="html", **{"bbox-crs": GK40})
    assert 400 <= response.status_code < 500, response.text


def test_a_filter_geometry_outside_its_crs_is_refused(ogc_server: Server) -> None:
    for text in ("S_INTERSECTS(geometry, POINT(1e15 1e15))",
                 "S_INTERSECTS(geometry, BBOX(1e15, 1e15, 2e15, 2e15))"):
        response = _get(ogc_server, "/collections/parcels/items", filter=text,
                        **{"filter-crs": GK40})
        assert response.status_code == 400, (text, response.text)
        assert "filter" in response.json()["description"]
    response = _get(ogc_server, "/collections/parcels/items",
                    filter="S_INTERSECTS(geometry, POINT(500 100))")
    assert response.status_code == 400, response.text


def test_tileset_metadata_defaults_to_json(ogc_server: Server) -> None:
    # The tile set's own metadata (OGC API Tiles), and its TileJSON.
    for path, key, value in (("/collections/parcels/tiles/WebMercatorQuad", "tileMatrixSetURI",
                              "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"),
                             ("/collections/parcels/tiles/WebMercatorQuad/metadata", "tilejson",
                              "3.0.0")):
        for headers in (None, {"Accept": "*/*"}, {"Accept": "image/png"}):
            response = _get(ogc_server, path, headers=headers)
            assert response.status_code == 200, (path, headers, response.text)
            assert response.headers["content-type"].startswith("application/json")
            assert response.json()[key] == value


def test_an_absurd_offset_is_refused_on_every_format(ogc_server: Server) -> None:
    for f in ("json", "html", "jsonld"):
        response = _get(ogc_server, "/collections/parcels/items", f=f, offset="1e20")
        assert response.status_code == 400, (f, response.text[:300])
