"""Every page and journey in headless Chromium, as each role, in zh-CN and en, on a desktop
(1400x900) and a phone (390x844) screen (issue 17, acceptance): no page is wider than the screen,
axe-core (run in the page) finds no serious or critical accessibility violation, and every page
leaves a screenshot in artifacts/screenshots/pages/.

One browser for the module and one context per person and screen, reused page after page, so the
whole sweep stays within a couple of minutes. The site runs for real (uvicorn) on the module's own
copy of the demo cadastre, with real accounts: each role logs in once over HTTP and its session
cookie is handed to the browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from account_helpers import PASSWORDS, csrf_of, settings_for
from chromium import SCREENSHOTS
from public_site import serve
from tiles_stand_in import add_tiles_if_missing

from portal.accounts.principal import SESSION_COOKIE
from portal.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = Path(__file__).resolve().parents[2] / "portal/web/static/vendor/axe-core/axe.min.js"
SCREENS = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}
LANGUAGES = ("zh-CN", "en")
# The pages each person opens ({...} filled from the demo district); None is a stranger.
PAGES: dict[str | None, tuple[str, ...]] = {
    None: ("/", "/?parcel={parcel}", "/guide", "/check?parcel={parcel}", "/statistics", "/login?next=/check",
           "/register", "/parcels/{parcel}", "/parcels/{retired}", "/verify/NOPE0000NOPE0000",
           "/verify/sheet/{sheet}", "/verify/sheet/ZDT-{parcel}-V1-20261201T000000Z-AAAAAAAAAAAA",
           "/verify/sheet/NOPE", "/no/such/page"),
    "owner": ("/account", "/check?parcel={parcel}"),
    "surveyor": ("/surveys", "/surveys/{submission}"),
    "registrar": ("/surveys/review", "/registry", "/registry/applications/{application}", "/counter"),
    "clerk": ("/registry",),
    "auditor": ("/audit",),
    "admin": ("/admin/users",),
}
RUN_AXE = """async () => {
    const result = await window.axe.run(document, {resultTypes: ["violations"]});
    return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
}"""
WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"
# Tables with headings that were not turned into lists (static/js/tables.js) or still show as tables.
TABLES_LEFT = """() => Array.from(document.querySelectorAll("main table")).filter((t) => t.querySelector("thead th")
    && getComputedStyle(t).display === "table").length"""


@dataclass
class Site:
    base: str
    values: dict[str, str]
    points: dict[str, tuple[float, float]] = field(default_factory=dict)  # a point inside each parcel
    cookies: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def site(module_database: str) -> Iterator[Site]:
    with psycopg.connect(module_database) as conn:
        parcel = conn.execute("SELECT left(unit_number, 19) FROM current_units GROUP BY 1 "
                              "HAVING count(*) >= 2 ORDER BY 1 LIMIT 1").fetchone()
        retired = conn.execute("SELECT parcel_code FROM parcels p WHERE end_lifespan IS NOT NULL AND NOT EXISTS "
                               "(SELECT 1 FROM parcels c WHERE c.parcel_code = p.parcel_code "
                               "AND c.end_lifespan IS NULL) ORDER BY 1 LIMIT 1").fetchone()
        submission = conn.execute("SELECT min(submission_id) FROM submissions").fetchone()
        application = conn.execute("SELECT min(application_id) FROM applications").fetchone()
        points = {code.strip(): (lon, lat) for code, lon, lat in conn.execute(
            "SELECT parcel_code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM current_parcels").fetchall()}
    values = {"parcel": parcel[0].strip(), "retired": (retired or parcel)[0].strip(),
              "submission": str(submission[0] or 1), "application": str(application[0] or 1)}
    app = create_app(settings_for(module_database))
    add_tiles_if_missing(app)
    with serve(app) as base:
        found = Site(base, values, points)
        with httpx.Client(base_url=base, timeout=30) as client:
            # a reference the portal issued (its MAC is the app's key): the valid verification page
            values["sheet"] = client.get(f"/parcels/{values['parcel']}/sheet.pdf").headers["x-reference"]
            for person in PAGES:
                if person is None:
                    continue
                client.cookies.clear()
                form = client.get("/login")
                answer = client.post("/login", data={"username": person, "password": PASSWORDS[person],
                                                     "csrf": csrf_of(form.text)})
                assert answer.status_code == 303, answer.text
                found.cookies[person] = client.cookies[SESSION_COOKIE]
        yield found


def _context(browser: Any, site: Site, person: str | None, language: str, screen: str) -> Any:
    context = browser.new_context(locale=language, viewport=SCREENS[screen], is_mobile=screen == "phone",
                                  has_touch=screen == "phone", extra_http_headers={"Accept-Language": language})
    host = site.base.split("//", 1)[1].split(":")[0]
    cookies = [{"name": "lang", "value": language, "domain": host, "path": "/"}]
    if person:
        cookies.append({"name": SESSION_COOKIE, "value": site.cookies[person], "domain": host, "path": "/"})
    context.add_cookies(cookies)
    return context


def _slug(path: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in path.strip("/")) or "map"


def _inspect(page: Any, name: str, *, axe: bool = True) -> list[str]:
    """The page's faults: wider than the screen, a table left a table on a phone, serious or
    critical axe violations (when `axe`)."""
    faults = []
    if page.query_selector(".folium-map"):
        page.wait_for_selector("html[data-map-ready=true]", timeout=15_000)
    page.wait_for_load_state("load")
    wide, screen = page.evaluate(WIDTH)
    if wide > screen:
        faults.append(f"{name}: {wide} px wide on a {screen} px screen")
    if screen < 640 and page.evaluate(TABLES_LEFT):
        faults.append(f"{name}: {page.evaluate(TABLES_LEFT)} table(s) not read as lists on a phone")
    page.screenshot(path=str(SCREENSHOTS / "pages" / f"{name}.png"))
    if not axe:
        return faults
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")  # from the site: the CSP allows it
    faults += [f"{name}: axe {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}" for v in page.evaluate(RUN_AXE)]
    return faults


@pytest.mark.parametrize("screen", list(SCREENS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_fits_the_screen_and_has_no_serious_accessibility_fault(browser, site: Site, language: str,
                                                                           screen: str) -> None:
    assert AXE.exists(), "axe-core is vendored by scripts/vendor (portal/web/assets/vendor.txt)"
    (SCREENSHOTS / "pages").mkdir(parents=True, exist_ok=True)
    faults: list[str] = []
    for person, paths in PAGES.items():
        context = _context(browser, site, person, language, screen)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))  # noqa: B023 - read at once
        try:
            for path in paths:
                url = path.format(**site.values)
                page.goto(site.base + url)
                # axe once per page and language on the desktop, and on the phone in Chinese:
                # its rules hardly depend on the width, and it is most of the sweep's time
                faults += _inspect(page, f"{language}-{screen}-{person or 'public'}-{_slug(url)}",
                                   axe=screen == "desktop" or language == "zh-CN")
            faults += [f"{person}: script error {e}" for e in errors]
        finally:
            context.close()
    assert faults == [], "\n".join(faults)


def _map(browser: Any, site: Site, screen: str, language: str = "zh-CN", path: str = "/") -> tuple[Any, Any]:
    context = _context(browser, site, None, language, screen)
    page = context.new_page()
    page.goto(site.base + path)
    page.wait_for_selector("html[data-map-ready=true]", timeout=15_000)
    return context, page


# Whether the highlighted parcel's middle shows on the map and not under the parcel panel.
SELECTION_IN_VIEW = """() => {
    const map = window.portalMap.map, panel = document.getElementById("parcel-panel");
    const shown = window.portalMap.selection;
    if (!shown) return "no highlight";
    const at = map.latLngToContainerPoint(shown.getBounds().getCenter());
    const box = map.getContainer().getBoundingClientRect(), cover = panel.getBoundingClientRect();
    const x = box.left + at.x, y = box.top + at.y;
    const inMap = x >= box.left && x <= box.right && y >= box.top && y <= box.bottom;
    const underPanel = !panel.hidden && x >= cover.left && x <= cover.right && y >= cover.top && y <= cover.bottom;
    return inMap && !underPanel ? "visible" : `at ${Math.round(x)},${Math.round(y)}: panel ${Math.round(cover.top)}`;
}"""


def test_on_a_phone_the_district_fits_the_legend_is_folded_and_a_selection_stays_above_the_panel(
        browser, site: Site) -> None:
    context, page = _map(browser, site, "phone")
    try:
        assert page.evaluate("() => document.querySelector('.map-legend').open") is False
        fits = page.evaluate("""() => {
            const map = window.portalMap.map, d = window.portalMap.district;
            const district = L.latLngBounds([d[1], d[0]], [d[3], d[2]]);
            map.setZoom(map.getMinZoom(), {animate: false});
            map.fitBounds(district, {animate: false});
            return map.getBounds().pad(0.001).contains(district) && map.getZoom() >= map.getMinZoom();
        }""")
        assert fits, "the whole district shows on a phone"
        page.fill("#search-input", "解放路 33号")
        page.wait_for_selector("#search-results li", timeout=10_000)
        assert "解放路33号" in page.inner_text("#search-status"), "the map says what Enter opens"
        page.press("#search-input", "Enter")
        page.wait_for_selector("#parcel-panel:not([hidden]) #parcel-panel-title:has-text('330')", timeout=10_000)
        page.wait_for_timeout(1200)  # the fly to the parcel
        assert page.evaluate(SELECTION_IN_VIEW) == "visible"
        page.screenshot(path=str(SCREENSHOTS / "pages" / "zh-CN-phone-journey-search-panel.png"))
        # the same parcel tapped near the bottom of the screen, where the panel will open over it
        code = page.inner_text("#parcel-panel-title").split()[-1]
        page.click("#parcel-panel-close")
        box = page.locator(".folium-map").bounding_box()
        size = page.evaluate("() => { const s = window.portalMap.map.getSize(); return [s.x, s.y]; }")
        assert size == [box["width"], box["height"]], "the map knows its size when the toolbar grows"
        page.evaluate("""([code, lon, lat]) => {
            const map = window.portalMap.map, size = map.getSize();
            const at = map.latLngToContainerPoint([lat, lon]);
            map.panBy(at.subtract([size.x / 2, size.y - 40]), {animate: false});
        }""", [code, *site.points[code]] if code in site.points else [code, 0, 0])
        page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] - 40)
        page.wait_for_selector(f"#parcel-panel:not([hidden]) #parcel-panel-title:has-text('{code}')", timeout=10_000)
        page.wait_for_timeout(800)
        assert page.evaluate(SELECTION_IN_VIEW) == "visible"
        page.screenshot(path=str(SCREENSHOTS / "pages" / "zh-CN-phone-journey-tap-panel.png"))
    finally:
        context.close()


@pytest.mark.parametrize("screen", list(SCREENS))
def test_a_check_result_fits_the_screen(browser, site: Site, screen: str) -> None:
    context = _context(browser, site, "owner", "zh-CN", screen)
    page = context.new_page()
    try:
        page.goto(site.base + "/check?parcel=" + site.values["parcel"])
        page.fill("input[name=purpose]", "购房前查询")
        page.click("form.form button[type=submit]")
        page.wait_for_selector("dl.facts", timeout=15_000)
        assert _inspect(page, f"zh-CN-{screen}-owner-check-result") == []
    finally:
        context.close()


def test_the_pointer_shows_cgcs2000_lon_lat_and_its_gauss_krueger_zone(browser, site: Site) -> None:
    context, page = _map(browser, site, "desktop", "en")
    try:
        box = page.locator(".folium-map").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        text = page.inner_text(".pointer-coordinates")
        assert text.startswith("CGCS2000 120.") and "Gauss-Krüger 3° zone 40" in text, text
        # the same as PROJ's EPSG:4528 (CGCS2000 / 3-degree Gauss-Kruger zone 40), to the millimetre
        from pyproj import Transformer

        northing, easting = Transformer.from_crs(4490, 4528).transform(30.25, 120.2)
        gk = page.evaluate("() => window.portalMap.gaussKruger(120.2, 30.25)")
        assert gk["zone"] == 40 and abs(gk["y"] - easting) < 0.001 and abs(gk["x"] - northing) < 0.001, (gk, easting)
    finally:
        context.close()
