"""Fuzzing /ogc: whatever the query string and the Accept headers, the answer is never a 5xx
(issue 15 section 9). Hypothesis draws parameters of every OGC route from the values clients
send, the values that broke us before, and noise."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ogc_server import Server

pytestmark = pytest.mark.slow

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
PATHS = [
    "/", "/conformance", "/openapi", "/collections", "/collections/parcels",
    "/collections/admin-areas", "/collections/nowhere", "/collections/parcels/items",
    "/collections/admin-areas/items", "/collections/parcels/items/330102001001GB00001",
    "/collections/parcels/items/nowhere", "/collections/parcels/queryables",
    "/collections/parcels/schema", "/collections/parcels/tiles",
    "/collections/parcels/tiles/WebMercatorQuad",
    "/collections/parcels/tiles/WebMercatorQuad/metadata",
    "/collections/parcels/tiles/NoSuchMatrix", "/collections/parcels/tiles/WebMercatorQuad/16/26900/54240",
    "/collections/parcels/tiles/WebMercatorQuad/99/0/0", "/TileMatrixSets", "/tileMatrixSets",
    "/TileMatrixSets/WebMercatorQuad", "/TileMatrixSets/Nope",
    "/tileMatrixSets/WebMercatorQuad", "/tileMatrixSets/WorldCRS84Quad", "/tileMatrixSets/Nope",
]
NAMES = ["f", "limit", "offset", "after", "bbox", "bbox-crs", "crs", "datetime", "filter",
         "filter-lang", "filter-crs", "properties", "skipGeometry", "sortby", "lang", "q",
         "area", "parcel_code", "land_use_code", "resulttype", "tileMatrix", "foo"]
noise = st.text(st.characters(min_codepoint=0, max_codepoint=0x2FFF), max_size=40)
numbers = st.one_of(st.integers(-10**25, 10**25).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["1e20", "-0", "0x10", "NaN", "inf", "1_000", " 5"]))
crs = st.sampled_from([f"{EPSG}4490", f"{EPSG}4528", f"{EPSG}3857", f"{EPSG}4326", "EPSG:4490",
                       "http://www.opengis.net/def/crs/OGC/1.3/CRS84", f"{EPSG}99999", "x"])
bbox = st.one_of(st.lists(numbers, min_size=0, max_size=7).map(",".join),
                 st.sampled_from(["120,30,121,31", "1e15,1e15,2e15,2e15",
                                  "3300000,40400000,3400000,40500000", "-200,-100,200,100"]))
cql = st.one_of(st.sampled_from([
    "area > 1000", "parcel_code LIKE '3301%'", "S_INTERSECTS(geometry, POINT(120.1 30.2))",
    "S_INTERSECTS(geometry, BBOX(1e15, 1e15, 2e15, 2e15))", "area IN (1, 'a', DATE('2020-01-01'))",
    "land_use_code = 0701", "area + 1 > 2", "T_AFTER(valid_from, TIMESTAMP('2020-01-01T00:00:00Z'))",
    "CASEI(parcel_code) = 'a'", "area BETWEEN 'a' AND 3", "geometry IS NULL", "nowhere = 1",
    " AND ".join(["area > 1"] * 300), "S_WITHIN(geometry, POLYGON((1e308 0, 1 1, 0 1, 1e308 0)))",
    "S_INTERSECTS(geometry, POINT(nan nan))", "area > 1e400", "valid_from > DATE('2020-13-45')",
]), noise)
dates = st.one_of(st.sampled_from(["2020-01-01", "2020-01-01T00:00:00Z", "../..", "2020/2019",
                                   "9999-12-31T23:59:59Z", "0001-01-01", "2020-01-01/..",
                                   "2020-02-30", "-1"]), noise)
values = {
    "f": st.sampled_from(["json", "html", "jsonld", "geojson", "mvt", "tilejson", "xml", "",
                          "application/json", "text/html"]),
    "limit": numbers, "offset": numbers, "bbox": bbox, "bbox-crs": crs, "crs": crs,
    "filter-crs": crs, "datetime": dates, "filter": cql,
    "filter-lang": st.sampled_from(["cql2-text", "cql2-json", "ecql", ""]),
    "lang": st.one_of(st.sampled_from(["zh", "fr", "zh-CN", "en-US", "xx-!!", "*", ""]), noise),
}
params = st.dictionaries(st.sampled_from(NAMES),
                         st.deferred(lambda: st.one_of(noise, numbers)), max_size=4).flatmap(
    lambda base: st.fixed_dictionaries({}, optional=values).map(lambda v: {**base, **v}))
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)
accept = st.one_of(st.sampled_from(["*/*", "text/html", "application/json", "application/geo+json",
                                    "application/ld+json", "text/html;q=0.1, */*;q=1", "image/png",
                                    "application/vnd.mapbox-vector-tile", ""]), header_text)
accept_language = st.one_of(st.sampled_from(["fr", "zh", "zh-CN,zh;q=0.9", "en-GB", "*",
                                             "de-CH;q=0.x", ""]), header_text)


segment = st.text(st.characters(min_codepoint=1, max_codepoint=0x2FFF), min_size=1,
                  max_size=30).map(lambda t: quote(t, safe=""))
paths = st.one_of(
    st.sampled_from(PATHS),
    segment.map(lambda s: f"/collections/parcels/items/{s}"),
    segment.map(lambda s: f"/collections/{s}/items"),
    segment.map(lambda s: f"/collections/parcels/tiles/{s}"),
    st.tuples(numbers, numbers, numbers).map(
        lambda t: "/collections/parcels/tiles/WebMercatorQuad/{}/{}/{}".format(
            *(quote(v, safe="") for v in t))),
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=paths, query=params, accept=accept, language=accept_language,
       method=st.sampled_from(["GET"] * 6 + ["HEAD", "OPTIONS", "POST", "DELETE"]),
       origin=st.sampled_from(["", "https://maps.example.org", "null"]))
def test_no_query_or_header_makes_a_server_error(ogc_server: Server, path: str,
                                                 query: dict[str, str], accept: str,
                                                 language: str, method: str, origin: str) -> None:
    headers = {"Accept": accept, "Accept-Language": language}
    if origin:
        headers |= {"Origin": origin, "Access-Control-Request-Method": "GET"}
    try:
        response = httpx.request(method, ogc_server.ogc + path, params=query, headers=headers,
                                 timeout=60, content=b'{"type": "Feature"}' if method == "POST" else None)
    except httpx.RemoteProtocolError as error:  # a dropped connection is as bad as a 500
        pytest.fail(f"connection dropped: {path} {query} {headers}: {error}")
    assert response.status_code < 500, (path, query, headers, response.text[:500])
