"""One answer under /ogc whatever is asked for (review of issue 18): a CQL2 filter selects
the same features, or is refused the same way, in GeoJSON, HTML and JSON-LD; every path
under /ogc that nothing serves answers in OGC's exception format with CORS; and only /ogc
itself and what lies under /ogc/ are treated as the OGC API (not /ogcx, /ogc-help)."""

from __future__ import annotations

import re

import httpx
import psycopg
from ogc_server import EPSG, FORMATS, ITEMS, ORIGIN, Server
from ogc_server import ogc_get as _get


def _codes(response: httpx.Response, f: str) -> list[str]:
    """The parcel codes a page lists, sorted, in any of the three formats."""
    if f == "html":  # the codes (ZDDM: 12 digits, 2 letters, 5 digits) the page shows
        shown = re.sub(r"after=\w+", "", response.text)  # not a cursor its links carry
        return sorted(set(re.findall(r"\b\d{12}[A-Z]{2}\d{5}\b", shown)))
    body = response.json()
    features = body.get("features", body.get("@graph", []))
    return sorted(str(feature.get("id", feature.get("@id", ""))).rsplit("/", 1)[-1]
                  for feature in features)


def _is_ogc_exception(response: httpx.Response) -> bool:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return False
    body = response.json()
    return isinstance(body, dict) and {"code", "description"} <= set(body)


def _a_parcel(server: Server) -> tuple[str, float, float]:
    """A current parcel's code and a point inside it (longitude, latitude)."""
    with psycopg.connect(server.database_url) as conn:
        row = conn.execute(
            "SELECT parcel_code, ST_X(p), ST_Y(p) FROM (SELECT parcel_code, "
            "ST_PointOnSurface(geom) AS p FROM parcels WHERE end_lifespan IS NULL "
            "ORDER BY parcel_code LIMIT 1) s").fetchone()
    assert row is not None
    return str(row[0]).strip(), float(row[1]), float(row[2])


def test_every_filter_answers_the_same_in_every_format(ogc_server: Server) -> None:
    code, x, y = _a_parcel(ogc_server)
    matching: list[dict[str, str]] = [
        {"filter": f"parcel_code='{code}'"},
        {"filter": f"parcel_code='{code}'", "filter-lang": "cql2-text"},
        {"filter": f"S_INTERSECTS(geometry,POINT({x} {y}))"},
        {"filter": f"S_INTERSECTS(geometry,POINT({y} {x}))", "filter-crs": EPSG + "4490"},
        {"filter": f"S_INTERSECTS(geometry,POINT({x} {y}))",
         "filter-crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        {"filter": f"S_INTERSECTS(geometry,BBOX({x - 0.001},{y - 0.001},{x + 0.001},{y + 0.001}))"},
        {"filter": f"parcel_code IN ('{code}', 'nope') AND area > 0"},
        {"filter": f"parcel_code LIKE '{code[:12]}%'"},
        {"filter": f"NOT (parcel_code <> '{code}')"},
        {"filter": "area > 0"},
    ]
    nothing: list[dict[str, str]] = [
        {"filter": "S_INTERSECTS(geometry,POINT(0 0))"},
        {"filter": "parcel_code='nope'", "filter-lang": "cql2-text"},
        {"filter": "parcel_code='nope'", "filter-crs": EPSG + "4490"},
        {"filter": "area < 0"},
        {"filter": "S_INTERSECTS(geometry,POINT(0 0))", "filter-crs": EPSG + "3857"},
        {"filter-lang": "cql2-text", "filter": "parcel_code IS NULL"},
    ]
    invalid: list[dict[str, str]] = [
        {"filter": "parcel_code ="},
        {"filter": "INTERSECTS(geometry, POINT(0 0))"},  # ECQL, not CQL2
        {"filter": "S_INTERSECTS(geometry,POINT(0))"},
        {"filter": "nosuchproperty = 1"},
        {"filter": "owner_name = 'x'"},  # not published
        {"filter": "parcel_code='nope'", "filter-lang": "cql-text"},
        {"filter": "parcel_code='nope'", "filter-lang": "cql2-json"},
        {"filter": "parcel_code='nope'", "filter-lang": "ecql"},
        {"filter": "parcel_code='nope'", "filter-crs": "EPSG:4490"},
        {"filter": "parcel_code='nope'", "filter-crs": EPSG + "2000"},
        {"filter": "S_INTERSECTS(geometry,POINT(500 500))"},
    ]
    disagreeing = []
    for params in [*matching, *nothing, *invalid]:
        answers = {f: _get(ogc_server, ITEMS, f=f, limit=5, **params) for f in FORMATS}
        statuses = {f: r.status_code for f, r in answers.items()}
        expected = 400 if params in invalid else 200
        if set(statuses.values()) != {expected}:
            disagreeing.append((params, statuses, {f: r.text[:160] for f, r in answers.items()
                                                   if r.status_code != expected}))
            continue
        if expected == 400:
            assert all(_is_ogc_exception(r) for r in answers.values()), params
            assert all(r.headers.get("access-control-allow-origin") == "*" for r in answers.values())
            continue
        codes = {f: _codes(r, f) for f, r in answers.items()}
        if not codes["json"] == codes["html"] == codes["jsonld"]:
            disagreeing.append((params, codes))
        elif params in matching and not codes["json"]:
            disagreeing.append((params, "matched nothing"))
        elif params in nothing and codes["json"]:
            disagreeing.append((params, "matched something"))
        if params in matching[:2]:
            assert codes["json"] == [code], params
    assert not disagreeing, disagreeing


def test_a_filtered_html_page_links_its_next_page_with_the_filter(ogc_server: Server) -> None:
    response = _get(ogc_server, ITEMS, f="html", limit=1, filter="area > 0", **{"filter-lang": "cql2-text"})
    assert response.status_code == 200
    hrefs = [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]*items\?[^"]*)"', response.text)]
    following = [h for h in hrefs if "after=" in h or "offset=" in h]
    assert following, hrefs
    nxt = httpx.get(following[0], timeout=60)
    assert nxt.status_code == 200, (following[0], nxt.text[:300])
    assert "filter=" in following[0]


UNMATCHED = ("/nothing/here", "/collections/parcels/tiles/WebMercatorQuad/16/1",
             "/collections/parcels/tiles/WebMercatorQuad/16/1/2/3", "/collections/parcels/nothing",
             "/collections/parcels/items/x/y", "/static/nothing-here.css", "/collections/nowhere/queryables",
             "/tileMatrixSets/WebMercatorQuad/more", "/conformance/x")


def test_every_path_under_ogc_that_nothing_serves_is_an_ogc_404_with_cors(ogc_server: Server) -> None:
    for path in UNMATCHED:
        for f in (None, "json", "html"):
            params = {} if f is None else {"f": f}
            response = _get(ogc_server, path, **params)
            assert response.status_code == 404, (path, f, response.status_code)
            assert _is_ogc_exception(response), (path, f, response.text[:200])
            assert response.json()["code"] == "NotFound"
            assert response.headers.get("access-control-allow-origin") == "*", (path, f)
        head = httpx.head(ogc_server.ogc + path, headers=ORIGIN, timeout=60)
        assert head.status_code == 404, path
        assert head.headers.get("access-control-allow-origin") == "*", path


def test_every_method_but_reads_under_ogc_is_an_ogc_405_with_cors(ogc_server: Server) -> None:
    code, _, _ = _a_parcel(ogc_server)
    for path in (*UNMATCHED, ITEMS, f"{ITEMS}/{code}", "/collections/parcels/tiles/WebMercatorQuad/15/13520/27320",
                 "/collections/parcels/tiles/WebMercatorQuad/-1/0/0", "", "/", "/conformance"):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = httpx.request(method, ogc_server.ogc + path, headers=ORIGIN, timeout=60)
            assert response.status_code == 405, (method, path, response.status_code)
            assert _is_ogc_exception(response), (method, path, response.text[:200])
            assert "GET" in response.headers.get("allow", ""), (method, path)
            assert response.headers.get("access-control-allow-origin") == "*", (method, path)


def test_only_ogc_and_what_is_under_it_is_the_ogc_api(ogc_server: Server) -> None:
    for path in ("/ogcx", "/ogc-help", "/ogc.json", "/ogcollections/parcels/items"):
        response = httpx.get(ogc_server.url + path, headers=ORIGIN, timeout=60)
        assert response.status_code == 404, path
        policy = response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0], (path, policy)
        assert "access-control-allow-origin" not in response.headers, path
        assert response.headers.get("cache-control") == "no-store", path
    for path in ("/ogc", "/ogc/", "/ogc/collections"):
        response = httpx.get(ogc_server.url + path, params={"f": "html"}, headers=ORIGIN, timeout=60)
        assert response.status_code == 200, path
        assert "script-src 'self' 'unsafe-inline'" in response.headers["content-security-policy"], path
        assert response.headers.get("access-control-allow-origin") == "*", path


def test_every_other_parameter_answers_the_same_in_every_format(ogc_server: Server) -> None:
    """The same for what else an items page takes: the three formats select the same features
    or refuse alike."""
    code, x, y = _a_parcel(ogc_server)
    with psycopg.connect(ogc_server.database_url) as conn:
        row = conn.execute("SELECT calculated_area, land_use_code FROM parcels WHERE parcel_code = %s "
                           "AND end_lifespan IS NULL", (code,)).fetchone()
    assert row is not None
    box = f"{x - 0.002},{y - 0.002},{x + 0.002},{y + 0.002}"
    swapped = f"{y - 0.002},{x - 0.002},{y + 0.002},{x + 0.002}"
    valid: list[dict[str, str]] = [
        {"bbox": box}, {"bbox": swapped, "bbox-crs": EPSG + "4490"},
        {"bbox": box, "filter": "area > 100"}, {"sortby": "-area"}, {"sortby": "area", "offset": "3"},
        {"sortby": "land_use_code,-parcel_code"}, {"sortby": " area,-parcel_code"}, {"sortby": "+area"},
        {"properties": "area"}, {"skipGeometry": "true"},
        {"area": str(row[0])}, {"land_use_code": str(row[1]).strip()}, {"datetime": "2000-01-01T00:00:00Z/.."},
        {"after": code}, {"offset": "2"}, {"parcel_code": code}, {"crs": EPSG + "4528"},
    ]
    invalid: list[dict[str, str]] = [
        {"offset": "-1"}, {"sortby": "owner_name"}, {"properties": "nope"},
        {"limit": "0"}, {"limit": "x"}, {"bbox": "1,2,3"}, {"foo": "bar"}, {"bbox-crs": EPSG + "4490"},
        {"crs": "EPSG:4490"},
        {"datetime": "tomorrow"}, {"skipGeometry": "perhaps"}, {"area": "big"},
        {"sortby": "area", "after": code},
    ]
    disagreeing = []
    for params in [*valid, *invalid]:
        answers = {f: _get(ogc_server, ITEMS, **{"f": f, "limit": "5", **params}) for f in FORMATS}
        expected = 400 if params in invalid else 200
        statuses = {f: r.status_code for f, r in answers.items()}
        if set(statuses.values()) != {expected}:
            disagreeing.append((params, statuses))
            continue
        if expected == 200:
            codes = {f: _codes(r, f) for f, r in answers.items()}
            if not codes["json"] or not codes["json"] == codes["html"] == codes["jsonld"]:
                disagreeing.append((params, codes))
    assert not disagreeing, disagreeing
