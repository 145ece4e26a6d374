"""Digitising in real headless Chromium against a real server: upload a scan, place control
points on it and type their printed coordinates, see the residuals and the worst point, warp
and see the overlay on the map, trace a parcel with Leaflet-Geoman, submit, approve, and find
the parcel in the cadastre."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import httpx
import pytest
from drawn_scans import KnownParcel, draw_scan
from harness import SCREENSHOTS, header_principal, open_page, serve

pytestmark = pytest.mark.browser

E, N = 40_515_100.0, 3_345_470.0
POINTS = {"J1": (E, N), "J2": (E + 24, N), "J3": (E + 24, N + 20), "J4": (E, N + 20)}
CODE = "330102001001GB09751"


@pytest.fixture(scope="module")
def site(fresh_database, tmp_path_factory) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    from portal.app import create_app
    from portal.demo.loader import load_demo
    from portal.platform import migrate
    from portal.settings import ArchiveSettings, DatabaseSettings, Settings

    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=80, seed=5)
    folder = tmp_path_factory.mktemp("digitise-browser")
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=url),
                              archive=ArchiveSettings(store_dir=folder / "store", cache_dir=folder / "cache")))
    app.state.principal_resolver = header_principal
    base, server = serve(app)
    yield base, url
    server.should_exit = True
    server.thread.join(10)


def screen(page, column: float, row: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Where pixel (column, row) of the scan is in the scan pane."""
    x, y = page.evaluate("([c, r]) => { const p = window.cadastreDigitise.scan.latLngToContainerPoint("
                         "L.latLng(-r, c)); return [p.x, p.y]; }", [column, row])
    return {"x": x, "y": y}


def swipe_edge(page) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """Where the overlay's clip begins and ends across the map, in map pixels, and the map's width."""
    return tuple(page.evaluate(
        "() => { const d = window.cadastreDigitise, m = d.map; "
        "const [top, right, bottom, left] = d.overlay.getContainer().style.clip.match(/-?[0-9.]+/g).map(Number); "
        "const o = m.containerPointToLayerPoint([0, 0]); return [right - o.x, left - o.x, m.getSize().x]; }"))


def test_scan_to_parcel_in_the_browser(site, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base, _ = site
    scan = draw_scan(POINTS, [KnownParcel(CODE, "0701", ("J1", "J2", "J3", "J4"))], metres_per_pixel=0.05)
    path = tmp_path / "zongditu.png"
    path.write_bytes(scan.png)
    page = open_page(browser, "surveyor", "en")
    foreign: list[str] = []
    page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(base) else None)
    page.goto(f"{base}/surveys/digitise")
    page.set_input_files("#file", str(path))
    page.fill("#scale", "500")
    page.click("#digitise-form button[type=submit]")
    page.wait_for_url(f"{base}/surveys/digitise/*")
    page.wait_for_selector("#digitise[data-ready=true]")

    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.wait_for_selector("#digitise[data-scan-tile-zoom]")  # the scan comes as pixel tiles

    # Control points: click each printed point on the scan, type its coordinates from the table.
    # The first is placed zoomed in fully (16 screen pixels a scan pixel, over full-resolution tiles).
    for i, (label, (easting, northing)) in enumerate(scan.points.items()):
        if i == 0:
            page.evaluate("([c, r]) => window.cadastreDigitise.scan.setView(L.latLng(-r, c), 4, {animate: false})",
                          list(scan.pixels[label]))
            page.wait_for_selector("#digitise[data-scan-tile-zoom='0']")
        page.locator("#scan-map").click(position=screen(page, *scan.pixels[label]))
        row = page.locator("#points-body tr").nth(i)
        if i == 0:
            column, row_ = (float(v) for v in row.locator("td").nth(1).inner_text().split(","))
            assert abs(column - scan.pixels[label][0]) <= 0.1 and abs(row_ - scan.pixels[label][1]) <= 0.1
            page.evaluate("([w, h]) => window.cadastreDigitise.scan.fitBounds([[-h, 0], [0, w]], {animate: false})",
                          [scan.width, scan.height])
        if i == 0 and shutil.which("tesseract"):  # the first from the printed table, read by OCR and confirmed
            page.click("#read-table")
            page.click(f"#table-rows button.use-row[data-label={label}]")
            assert float(row.locator("input.easting").input_value()) == easting
            continue
        row.locator("input.northing").fill(f"{northing:.3f}")
        row.locator("input.easting").fill(f"{easting:.3f}")
        row.locator("input.easting").press("Tab")
    page.click("#fit")
    page.wait_for_selector("#fit-status:has-text('RMS')")
    assert page.locator("#points-body td.worst").count() == 1
    assert float(page.locator("#digitise").get_attribute("data-rms")) < 0.5

    # Warp: the scan appears over the cadastre; the opacity slider changes it.
    page.click("#warp")
    page.wait_for_selector("#digitise[data-overlay-tiles]", timeout=60_000)
    page.locator("#opacity").fill("40")

    # Swipe: the overlay is clipped left of the line, wherever the map is moved; keyboard moves it.
    page.locator("#swipe").fill("30")
    page.locator("#swipe").press("ArrowLeft")
    assert page.locator("#swipe").get_attribute("aria-valuetext") == "29 %"
    edge, start, width = swipe_edge(page)
    assert abs(edge - 0.29 * width) <= 1 and start <= 0
    page.evaluate("() => window.cadastreDigitise.map.panBy([120, 40], {animate: false})")
    edge, start, width = swipe_edge(page)
    assert abs(edge - 0.29 * width) <= 1 and start <= 0
    page.locator("#swipe").fill("100")

    # Trace the parcel with Leaflet-Geoman, zoomed in on it, snapping to the control points.
    columns = [c for c, _ in scan.pixels.values()]
    rows = [r for _, r in scan.pixels.values()]
    page.evaluate("([c0, r0, c1, r1]) => window.cadastreDigitise.scan.fitBounds([[-r1, c0], [-r0, c1]], "
                  "{padding: [110, 110], animate: false})", [min(columns), min(rows), max(columns), max(rows)])
    page.check("input[name=mode][value=trace]")
    page.click(".leaflet-pm-icon-polygon")
    for label in ("J1", "J2", "J3", "J4", "J1"):
        page.locator("#scan-map").click(position=screen(page, *scan.pixels[label]))
    page.wait_for_selector("#digitise[data-traced='1']")
    page.fill("#parcels-body input.code", CODE)
    page.fill("#parcels-body input.use", "0701")
    page.locator("#parcels-body input.use").press("Tab")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "digitise-workspace.png"), full_page=True)
    page.click("#submit-parcels")
    page.wait_for_url(re.compile(r".*/surveys/\d+$"))
    submission_id = int(page.url.rsplit("/", 1)[1])
    assert foreign == []
    assert failed == []

    with httpx.Client(base_url=base) as client:
        submitted = client.post(f"/api/submissions/{submission_id}/submit", headers={"x-test-person": "surveyor"})
        assert submitted.status_code == 200, submitted.text
        approved = client.post(f"/api/submissions/{submission_id}/approve", headers={"x-test-person": "registrar"})
        assert approved.status_code == 200, approved.text
        parcel = client.get(f"/api/parcels/{CODE}")
        assert parcel.status_code == 200
        assert abs(float(parcel.json()["area"]) - 480.0) < 5.0


def test_the_swipe_on_a_phone(site, browser) -> None:  # type: ignore[no-untyped-def]
    """On a 390 x 844 phone the panes stack, the swipe is in reach and moved by keys, and the
    overlay is clipped where it says."""
    base, _ = site
    scan = draw_scan(POINTS, [KnownParcel(CODE, "0701", ("J1", "J2", "J3", "J4"))], metres_per_pixel=0.05)
    person = {"x-test-person": "surveyor"}
    with httpx.Client(base_url=base, headers=person, timeout=60) as client:
        started = client.post("/api/digitisations", files={"file": ("zongditu.png", scan.png)}, data={"scale": "500"})
        assert started.status_code == 201, started.text
        url = f"/api/digitisations/{started.json()['digitisation_id']}"
        points = [{"label": label, "column": scan.pixels[label][0], "row": scan.pixels[label][1], "easting": e,
                   "northing": n} for label, (e, n) in scan.points.items()]
        assert client.put(f"{url}/control-points", json={"points": points}).status_code == 200
        assert client.post(f"{url}/fit", json={"transformation": "affine"}).status_code == 200
        assert client.post(f"{url}/warp").status_code == 200
    context = browser.new_context(extra_http_headers=person, locale="zh-CN", viewport={"width": 390, "height": 844},
                                  is_mobile=True, has_touch=True, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(f"{base}/surveys/digitise/{started.json()['digitisation_id']}")
        page.wait_for_selector("#digitise[data-ready=true]")
        page.wait_for_selector("#digitise[data-overlay-tiles]", timeout=60_000)
        assert page.locator("label[for=swipe]").inner_text().startswith("卷帘")
        for pane in ("#scan-map", "#overlay-map", "#swipe"):
            box = page.locator(pane).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (pane, box)
        page.locator("#swipe").focus()
        page.keyboard.press("Home")
        for _ in range(50):
            page.keyboard.press("ArrowRight")
        assert page.locator("#swipe").input_value() == "50"
        edge, start, width = swipe_edge(page)
        assert abs(edge - 0.5 * width) <= 1 and start <= 0
        assert page.locator("#overlay-map .swipe-line").is_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#overlay-map").screenshot(path=str(SCREENSHOTS / "digitise-swipe-phone.png"))
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
        faults = page.evaluate("""async () => (await window.axe.run(document, {resultTypes: ["violations"]}))
            .violations.filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => v.id + " " + v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", "))""")
        assert faults == []
    finally:
        context.close()
