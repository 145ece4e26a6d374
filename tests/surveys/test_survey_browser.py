"""The surveyor's and registrar's pages in real headless Chromium against a real server:
upload a file with an overlap and see the fault highlighted; approve a clean one."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from harness import SCREENSHOTS, open_page
from survey_files import FREE_NORTHING, block, exchange

pytestmark = pytest.mark.browser


def test_surveyor_sees_the_overlap_highlighted(live_site, browser, tmp_path) -> None:
    base, url = live_site
    with psycopg.connect(url) as conn:
        code, xmin, ymin = conn.execute(
            "SELECT parcel_code, ST_XMin(survey_geom), ST_YMin(survey_geom) FROM current_parcels "
            "ORDER BY parcel_id LIMIT 1").fetchone()
    upload = tmp_path / "overlap.txt"
    upload.write_bytes(exchange(block("330102001001GB09101", xmin - 3, ymin - 3, 6)))
    page = open_page(browser, "surveyor", "en")
    foreign: list[str] = []
    page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(base) else None)
    page.goto(f"{base}/surveys")
    page.set_input_files("#file", str(upload))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(f"{base}/surveys/*")
    page.wait_for_selector("#preview svg path.issue")
    row = page.locator("table.report tr.error", has_text="overlap_existing")
    assert code in row.inner_text()
    row.click()
    highlighted = page.locator("#preview svg path.upload.hl")
    assert highlighted.count() == 1
    assert page.locator("button[data-action=submit]").is_disabled()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "survey-report-overlap.png"), full_page=True)
    assert foreign == []


def test_registrar_approves_a_clean_survey_and_it_is_published(live_site, browser, tmp_path) -> None:
    base, url = live_site
    upload = tmp_path / "clean.txt"
    upload.write_bytes(exchange(block("330102001001GB09102", 40_515_130.0, FREE_NORTHING, 12)))
    surveyor = open_page(browser, "surveyor")
    surveyor.goto(f"{base}/surveys")
    surveyor.set_input_files("#file", str(upload))
    surveyor.click("#upload-form button[type=submit]")
    surveyor.wait_for_url(f"{base}/surveys/*")
    detail = surveyor.url
    surveyor.click("button[data-action=submit]")
    surveyor.wait_for_selector("#status.status-submitted")
    registrar = open_page(browser, "registrar")
    registrar.goto(f"{base}/surveys/review")
    registrar.click(f"a[href='{detail.removeprefix(base)}'] >> nth=0")
    registrar.wait_for_selector("#preview svg path.upload")
    registrar.screenshot(path=str(SCREENSHOTS / "survey-review.png"), full_page=True)
    registrar.click("button[data-action=approve]:not([data-confirmed])")
    # approval first shows what it will publish (issue 17 §4) and publishes only when confirmed
    registrar.wait_for_selector("#approve-confirm[open]")
    assert "330102001001GB09102" in registrar.inner_text("#approve-confirm")
    assert registrar.inner_text("#status") != "" and "status-submitted" in registrar.get_attribute("#status", "class")
    registrar.click("#approve-confirm button[data-confirmed]")
    registrar.wait_for_selector("#status.status-approved")
    with psycopg.connect(url) as conn:
        lon, lat = conn.execute("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                                "FROM current_parcels WHERE parcel_code = '330102001001GB09102'").fetchone()
    # ... and it is on the public map: in its vector tile, and found by the map's search.
    import math

    import mapbox_vector_tile

    z = 17
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    tile = httpx.get(f"{base}/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt")
    assert tile.status_code == 200
    codes = {f["properties"]["parcel_code"] for f in mapbox_vector_tile.decode(tile.content)["parcels"]["features"]}
    assert "330102001001GB09102" in codes
    found = httpx.get(f"{base}/api/search", params={"q": "330102001001GB09102"}).json()
    assert "330102001001GB09102" in str(found)


def test_pages_run_under_the_content_security_policy(live_site, browser) -> None:
    """Without Playwright's bypass: our scripts still run (the preview is drawn) and the
    browser reports no violation of the policy."""
    base, _url = live_site
    # A submitted survey of this test's own (it used to take whichever another test left).
    upload = httpx.post(f"{base}/api/submissions", headers={"x-test-person": "surveyor"}, timeout=30, files={
        "file": ("csp.txt", exchange(block("330102001001GB09103", 40_515_160.0, FREE_NORTHING, 8)))})
    assert upload.status_code == 201, upload.text
    sid = upload.json()["id"]
    submitted = httpx.post(f"{base}/api/submissions/{sid}/submit", headers={"x-test-person": "surveyor"}, timeout=30)
    assert submitted.status_code == 200, submitted.text
    page = open_page(browser, "registrar", bypass_csp=False)
    for path in ("/surveys", f"/surveys/{sid}", "/registry", "/statistics"):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
    page.goto(f"{base}/surveys/{sid}")
    page.locator("#preview svg path").first.wait_for()
    assert page.csp_violations == []


def test_report_page_shows_the_crs_line_and_the_attribute_guidance(live_site, browser, tmp_path) -> None:
    base, _ = live_site
    upload = tmp_path / "nocode.txt"
    upload.write_bytes(exchange(block("", 40_515_160.0, FREE_NORTHING, 8)))  # no parcel code
    page = open_page(browser, "surveyor", "en")
    page.goto(f"{base}/surveys")
    page.set_input_files("#file", str(upload))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(f"{base}/surveys/*")
    crs_line = page.locator("#crs-line").inner_text()
    assert "EPSG:4528" in crs_line and "CGCS2000" in crs_line and "stated in the file" in crs_line
    missing = page.locator("table.report tr.error", has_text="parcel_code_missing").inner_text()
    assert "zddm" in missing and "ZDDM" in missing  # the names and label forms tried
    guidance = page.locator("#attribute-guidance")
    assert guidance.is_visible() and "宗地代码" in guidance.inner_text()
    page.click("#attribute-guidance a[href='/surveys/formats']")
    page.wait_for_url(f"{base}/surveys/formats")
    assert page.locator("#field-names code", has_text="zddm").count() == 1
    with page.expect_download() as download:
        page.click("#templates a[href='/surveys/formats/dxf']")
    assert download.value.suggested_filename == "parcels.dxf"
    page.screenshot(path=str(SCREENSHOTS / "survey-report-crs.png"), full_page=True)
