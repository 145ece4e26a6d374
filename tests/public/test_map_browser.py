"""The map page in real headless Chromium: offline, tiles drawn, click, search, language, print."""

from __future__ import annotations

import io

import pytest
from public_site import open_page
from pypdf import PdfReader

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _ready(visit, path: str = "/") -> None:
    visit.page.goto(visit.base + path)
    visit.page.wait_for_selector("html[data-map-ready=true]", timeout=15_000)


# Painted pixels on the parcel layer's tile canvases (VectorGrid draws each tile on a canvas).
DRAWN_FEATURES = """() => Array.from(window.portalMap.parcels.getContainer().querySelectorAll('canvas'))
    .reduce((n, canvas) => {
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
        return n + painted;
    }, 0)"""


def _drawn_features(page) -> int:
    return page.evaluate(DRAWN_FEATURES)


def _show(page, lon: float, lat: float, zoom: int) -> None:
    page.evaluate("([lon, lat, z]) => window.portalMap.map.setView([lat, lon], z, {animate: false})",
                  [lon, lat, zoom])


def test_map_loads_everything_from_the_portal_and_draws_parcels(visit, sample) -> None:
    _ready(visit)
    _show(visit.page, sample["lon"], sample["lat"], 17)
    visit.page.wait_for_function("() => Number(document.querySelector('.folium-map')"
                                 ".getAttribute('data-parcel-tiles') || 0) > 0", timeout=15_000)
    visit.page.wait_for_function(f"() => ({DRAWN_FEATURES})() > 0", timeout=15_000)
    visit.page.wait_for_load_state("networkidle")
    visit.screenshot("map-zh")
    assert visit.foreign_requests() == []
    tiles = [u for u in visit.requests if "/tiles/WebMercatorQuad/" in u]
    assert tiles and all(u.endswith("?f=mvt") for u in tiles)
    assert _drawn_features(visit.page) > 10_000, "parcels are painted on the tile canvases"
    assert visit.failed == [] and visit.errors == []
    scale = visit.page.locator(".leaflet-control-scale-line").first.inner_text()
    assert scale.endswith(("m", "km"))
    legend = visit.page.locator(".map-legend").inner_text()
    assert "07 住宅用地" in legend and "行政区界线" in legend


def test_click_on_a_parcel_opens_its_public_panel(visit, sample) -> None:
    _ready(visit)
    _show(visit.page, sample["lon"], sample["lat"], 18)
    x, y = visit.page.evaluate("([lon, lat]) => { const p = window.portalMap.map"
                               ".latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
                               [sample["lon"], sample["lat"]])
    box = visit.page.locator(".folium-map").bounding_box()
    visit.page.mouse.click(box["x"] + x, box["y"] + y)
    panel = visit.page.locator("#parcel-panel")
    panel.wait_for(state="visible")
    visit.page.wait_for_function(
        f"() => document.querySelector('#parcel-panel').dataset.parcelCode === '{sample['parcel_code']}'")
    text = panel.inner_text()
    assert sample["unit_number"] in text and sample["location"] in text
    assert f"{sample['area']:,}" in text.replace("\u00a0", " ")
    check = visit.page.locator("#check-restrictions")
    assert check.get_attribute("href") == f"/check?parcel={sample['parcel_code']}"
    assert "登录" in check.inner_text()
    visit.screenshot("parcel-panel-zh")
    visit.page.keyboard.press("Escape")
    assert panel.is_hidden()


def test_keyboard_enter_on_the_map_opens_the_parcel_at_its_centre(visit, sample) -> None:
    _ready(visit)
    _show(visit.page, sample["lon"], sample["lat"], 18)
    visit.page.focus(".folium-map")
    visit.page.keyboard.press("Enter")
    visit.page.wait_for_function(
        f"() => document.querySelector('#parcel-panel').dataset.parcelCode === '{sample['parcel_code']}'")


def test_search_by_code_suggests_and_flies_to_the_parcel(visit, sample) -> None:
    _ready(visit)
    code = sample["parcel_code"]
    visit.page.fill("#search-input", code[:18])
    option = visit.page.locator("#search-results [role=option]", has_text=code)
    option.wait_for(state="visible")
    count = visit.page.locator("#search-results [role=option]").count()
    for _ in range(count):  # walk the suggestions with the keyboard to the one wanted
        visit.page.keyboard.press("ArrowDown")
        if option.get_attribute("aria-selected") == "true":
            break
    visit.page.keyboard.press("Enter")
    visit.page.wait_for_function(
        f"() => document.querySelector('#parcel-panel').dataset.parcelCode === '{code}'")
    visit.page.wait_for_timeout(1200)  # the flight
    centre = visit.page.evaluate("() => { const c = window.portalMap.map.getCenter(); return [c.lng, c.lat]; }")
    assert abs(centre[0] - sample["lon"]) < 0.003 and abs(centre[1] - sample["lat"]) < 0.003
    assert visit.page.evaluate("() => window.portalMap.map.getZoom()") >= 16
    visit.screenshot("search-code")


def test_search_by_location_finds_the_unit(visit, sample) -> None:
    _ready(visit)
    part = sample["location"][6:]
    visit.page.fill("#search-input", part)
    visit.page.locator("#search-results [role=option]").first.wait_for(state="visible")
    option = visit.page.locator("#search-results [role=option]", has_text=sample["unit_number"])
    option.click()
    visit.page.wait_for_function(
        f"() => document.querySelector('#parcel-panel').dataset.parcelCode === '{sample['parcel_code']}'")
    assert sample["unit_number"] in visit.page.locator("#parcel-panel").inner_text()
    visit.screenshot("search-location")


VISIBLE_LABEL_BOXES = """() => Array.from(document.querySelectorAll('.parcel-label span'))
    .filter(s => s.style.visibility !== 'hidden')
    .map(s => { const b = s.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; })"""


def test_parcel_code_labels_appear_at_high_zoom_without_overlapping(visit, sample) -> None:
    code = sample["parcel_code"]
    label = f".parcel-label[data-parcel-code='{code}']"
    _ready(visit)
    _show(visit.page, sample["lon"], sample["lat"], 18)
    visit.page.wait_for_selector(label, state="attached", timeout=10_000)
    assert visit.page.locator(label).text_content() == code[-5:]  # the sequence number
    boxes = visit.page.evaluate(VISIBLE_LABEL_BOXES)
    assert len(boxes) > 5
    for i, (left, top, right, bottom) in enumerate(boxes):
        for other in boxes[i + 1:]:
            assert right <= other[0] or other[2] <= left or bottom <= other[1] or other[3] <= top
    visit.screenshot("labels-zoom-18")
    _show(visit.page, sample["lon"], sample["lat"], 20)
    visit.page.wait_for_function(
        "sel => (document.querySelector(sel) || {}).textContent === sel.split(\"'\")[1]", arg=label)
    _show(visit.page, sample["lon"], sample["lat"], 14)
    visit.page.wait_for_function("() => document.querySelectorAll('.parcel-label').length === 0")
    visit.screenshot("labels-off-at-zoom-14")


def test_language_switch_turns_the_page_english_and_back(visit, sample) -> None:
    _ready(visit, f"/?parcel={sample['parcel_code']}")
    assert visit.page.locator("html").get_attribute("lang") == "zh-CN"
    assert visit.page.locator("#search-input").get_attribute("placeholder") == "宗地代码、不动产单元号或坐落"
    visit.page.click("a.lang")
    visit.page.wait_for_selector("html[lang=en][data-map-ready=true]")
    assert visit.page.locator("#search-input").get_attribute("placeholder") == \
        "Parcel code, unit number or location"
    assert "Residential land" in visit.page.locator(".map-legend").inner_text()
    visit.screenshot("map-en")
    visit.page.click("a.lang")
    visit.page.wait_for_selector("html[lang=zh-CN][data-map-ready=true]")


def test_print_sheet_is_a_pdf_with_the_parcel(visit, sample) -> None:
    _ready(visit, f"/?parcel={sample['parcel_code']}")
    link = visit.page.locator("#parcel-panel a[href$='sheet.pdf']")
    link.wait_for(state="visible")
    response = visit.page.request.get(visit.base + link.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.body()))
    text = reader.pages[0].extract_text()
    assert sample["parcel_code"] in text and "宗地图" in text and "界址点" in text
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert any(_embedded(fonts[name].get_object()) for name in fonts), "the Chinese font is embedded"


def _embedded(font) -> bool:
    for descendant in font.get("/DescendantFonts", []) or []:
        descriptor = descendant.get_object().get("/FontDescriptor")
        if descriptor is not None and "/FontFile2" in descriptor.get_object():
            return True
    descriptor = font.get("/FontDescriptor")
    return descriptor is not None and "/FontFile2" in descriptor.get_object()


def test_phone_layout_keeps_search_and_panel_usable(browser, portal_url, sample) -> None:
    visit = open_page(browser, portal_url, viewport={"width": 390, "height": 780})
    try:
        _ready(visit, f"/?parcel={sample['parcel_code']}")
        visit.page.wait_for_function(
            f"() => document.querySelector('#parcel-panel').dataset.parcelCode === '{sample['parcel_code']}'")
        panel = visit.page.locator("#parcel-panel").bounding_box()
        search = visit.page.locator("#search-input").bounding_box()
        assert panel["width"] <= 390 and panel["y"] > 780 / 3, "the panel is a bottom sheet"
        assert search["width"] > 200 and search["x"] >= 0
        assert visit.page.evaluate("() => document.documentElement.scrollWidth") <= 390
        visit.screenshot("phone-panel")
    finally:
        visit.page.context.close()


def test_guide_page_reads_in_both_languages_on_a_phone(browser, portal_url) -> None:
    visit = open_page(browser, portal_url, viewport={"width": 390, "height": 780})
    try:
        visit.page.goto(portal_url + "/guide")
        assert visit.page.locator("h1").inner_text() == "不动产登记办事指南"
        assert visit.page.locator("#mortgage .commitment").inner_text().endswith("1 个工作日")
        assert visit.page.evaluate("() => document.documentElement.scrollWidth") <= 390
        visit.screenshot("guide-zh-phone")
        visit.page.click("a.lang")
        visit.page.wait_for_selector("html[lang=en]")
        assert visit.page.locator("h1").inner_text() == "Registration guide"
        visit.page.keyboard.press("Tab")  # the skip link comes first for keyboard users
        assert visit.page.evaluate("() => document.activeElement.className") == "skip"
        assert visit.foreign_requests() == [] and visit.errors == []
        visit.screenshot("guide-en-phone")
    finally:
        visit.page.context.close()


def test_language_switch_keeps_the_open_parcel(visit, sample) -> None:
    _ready(visit)
    visit.page.fill("#search-input", sample["parcel_code"])
    visit.page.keyboard.press("Enter")
    visit.page.wait_for_function(
        "code => document.querySelector('#parcel-panel').dataset.parcelCode === code",
        arg=sample["parcel_code"])
    visit.page.click("a.lang")
    visit.page.wait_for_selector("html[lang=en][data-map-ready=true]")
    visit.page.wait_for_function(
        "code => document.querySelector('#parcel-panel').dataset.parcelCode === code",
        arg=sample["parcel_code"])
    assert "Real estate units" in visit.page.locator("#parcel-panel").inner_text()
    visit.page.wait_for_timeout(1000)  # the flight to the parcel
    visit.page.wait_for_load_state("networkidle")
    visit.screenshot("parcel-panel-en")
