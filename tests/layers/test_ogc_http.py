"""HTTP details of /ogc (issue 18 sections 1 and 2): methods, Vary, parameters, Link headers,
and CORS for the public read-only routes only."""

from __future__ import annotations

import html
import re

import httpx
from ogc_server import Server

ITEMS = "/collections/parcels/items"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
ORIGIN = {"Origin": "https://maps.example.org"}


def _first(server: Server) -> str:
    response = httpx.get(server.ogc + ITEMS, params={"limit": 1}, timeout=30)
    code: str = response.json()["features"][0]["id"]
    return code


def _public_paths(server: Server) -> list[str]:
    return ["/", "/conformance", "/collections", "/collections/parcels", ITEMS,
            f"{ITEMS}/{_first(server)}", "/collections/parcels/queryables",
            "/collections/parcels/tiles/WebMercatorQuad",
            "/collections/parcels/tiles/WebMercatorQuad/metadata",
            "/collections/parcels/tiles/WebMercatorQuad/15/13520/27320", "/tileMatrixSets"]


def test_public_ogc_routes_answer_other_origins(ogc_server: Server) -> None:
    for path in _public_paths(ogc_server):
        for method in ("GET", "HEAD"):
            response = httpx.request(method, ogc_server.ogc + path, headers=ORIGIN, timeout=30)
            assert response.status_code in (200, 204), (method, path, response.status_code)
            assert response.headers.get("access-control-allow-origin") == "*", (method, path)
        preflight = httpx.options(ogc_server.ogc + path, timeout=30, headers={
            **ORIGIN, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "accept, accept-language"})
        assert preflight.status_code in (200, 204), (path, preflight.text)
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "GET" in preflight.headers["access-control-allow-methods"]
        assert "accept" in preflight.headers["access-control-allow-headers"].lower()
    # What a map page reads from a page: the CRS and the paging links.
    exposed = httpx.get(ogc_server.ogc + ITEMS, headers=ORIGIN, timeout=30).headers
    assert {"content-crs", "link"} <= set(exposed["access-control-expose-headers"].lower()
                                          .replace(" ", "").split(","))


def test_routes_with_personal_data_never_answer_other_origins(ogc_server: Server) -> None:
    for path in ("/api/check", "/api/applications", "/api/parcels/search", "/login", "/",
                 "/api/registry/units/1", "/health"):
        for method in ("GET", "OPTIONS"):
            response = httpx.request(method, ogc_server.url + path, timeout=30, headers={
                **ORIGIN, "Access-Control-Request-Method": "GET"})
            assert not any(h.startswith("access-control-") for h in response.headers), \
                (method, path, response.headers)


def test_post_to_a_read_only_resource_is_405_with_allow(ogc_server: Server) -> None:
    for path in ("/", ITEMS, f"{ITEMS}/{_first(ogc_server)}", "/collections",
                 "/collections/parcels/tiles/WebMercatorQuad/15/13520/27320"):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            response = httpx.request(method, ogc_server.ogc + path, timeout=30)
            assert response.status_code == 405, (method, path, response.status_code)
            assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}


def test_negotiated_responses_vary_on_accept(ogc_server: Server) -> None:
    for path in ("/", "/collections", "/collections/parcels", ITEMS, f"{ITEMS}/{_first(ogc_server)}",
                 "/conformance", "/collections/parcels/queryables"):
        for params in ({}, {"f": "json"}, {"f": "html"}):
            response = httpx.get(ogc_server.ogc + path, params=params, timeout=30)
            assert "accept" in response.headers.get("vary", "").lower(), (path, params)


def test_unknown_parameters_on_one_item_are_refused(ogc_server: Server) -> None:
    url = f"{ogc_server.ogc}{ITEMS}/{_first(ogc_server)}"
    response = httpx.get(url, params={"foo": "bar"}, timeout=30)
    assert response.status_code == 400
    assert "foo" in response.json()["description"]
    for allowed in ({"f": "json"}, {"crs": EPSG + "4528"}, {"lang": "en"},
                    {"datetime": "2020-01-01T00:00:00Z"}):
        assert httpx.get(url, params=allowed, timeout=30).status_code == 200, allowed


def test_only_advertised_crs_uris_are_accepted(ogc_server: Server) -> None:
    for name in ("crs", "bbox-crs"):
        extra = {"bbox": "30,120,31,121"} if name == "bbox-crs" else {}
        response = httpx.get(ogc_server.ogc + ITEMS, params={name: "EPSG:4490", **extra},
                             timeout=30)
        assert response.status_code == 400, (name, response.text)
        response = httpx.get(ogc_server.ogc + ITEMS, params={name: EPSG + "4490", **extra},
                             timeout=30)
        assert response.status_code == 200, (name, response.text)
    response = httpx.get(f"{ogc_server.ogc}{ITEMS}/{_first(ogc_server)}",
                         params={"crs": "EPSG:4490"}, timeout=30)
    assert response.status_code == 400


def test_items_pages_carry_link_headers_and_the_html_alternate_keeps_the_page(
        ogc_server: Server) -> None:
    first = httpx.get(ogc_server.ogc + ITEMS, params={"limit": 3}, timeout=30)
    links = {link["rel"]: link["href"] for link in first.json()["links"]}
    header = first.headers["link"]
    for rel in ("next", "alternate", "self"):
        assert f'<{links[rel]}>; rel="{rel}"' in header, (rel, header)
    second = httpx.get(links["next"], timeout=30)
    after = second.url.params["after"]
    alternate = {link["rel"]: link for link in second.json()["links"]}["alternate"]
    assert f"after={after}" in alternate["href"] and "f=html" in alternate["href"]
    page = httpx.get(alternate["href"], timeout=30)
    assert page.status_code == 200
    expected = [f["id"] for f in second.json()["features"]]
    shown = [code for code in expected if code in page.text]
    assert shown == expected
    assert first.json()["features"][0]["id"] not in page.text  # the page, not page 1
    by_offset = httpx.get(ogc_server.ogc + ITEMS, params={"limit": 3, "offset": 3}, timeout=30)
    alternate = {link["rel"]: link for link in by_offset.json()["links"]}["alternate"]
    assert "offset=3" in alternate["href"]


def test_the_html_items_page_pages_by_cursor(ogc_server: Server) -> None:
    pages = [httpx.get(ogc_server.ogc + ITEMS, params={"limit": 3}, timeout=30).json()]
    for _ in range(2):
        nxt = {link["rel"]: link["href"] for link in pages[-1]["links"]}["next"]
        pages.append(httpx.get(nxt, timeout=30).json())
    second = {link["rel"]: link["href"] for link in pages[1]["links"]}["alternate"]
    page = httpx.get(second, timeout=30).text
    nexts = [html.unescape(h) for h in re.findall(r'href="([^"]*after=[^"]*)"', page)]
    third_after = pages[1]["features"][-1]["id"]
    assert any(f"after={third_after}" in h and "offset" not in h for h in nexts), nexts
    following = httpx.get([h for h in nexts if f"after={third_after}" in h][0], timeout=30).text
    assert all(f["id"] in following for f in pages[2]["features"])
    # (the last of page 2 is in the links, as the cursor)
    assert not any(f["id"] in following for f in pages[1]["features"][:-1])


def test_refusals_are_readable_from_other_origins(ogc_server: Server) -> None:
    for path, params in ((ITEMS, {"limit": "x"}), (f"{ITEMS}/nowhere", {}),
                         ("/collections/parcels/tiles/WebMercatorQuad/99/0/0", {}),
                         ("/collections/nowhere", {"f": "json"})):
        response = httpx.get(ogc_server.ogc + path, params=params, headers=ORIGIN, timeout=30)
        assert 400 <= response.status_code < 500, path
        assert response.headers.get("access-control-allow-origin") == "*", path


def test_configured_origins_are_the_only_ones_answered(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """CADASTRE_OGC_CORS_ORIGINS reaches the OGC layer: a listed origin is answered by name, any
    other gets no CORS header."""
    from fastapi.testclient import TestClient

    from portal.app import create_app
    from portal.settings import Settings

    monkeypatch.setenv("CADASTRE_OGC_CORS_ORIGINS", "https://maps.example.org, https://gis.example.net")
    settings = Settings()
    assert settings.ogc.cors_origins == ["https://maps.example.org", "https://gis.example.net"]
    client = TestClient(create_app(settings))  # no lifespan: the OGC answers below need no database
    listed = client.options("/ogc/collections", headers={**ORIGIN, "Access-Control-Request-Method": "GET"})
    assert listed.headers.get("access-control-allow-origin") == "https://maps.example.org"
    other = client.options("/ogc/collections", headers={"Origin": "https://evil.example.com",
                                                        "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in other.headers
