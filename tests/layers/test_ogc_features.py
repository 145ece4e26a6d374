"""OGC API Features Parts 1-3 on the demo district: answers checked against PostGIS itself."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from ogc_server import Server

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


def _get(server: Server, path: str, **params: object) -> httpx.Response:
    return httpx.get(server.ogc + path, params=params, timeout=30)


def _items(server: Server, **params: object) -> dict:
    response = _get(server, "/collections/parcels/items", **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    return response.json()


def _all_codes(server: Server, **params: object) -> list[str]:
    """Every feature id, following `next` links as a client does."""
    codes: list[str] = []
    page = _items(server, limit=97, **params)
    while True:
        codes += [f["id"] for f in page["features"]]
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            return codes
        response = httpx.get(nxt[0], timeout=30)
        assert response.status_code == 200
        page = response.json()


def _db(server: Server, query: str, *args: object) -> list[tuple]:
    with psycopg.connect(server.database_url) as conn:
        return conn.execute(query, args or None).fetchall()


def test_paging_returns_every_current_parcel_once(ogc_server: Server) -> None:
    codes = _all_codes(ogc_server)
    expected = [r[0] for r in _db(ogc_server, "SELECT parcel_code FROM parcels "
                                  "WHERE end_lifespan IS NULL ORDER BY parcel_code")]
    assert codes == expected
    assert len(codes) > 300


def test_geojson_is_longitude_latitude(ogc_server: Server) -> None:
    feature = _items(ogc_server, limit=1)["features"][0]
    (x, y), = _db(ogc_server, "SELECT ST_X(ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1)),"
                  " ST_Y(ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1)) FROM parcels "
                  "WHERE parcel_code = %s AND end_lifespan IS NULL", feature["id"])
    first = feature["geometry"]["coordinates"][0][0][0]
    assert 119 < first[0] < 122 and 29 < first[1] < 32  # longitude first
    assert first == pytest.approx([x, y], abs=1e-8)
    assert set(feature["properties"]) == {
        "parcel_code", "area", "land_use_code", "land_use_name", "admin_area_code",
        "admin_area_name", "valid_from", "valid_to"}


def test_crs_4490_is_latitude_longitude_with_content_crs(ogc_server: Server) -> None:
    default = _items(ogc_server, limit=1)["features"][0]["geometry"]["coordinates"]
    response = _get(ogc_server, "/collections/parcels/items", limit=1, crs=EPSG + "4490")
    assert response.headers["content-crs"] == f"<{EPSG}4490>"
    swapped = response.json()["features"][0]["geometry"]["coordinates"]
    assert [[[p[::-1] for p in ring] for ring in poly] for poly in swapped] == default
    assert _get(ogc_server, "/collections/parcels/items", limit=1).headers["content-crs"] == \
        f"<{CRS84}>"


def test_crs_gauss_kruger_is_northing_easting_as_surveyed(ogc_server: Server) -> None:
    feature = _items(ogc_server, limit=1, crs=EPSG + "4528")["features"][0]
    (east, north), = _db(ogc_server, "SELECT ST_XMin(survey_geom), ST_YMin(survey_geom) FROM "
                         "parcels WHERE parcel_code = %s AND end_lifespan IS NULL", feature["id"])
    points = feature["geometry"]["coordinates"][0][0]
    assert min(p[0] for p in points) == pytest.approx(north, abs=0.01)
    assert min(p[1] for p in points) == pytest.approx(east, abs=0.01)
    assert 40_000_000 < east < 41_000_000  # zone 40 prefix: the easting is the second axis


def test_crs_web_mercator_and_unknown_crs(ogc_server: Server) -> None:
    feature = _items(ogc_server, limit=1, crs=EPSG + "3857")["features"][0]
    (x, y), = _db(ogc_server, "SELECT ST_XMin(ST_Transform(geom, 3857)), ST_YMin(ST_Transform("
                  "geom, 3857)) FROM parcels WHERE parcel_code = %s AND end_lifespan IS NULL",
                  feature["id"])
    points = feature["geometry"]["coordinates"][0][0]
    assert min(p[0] for p in points) == pytest.approx(x, abs=0.01)
    assert min(p[1] for p in points) == pytest.approx(y, abs=0.01)
    response = _get(ogc_server, "/collections/parcels/items", crs=EPSG + "4326")
    assert response.status_code == 400 and "crs" in response.json()["description"]


def test_bbox_in_crs84_and_in_4490_axis_order(ogc_server: Server) -> None:
    box = (120.157, 30.229, 120.160, 30.231)
    expected = sorted(r[0] for r in _db(
        ogc_server, "SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL AND "
        "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4490))", *box))
    assert 3 < len(expected) < 300
    assert _all_codes(ogc_server, bbox=",".join(map(str, box))) == expected
    lat_lon = f"{box[1]},{box[0]},{box[3]},{box[2]}"
    assert _all_codes(ogc_server, bbox=lat_lon, **{"bbox-crs": EPSG + "4490"}) == expected
    bad = _get(ogc_server, "/collections/parcels/items", bbox="1,2,3")
    assert bad.status_code == 400 and "bbox" in bad.json()["description"]


def test_datetime_returns_the_parcels_as_they_were(ogc_server: Server) -> None:
    # A parcel retired (split or merged away) exists in the past and not today.
    retired, end = _db(ogc_server, """
        SELECT parcel_code, end_lifespan FROM parcels p WHERE end_lifespan IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM parcels q WHERE q.parcel_id = p.parcel_id
                           AND q.end_lifespan IS NULL) LIMIT 1""")[0]
    earlier = (end - __import__("datetime").timedelta(seconds=1)).isoformat()
    assert [f["id"] for f in _items(ogc_server, filter=f"parcel_code = '{retired}'",
                                    datetime=earlier)["features"]] == [retired]
    assert _items(ogc_server, filter=f"parcel_code = '{retired}'")["features"] == []
    snapshot = sorted(r[0] for r in _db(
        ogc_server, "SELECT parcel_code FROM parcels WHERE begin_lifespan <= %s AND "
        "(end_lifespan IS NULL OR end_lifespan > %s)", earlier, earlier))
    assert _all_codes(ogc_server, datetime=earlier) == snapshot


@pytest.mark.parametrize("cql, sql", [
    ("land_use_code = '0501' AND area > 1000",
     "land_use_code = '0501' AND calculated_area > 1000"),
    ("land_use_code IN ('0601', '0810') OR area < 700",
     "land_use_code IN ('0601', '0810') OR calculated_area < 700"),
    ("parcel_code LIKE '330102001001G_000%' AND NOT (area BETWEEN 1000 AND 1600)",
     "parcel_code LIKE '330102001001G_000%' AND NOT (calculated_area BETWEEN 1000 AND 1600)"),
    ("valid_to IS NULL AND valid_from >= DATE('2015-01-01')",
     "valid_to IS NULL AND valid_from >= DATE '2015-01-01'"),
    ("S_INTERSECTS(geometry, POLYGON((120.157 30.229, 120.16 30.229, 120.16 30.231, "
     "120.157 30.229)))",
     "ST_Intersects(geom, ST_GeomFromText('POLYGON((120.157 30.229, 120.16 30.229, "
     "120.16 30.231, 120.157 30.229))', 4490))"),
])
def test_cql2_filters_match_sql(ogc_server: Server, cql: str, sql: str) -> None:
    expected = sorted(r[0] for r in _db(
        ogc_server, f"SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL AND ({sql})"))  # noqa: S608, E501
    assert expected, "each filter selects something in the demo district"
    assert _all_codes(ogc_server, filter=cql) == expected


def test_bad_filters_are_refused_with_a_reason(ogc_server: Server) -> None:
    for cql, word in [("owner_name = 'x'", "owner_name"), ("area >", "CQL2"),
                      ("S_INTERSECTS(area, POINT(1 2))", "geometry")]:
        response = _get(ogc_server, "/collections/parcels/items", filter=cql)
        assert response.status_code == 400
        assert word in response.json()["description"]
    response = _get(ogc_server, "/collections/parcels/items", owner="x")
    assert response.status_code == 400 and "owner" in response.json()["description"]


def test_one_item_and_missing_item(ogc_server: Server) -> None:
    code = _items(ogc_server, limit=1)["features"][0]["id"]
    feature = _get(ogc_server, f"/collections/parcels/items/{code}").json()
    assert feature["id"] == code and feature["type"] == "Feature"
    missing = _get(ogc_server, "/collections/parcels/items/330102999999GB99999")
    assert missing.status_code == 404
    assert _get(ogc_server, "/collections/owners/items").status_code == 404


def test_admin_areas_and_documents(ogc_server: Server) -> None:
    areas = httpx.get(ogc_server.ogc + "/collections/admin-areas/items", timeout=30).json()
    assert [(f["id"], f["properties"]["admin_area_name"]) for f in areas["features"]] == \
        [("330102", "上城区")]
    collection = _get(ogc_server, "/collections/parcels", f="json").json()
    assert f"{EPSG}4490" in collection["crs"] and f"{EPSG}4528" in collection["crs"]
    assert f"{EPSG}4554" in collection["crs"] and CRS84 in collection["crs"]
    queryables = _get(ogc_server, "/collections/parcels/queryables", f="json").json()
    assert set(queryables["properties"]) == {
        "geometry", "parcel_code", "area", "land_use_code", "land_use_name",
        "admin_area_code", "admin_area_name", "valid_from", "valid_to"}
    conformance = _get(ogc_server, "/conformance", f="json").json()["conformsTo"]
    assert any("ogcapi-features-2" in c for c in conformance)
    assert any("ogcapi-features-3" in c for c in conformance)
    html = _get(ogc_server, "/collections/parcels/items", f="html", limit=3)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert _get(ogc_server, "/openapi", f="json").json()["openapi"].startswith("3.")
