# ruff: noqa: S608  # the SQL here is the test's own constant text, compared with the API
"""/conformance declares exactly what is implemented (issue 18 section 1): each declared class
has a check here that exercises it against PostGIS, and nothing else is declared."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import mapbox_vector_tile
import psycopg
import pytest
from ogc_server import Server

ITEMS = "/collections/parcels/items"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


def _get(server: Server, path: str, **params: object) -> httpx.Response:
    return httpx.get(server.ogc + path, params=params, timeout=60)


def _db(server: Server, query: str) -> set[str]:
    with psycopg.connect(server.database_url) as conn:
        return {r[0] for r in conn.execute(query).fetchall()}


def _codes(server: Server, cql: str) -> set[str]:
    response = _get(server, ITEMS, filter=cql, limit=10_000, **{"filter-lang": "cql2-text"})
    assert response.status_code == 200, (cql, response.text)
    return {f["id"] for f in response.json()["features"]}


def _matches(server: Server, cql: str, where: str) -> None:
    expected = _db(server, "SELECT p.parcel_code FROM parcels p JOIN land_uses lu ON "
                   "lu.code = p.land_use_code WHERE p.end_lifespan IS NULL AND " + where)
    assert expected, where
    assert _codes(server, cql) == expected, cql


def _json(server: Server, path: str, media: str = "json") -> dict:
    response = _get(server, path, f="json")
    assert response.status_code == 200, response.text
    assert media in response.headers["content-type"]
    return response.json()


def _html(server: Server, path: str) -> None:
    response = _get(server, path, f="html")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")


def _centre(server: Server) -> tuple[float, float]:
    with psycopg.connect(server.database_url) as conn:
        row = conn.execute("SELECT ST_X(ST_Centroid(ST_Extent(geom))), "
                           "ST_Y(ST_Centroid(ST_Extent(geom))) FROM parcels "
                           "WHERE end_lifespan IS NULL").fetchone()
    assert row is not None
    return row[0], row[1]


def common_core(s: Server) -> None:
    links = {link["rel"] for link in _json(s, "/")["links"]}
    assert {"service-desc", "conformance", "data"} <= links


def landing_page(s: Server) -> None:
    for link in _json(s, "/")["links"]:
        assert httpx.get(link["href"], timeout=60).status_code == 200, link


def oas30(s: Server) -> None:
    assert _get(s, "/openapi", f="json").json()["openapi"].startswith("3.0")


def html(s: Server) -> None:
    for path in ("/", "/collections", "/collections/parcels", ITEMS, "/conformance"):
        _html(s, path)


def collections(s: Server) -> None:
    ids = {c["id"] for c in _json(s, "/collections")["collections"]}
    assert ids == {"parcels", "admin-areas"}


def features_core(s: Server) -> None:
    page = _json(s, ITEMS, "geo+json")
    assert page["type"] == "FeatureCollection" and page["features"]
    one = page["features"][0]["id"]
    assert _get(s, f"{ITEMS}/{one}").json()["id"] == one


def geojson(s: Server) -> None:
    assert _get(s, ITEMS, limit=1).headers["content-type"].startswith("application/geo+json")


def crs(s: Server) -> None:
    listed = _json(s, "/collections/parcels")["crs"]
    assert EPSG + "4528" in listed
    response = _get(s, ITEMS, limit=1, crs=EPSG + "4528")
    assert response.headers["content-crs"] == f"<{EPSG}4528>"


def filter_(s: Server) -> None:
    _matches(s, "area > 1000", "p.calculated_area > 1000")


def features_filter(s: Server) -> None:
    _matches(s, "land_use_code = '0701' AND area < 1500",
             "p.land_use_code = '0701' AND p.calculated_area < 1500")


def queryables(s: Server) -> None:
    document = _json(s, "/collections/parcels/queryables", "schema+json")
    assert {"parcel_code", "area", "land_use_code"} <= set(document["properties"])


def queryables_query_parameters(s: Server) -> None:
    response = _get(s, ITEMS, land_use_code="0701", limit=10_000)
    expected = _db(s, "SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL "
                   "AND land_use_code = '0701'")
    assert {f["id"] for f in response.json()["features"]} == expected


def cql2_text(s: Server) -> None:
    assert _get(s, ITEMS, filter="area >", **{"filter-lang": "cql2-text"}).status_code == 400
    assert _get(s, ITEMS, filter="area > 1", **{"filter-lang": "cql2-json"}).status_code == 400


def basic_cql2(s: Server) -> None:
    _matches(s, "NOT (area >= 1000) OR land_use_code <> '0701'",
             "(NOT (p.calculated_area >= 1000) OR p.land_use_code <> '0701')")
    _matches(s, "valid_to IS NULL AND valid_from <= DATE('2010-01-01')",
             "p.valid_to IS NULL AND p.valid_from <= DATE '2010-01-01'")


def advanced_comparison_operators(s: Server) -> None:
    _matches(s, "land_use_name LIKE '城镇%'", "lu.name_zh LIKE '城镇%'")
    _matches(s, "area BETWEEN 500 AND 1500", "p.calculated_area BETWEEN 500 AND 1500")
    _matches(s, "land_use_code IN ('0701', '0702')", "p.land_use_code IN ('0701', '0702')")


def basic_spatial_functions(s: Server) -> None:
    lon, lat = _centre(s)
    box = (lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001)
    where = "ST_Intersects(p.geom, ST_MakeEnvelope({}, {}, {}, {}, 4490))".format(*box)
    _matches(s, "S_INTERSECTS(geometry, BBOX({}, {}, {}, {}))".format(*box), where)
    _matches(s, f"S_INTERSECTS(geometry, POINT({lon} {lat}))",
             f"ST_Intersects(p.geom, ST_SetSRID(ST_Point({lon}, {lat}), 4490))")


def basic_spatial_functions_plus(s: Server) -> None:
    lon, lat = _centre(s)
    line = f"LINESTRING({lon - 0.002} {lat}, {lon + 0.002} {lat})"
    _matches(s, f"S_INTERSECTS(geometry, {line})",
             f"ST_Intersects(p.geom, ST_GeomFromText('{line}', 4490))")


def spatial_functions(s: Server) -> None:
    lon, lat = _centre(s)
    d = 0.002
    polygon = (f"POLYGON(({lon - d} {lat - d}, {lon + d} {lat - d}, {lon + d} {lat + d}, "
               f"{lon - d} {lat + d}, {lon - d} {lat - d}))")
    for name in ("S_WITHIN", "S_OVERLAPS", "S_TOUCHES"):
        sql_name = "ST_" + name[2:].capitalize()
        where = f"{sql_name}(p.geom, ST_GeomFromText('{polygon}', 4490))"
        if _db(s, "SELECT parcel_code FROM parcels p WHERE end_lifespan IS NULL AND " + where):
            _matches(s, f"{name}(geometry, {polygon})", where)
    assert _codes(s, f"S_DISJOINT(geometry, {polygon})") == _db(
        s, "SELECT parcel_code FROM parcels p WHERE end_lifespan IS NULL AND "
        f"ST_Disjoint(p.geom, ST_GeomFromText('{polygon}', 4490))")


def property_property(s: Server) -> None:
    _matches(s, "land_use_code < admin_area_code", "p.land_use_code < p.admin_area_code")
    assert _codes(s, "land_use_code > admin_area_code") == _db(
        s, "SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL "
        "AND land_use_code > admin_area_code")


def tiles_core(s: Server) -> None:
    lon, lat = _centre(s)
    import math

    z = 15
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    response = _get(s, f"/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}", f="mvt")
    assert response.status_code == 200
    assert mapbox_vector_tile.decode(response.content)["parcels"]["features"]


def tileset(s: Server) -> None:
    document = _json(s, "/collections/parcels/tiles/WebMercatorQuad")
    assert document["tileMatrixSetURI"].endswith("WebMercatorQuad")
    assert any(link["rel"] == "item" for link in document["links"])


def tilesets_list(s: Server) -> None:
    assert _json(s, "/collections/parcels/tiles")["tilesets"]


def geodata_tilesets(s: Server) -> None:
    rels = {link["rel"] for link in _json(s, "/collections/parcels")["links"]}
    assert "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector" in rels


def mvt(s: Server) -> None:
    tiles_core(s)


C1 = "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/"
F = "http://www.opengis.net/spec/ogcapi-features-{}/1.0/conf/"
Q = "http://www.opengis.net/spec/cql2/1.0/conf/"
T = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
CHECKS: dict[str, Callable[[Server], None]] = {
    C1 + "core": common_core, C1 + "landing-page": landing_page, C1 + "json": common_core,
    C1 + "html": html, C1 + "oas30": oas30,
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections": collections,
    F.format(1) + "core": features_core, F.format(1) + "geojson": geojson,
    F.format(1) + "html": html, F.format(1) + "oas30": oas30, F.format(2) + "crs": crs,
    F.format(3) + "filter": filter_, F.format(3) + "features-filter": features_filter,
    F.format(3) + "queryables": queryables,
    F.format(3) + "queryables-query-parameters": queryables_query_parameters,
    Q + "cql2-text": cql2_text, Q + "basic-cql2": basic_cql2,
    Q + "advanced-comparison-operators": advanced_comparison_operators,
    Q + "basic-spatial-functions": basic_spatial_functions,
    Q + "basic-spatial-functions-plus": basic_spatial_functions_plus,
    Q + "spatial-functions": spatial_functions, Q + "property-property": property_property,
    T + "core": tiles_core, T + "tileset": tileset, T + "tilesets-list": tilesets_list,
    T + "geodata-tilesets": geodata_tilesets, T + "mvt": mvt,
}


def test_conformance_declares_exactly_the_checked_classes(ogc_server: Server) -> None:
    declared = _json(ogc_server, "/conformance")["conformsTo"]
    assert len(declared) == len(set(declared))
    assert set(declared) == set(CHECKS)
    _html(ogc_server, "/conformance")


@pytest.mark.parametrize("uri", sorted(CHECKS))
def test_each_declared_class_holds(ogc_server: Server, uri: str) -> None:
    CHECKS[uri](ogc_server)
