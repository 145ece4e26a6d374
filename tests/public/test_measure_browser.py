"""Measuring on the map (issue 17 §6) in real headless Chromium: a line along a parcel's edge and
a polygon over its corners, drawn by clicks with leaflet-geoman, give true ground figures.

Expected values come from elsewhere: the edge's geodesic length on the GRS 80 ellipsoid (pyproj's
Geod, Karney's algorithm) and the parcel's area as the database computed it. Tolerances: clicks
land on whole pixels (0.13 m at zoom 20 at this latitude), so the drawn figures are within 0.3 m
and 0.5 % (the pixel error over the perimeter); the computation itself, fed the exact corners,
is within 0.01 m² of the database's area and 1 mm of the geodesic.
"""

from __future__ import annotations

import re

import psycopg
import pytest
from public_site import open_page
from pyproj import Geod

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SERIOUS_AXE = """async () => (await window.axe.run(document, {resultTypes: ["violations"]})).violations
    .filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id + " " + v.help)"""


@pytest.fixture(scope="module")
def parcel(database_url: str, sample) -> dict:
    with psycopg.connect(database_url) as conn:
        corners = conn.execute("""
            SELECT ST_X(d.geom), ST_Y(d.geom) FROM current_parcels p,
                   ST_DumpPoints(ST_ExteriorRing(ST_GeometryN(p.geom, 1))) d
             WHERE p.parcel_code = %s ORDER BY d.path""", (sample["parcel_code"],)).fetchall()
    return {"corners": [(float(x), float(y)) for x, y in corners[:-1]], "area": float(sample["area"]),
            "lon": sample["lon"], "lat": sample["lat"]}


def _number(text: str, unit: str) -> float:
    match = re.search(r"([\d,]+\.\d+)\s*" + re.escape(unit), text.replace("\u00a0", " "))
    assert match, (unit, text)
    return float(match.group(1).replace(",", ""))


def _map(browser, portal_url: str, parcel: dict, *, locale: str = "zh-CN", viewport=None, zoom: int = 20):
    visit = open_page(browser, portal_url, locale=locale, viewport=viewport or {"width": 1280, "height": 800})
    visit.page.goto(portal_url + "/")
    visit.page.wait_for_selector("html[data-map-ready=true]", timeout=15_000)
    visit.page.evaluate("([lon, lat, z]) => window.portalMap.map.setView([lat, lon], z, {animate: false})",
                        [parcel["lon"], parcel["lat"], zoom])
    return visit


def _click_at(visit, lon: float, lat: float) -> None:
    x, y = visit.page.evaluate("([lon, lat]) => { const p = window.portalMap.map"
                               ".latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }", [lon, lat])
    box = visit.page.locator(".folium-map").bounding_box()
    visit.page.mouse.click(box["x"] + x, box["y"] + y)
    visit.page.wait_for_timeout(120)


def test_the_computation_is_true_to_the_ground(browser, portal_url: str, parcel: dict) -> None:
    visit = _map(browser, portal_url, parcel)
    try:
        corners = parcel["corners"]
        area, edge = visit.page.evaluate("""(c) => {
            const ll = c.map(([lon, lat]) => L.latLng(lat, lon)), m = window.portalMap.measure;
            return [m.areaOf(ll), m.lengthOf(ll.slice(0, 2), false)]; }""", corners)
        assert abs(area - parcel["area"]) <= 0.01, (area, parcel["area"])
        geodesic = Geod(ellps="GRS80").line_length([corners[0][0], corners[1][0]], [corners[0][1], corners[1][1]])
        assert abs(edge - geodesic) < 0.001, (edge, geodesic)
    finally:
        visit.page.context.close()


def test_drawing_a_line_and_a_polygon_gives_the_figures(browser, portal_url: str, parcel: dict) -> None:
    visit = _map(browser, portal_url, parcel)
    page = visit.page
    try:
        corners = parcel["corners"]
        result = page.locator(".measure-result")
        # a line along the first edge: two clicks, then the keyboard-reachable Finish button
        page.get_by_role("button", name="量测距离").click()
        assert page.get_by_role("button", name="量测距离").get_attribute("aria-pressed") == "true"
        for lon, lat in corners[:2]:
            _click_at(visit, lon, lat)
        page.get_by_role("button", name="完成量测").focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => window.portalMap.measure.last && window.portalMap.measure.last.length > 0")
        geodesic = Geod(ellps="GRS80").line_length([corners[0][0], corners[1][0]], [corners[0][1], corners[1][1]])
        assert abs(_number(result.inner_text(), "米") - geodesic) <= 0.3, (result.inner_text(), geodesic)
        assert "距离" in result.inner_text()
        assert page.locator("#parcel-panel").is_hidden(), "clicks while measuring open no parcel"

        # a polygon over the parcel's corners, closed on the first corner
        page.get_by_role("button", name="量测面积").click()
        for lon, lat in corners:
            _click_at(visit, lon, lat)
        _click_at(visit, *corners[0])
        page.wait_for_function("() => window.portalMap.measure.last && window.portalMap.measure.last.area > 0")
        text = result.inner_text()
        drawn = _number(text, "平方米")
        assert abs(drawn - parcel["area"]) <= parcel["area"] * 0.005, (text, parcel["area"])
        assert abs(_number(text, "亩") - drawn / (10000 / 15)) < 0.006
        assert "高斯-克吕格" in text
        visit.screenshot("measure-area-zh")
        assert page.locator("#parcel-panel").is_hidden()
        page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
        assert page.evaluate(SERIOUS_AXE) == [], "the tools and figures stay clean for axe-core"
        page.get_by_role("button", name="清除量测").click()
        assert result.is_hidden() and visit.errors == []
    finally:
        page.context.close()


def test_english_figures_and_a_phone(browser, portal_url: str, parcel: dict) -> None:
    """On a 390 x 844 phone the whole parcel shows at zoom 19 (0.26 m a pixel: 1 % for the drawn area)."""
    visit = _map(browser, portal_url, parcel, locale="en", viewport={"width": 390, "height": 844}, zoom=19)
    page = visit.page
    try:
        tool = page.get_by_role("button", name="Measure an area")
        box = tool.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 30, "reachable by thumb"
        tool.click()
        for lon, lat in parcel["corners"]:
            _click_at(visit, lon, lat)
        page.get_by_role("button", name="Finish measuring").click()
        page.wait_for_function("() => window.portalMap.measure.last && window.portalMap.measure.last.area > 0")
        text = page.locator(".measure-result").inner_text()
        assert abs(_number(text, "m²") - parcel["area"]) <= parcel["area"] * 0.01, text
        hectares = parcel["area"] / 10_000
        assert abs(_number(text, "ha") - hectares) < hectares * 0.01 + 0.0001 and "Gauss-Krüger zone" in text
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        visit.screenshot("measure-area-en-phone")
        assert visit.errors == []
    finally:
        page.context.close()


def test_measuring_with_the_keyboard_alone(browser, portal_url: str, parcel: dict) -> None:
    """Tab to the tool, Enter; the map's centre is the pointer (arrow keys pan it; set here), Enter
    adds it; Tab to Finish, Enter. The centre is kept on whole pixels (0.13 m at zoom 20): the edge
    within 0.2 m of the geodesic."""
    visit = _map(browser, portal_url, parcel)
    page = visit.page
    try:
        corners = parcel["corners"]
        page.get_by_role("button", name="量测距离").focus()
        page.keyboard.press("Enter")
        for lon, lat in corners[:2]:
            page.evaluate("([lon, lat]) => window.portalMap.map.setView([lat, lon], 20, {animate: false})", [lon, lat])
            page.locator(".folium-map").focus()
            page.keyboard.press("Enter")
        page.get_by_role("button", name="完成量测").focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => window.portalMap.measure.last && window.portalMap.measure.last.length > 0")
        geodesic = Geod(ellps="GRS80").line_length([corners[0][0], corners[1][0]], [corners[0][1], corners[1][1]])
        assert abs(page.evaluate("() => window.portalMap.measure.last.length") - geodesic) < 0.2
        assert page.locator("#parcel-panel").is_hidden(), "Enter while measuring adds a point, opens no parcel"
        assert visit.errors == []
    finally:
        page.context.close()
