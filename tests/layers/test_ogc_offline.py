"""pygeoapi's HTML pages load every script and style sheet from the portal itself, in a real
Chromium too: no request leaves for unpkg, cdnjs, jsDelivr or Google Fonts."""

from __future__ import annotations

import re

import httpx
import pytest

PAGES = ["/ogc?f=html", "/ogc/collections?f=html", "/ogc/collections/parcels?f=html",
         "/ogc/collections/parcels/items?f=html&limit=5", "/ogc/openapi?f=html"]
ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=[\"']([^\"']+)[\"']", re.IGNORECASE)


@pytest.mark.parametrize("path", PAGES)
def test_ogc_html_names_only_local_assets_and_they_are_served(ogc_server, path) -> None:
    with httpx.Client(base_url=ogc_server.url, timeout=30, follow_redirects=True) as client:
        page = client.get(path)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assets = [a for a in ASSET.findall(page.text) if not a.startswith(("https://schema.org", "http://www.opengis"))]
        external = [a for a in assets if re.match(r"(https?:)?//", a) and not a.startswith(ogc_server.url)]
        assert external == [], external
        for asset in assets:
            if asset.startswith("/static/"):
                assert client.get(asset).status_code == 200, asset


@pytest.mark.browser
def test_ogc_items_page_in_chromium_makes_no_foreign_request(ogc_server, browser) -> None:
    page = browser.new_page()
    try:
        foreign: list[str] = []
        page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith((ogc_server.url, "data:"))
                else None)
        page.goto(f"{ogc_server.url}/ogc/collections/parcels/items?f=html&limit=5")
        page.wait_for_load_state("networkidle")
        assert foreign == []
        assert page.evaluate("typeof L") == "object"  # Leaflet came from /static/vendor
    finally:
        page.close()
