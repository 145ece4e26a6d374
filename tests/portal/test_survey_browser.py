"""The surveyor's and registrar's pages in real headless Chromium against a real server:
upload a file with an overlap and see the fault highlighted; approve a clean one."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import uvicorn

from portal import migrate
from portal.app import create_app
from portal.demo.loader import load_demo
from portal.permissions import Principal, Role
from portal.settings import DatabaseSettings, Settings
from survey_files import FREE_NORTHING, block, exchange

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PEOPLE = {
    "surveyor": Principal(11, "张测绘", frozenset({Role.SURVEYOR}), "测试测绘院"),
    "registrar": Principal(21, "王登记", frozenset({Role.REGISTRAR})),
}
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def site(fresh_database) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, parcels=60, seed=5)
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=url)))

    async def resolver(request):  # type: ignore[no-untyped-def]
        return PEOPLE.get(request.headers.get("x-test-person", ""), Principal())

    app.state.principal_resolver = resolver
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", url
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield launched
        launched.close()


def _page(browser, person: str, language: str = "zh-CN"):  # type: ignore[no-untyped-def]
    context = browser.new_context(extra_http_headers={"x-test-person": person}, locale=language,
                                  viewport={"width": 1200, "height": 900})
    return context.new_page()


def test_surveyor_sees_the_overlap_highlighted(site, browser, tmp_path) -> None:
    base, url = site
    with psycopg.connect(url) as conn:
        code, xmin, ymin = conn.execute(
            "SELECT parcel_code, ST_XMin(survey_geom), ST_YMin(survey_geom) FROM current_parcels "
            "ORDER BY parcel_id LIMIT 1").fetchone()
    upload = tmp_path / "overlap.txt"
    upload.write_bytes(exchange(block("330102001001GB09101", xmin - 3, ymin - 3, 6)))
    page = _page(browser, "surveyor", "en")
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
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "survey-report-overlap.png"), full_page=True)
    assert foreign == []


def test_registrar_approves_a_clean_survey_and_it_is_published(site, browser, tmp_path) -> None:
    base, url = site
    upload = tmp_path / "clean.txt"
    upload.write_bytes(exchange(block("330102001001GB09102", 40_515_130.0, FREE_NORTHING, 12)))
    surveyor = _page(browser, "surveyor")
    surveyor.goto(f"{base}/surveys")
    surveyor.set_input_files("#file", str(upload))
    surveyor.click("#upload-form button[type=submit]")
    surveyor.wait_for_url(f"{base}/surveys/*")
    detail = surveyor.url
    surveyor.click("button[data-action=submit]")
    surveyor.wait_for_selector("#status.status-submitted")
    registrar = _page(browser, "registrar")
    registrar.goto(f"{base}/surveys/review")
    registrar.click(f"a[href='{detail.removeprefix(base)}'] >> nth=0")
    registrar.wait_for_selector("#preview svg path.upload")
    registrar.screenshot(path=str(SHOTS / "survey-review.png"), full_page=True)
    registrar.click("button[data-action=approve]")
    registrar.wait_for_selector("#status.status-approved")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM current_parcels WHERE parcel_code = '330102001001GB09102'"
                            ).fetchone()[0] == 1
