"""Review 4 of the OGC API (issue 18): an empty parameter means the same in every format, a
trailing slash is never redirected to a Host-built URL, and the portal's early refusals (413,
431) are OGC's JSON with CORS under /ogc."""

from __future__ import annotations

import httpx
from ogc_server import FORMATS, ITEMS, ORIGIN, Server

EMPTY = ("filter", "bbox", "datetime", "sortby", "properties", "filter-lang", "limit", "offset", "after",
         "skipGeometry", "lang")
# A CRS parameter takes one of the URIs the collection lists (Features Part 2,
# /req/crs/fc-crs-valid-value), and "" is none of them: 400, in every format alike.
CRS_PARAMETERS = ("crs", "bbox-crs", "filter-crs")


def test_an_empty_parameter_is_no_parameter_in_every_format(ogc_server: Server) -> None:
    # Features Part 1 and 3 give no meaning to an empty value, and the HTML page's own form
    # sends its empty fields: an empty parameter is an absent one, in every format.
    statuses = {(name, f): httpx.get(ogc_server.ogc + ITEMS, params={name: "", "f": f}, timeout=60).status_code
                for name in EMPTY for f in FORMATS}
    assert {k: v for k, v in statuses.items() if v != 200} == {}
    # `f=` itself is no `f`: the answer negotiated from Accept, here and on every document.
    for path in (ITEMS, "", "/conformance", "/collections", "/collections/parcels",
                 "/collections/parcels/queryables", "/collections/parcels/tiles",
                 "/collections/parcels/tiles/WebMercatorQuad", "/collections/parcels/tiles/WebMercatorQuad/metadata",
                 "/tileMatrixSets/WebMercatorQuad"):
        response = httpx.get(ogc_server.ogc + path + "?f=", timeout=60)
        assert response.status_code == 200, (path, response.text)
        assert "json" in response.headers["content-type"], path
    statuses = {(name, f): httpx.get(ogc_server.ogc + ITEMS, params={name: "", "f": f}, timeout=60).status_code
                for name in CRS_PARAMETERS for f in FORMATS}
    assert {k: v for k, v in statuses.items() if v != 400} == {}


def test_an_empty_parameter_on_one_item_means_the_same_in_every_format(ogc_server: Server) -> None:
    first = httpx.get(ogc_server.ogc + ITEMS, params={"limit": 1}, timeout=60).json()
    item = f"{ITEMS}/{first['features'][0]['id']}"
    for name, status in (("datetime", 200), ("crs", 400)):
        statuses = {f: httpx.get(ogc_server.ogc + item, params={name: "", "f": f}, timeout=60).status_code
                    for f in FORMATS}
        assert set(statuses.values()) == {status}, (name, statuses)


def test_a_trailing_slash_is_never_redirected_to_the_host(ogc_server: Server) -> None:
    for path in ("/ogc/collections/", "/ogc/collections/parcels/", "/ogc/collections/parcels/items/",
                 "/ogc/conformance/", "/api/search/", "/guide/", "//evil.example/", "/ogc/"):
        response = httpx.get(ogc_server.url + path, headers={"Host": "evil.example"},
                             follow_redirects=False, timeout=60)
        assert response.status_code < 500, (path, response.status_code)
        assert "evil.example" not in response.headers.get("location", ""), (path, response.headers)
        assert "evil.example" not in response.text, path
    # The portal's pages: a relative redirect, the query kept.
    response = httpx.get(ogc_server.url + "/guide/?q=1", headers={"Host": "evil.example"},
                         follow_redirects=False, timeout=60)
    assert response.status_code == 307, response.text
    assert response.headers["location"] == "/guide?q=1"
    # Under /ogc: the same answer for every resource, OGC's 404 with CORS.
    for path in ("/ogc/collections/", "/ogc/collections/parcels/", "/ogc/collections/parcels/items/",
                 "/ogc/conformance/"):
        response = httpx.get(ogc_server.url + path, headers=ORIGIN, follow_redirects=False, timeout=60)
        assert response.status_code == 404, (path, response.status_code, response.headers)
        assert response.json()["code"] == "NotFound", path
        assert response.headers.get("access-control-allow-origin"), path


def test_early_refusals_under_ogc_are_ogc_exceptions_with_cors(ogc_server: Server) -> None:
    response = httpx.get(ogc_server.ogc + ITEMS, headers={**ORIGIN, "X-Big": "x" * 40000}, timeout=60)
    assert response.status_code == 431, response.text
    assert response.json()["code"] == "InvalidRequest", response.text
    assert "description" in response.json(), response.text
    assert response.headers.get("access-control-allow-origin"), response.headers
    response = httpx.post(ogc_server.ogc + ITEMS, headers=ORIGIN, content=b"x" * (64 * 1024 * 1024),
                          timeout=60)
    assert response.status_code == 413, response.text
    assert "description" in response.json(), response.text
    assert response.headers.get("access-control-allow-origin"), response.headers
    # Elsewhere the portal's own shape, as before.
    response = httpx.get(ogc_server.url + "/api/parcels", headers={"X-Big": "x" * 40000}, timeout=60)
    assert response.status_code == 431
    assert response.json()["detail"]["code"] == "headers_too_large"


def test_a_change_another_site_sends_with_a_session_is_refused_in_ogc_format(ogc_server: Server) -> None:
    # portal.platform.middleware.CrossSite refuses it before any route: under /ogc as OGC's
    # JSON with CORS, like every other refusal there.
    headers = {**ORIGIN, "Sec-Fetch-Site": "cross-site", "Cookie": "cadastre_session=x"}
    response = httpx.post(ogc_server.ogc + ITEMS, headers=headers, content=b"{}", timeout=60)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "InvalidRequest"
    assert "another site" in response.json()["description"]
    assert response.headers.get("access-control-allow-origin"), response.headers
    response = httpx.post(ogc_server.url + "/api/submissions", headers=headers, content=b"{}", timeout=60)
    assert response.status_code == 403
    assert response.json()["detail"]["code"] == "cross_site_request"


def test_digits_of_other_scripts_are_not_numbers(ogc_server: Server) -> None:
    # str.isdigit() passes '²' and '١', which int() refuses or reads as another number: a CRS code
    # or a tile coordinate takes ASCII digits only, and anything else is the client's error.
    for crs in ("http://www.opengis.net/def/crs/EPSG/0/²", "http://www.opengis.net/def/crs/EPSG/0/٤٤٩٠"):
        for name in ("crs", "bbox-crs"):
            params = {name: crs, **({"bbox": "116,39,117,40"} if name == "bbox-crs" else {})}
            response = httpx.get(ogc_server.ogc + ITEMS, params=params, headers=ORIGIN, timeout=60)
            assert response.status_code == 400, (name, crs, response.text)
    for z in ("²", "١٢"):
        response = httpx.get(f"{ogc_server.ogc}/collections/parcels/tiles/WebMercatorQuad/{z}/1/1", timeout=60)
        assert response.status_code == 400, (z, response.text)
