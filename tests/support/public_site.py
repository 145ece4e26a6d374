"""The public portal served for real: uvicorn on a free port over the session's (read-only) demo
cadastre, pages opened in the session's headless Chromium, and a sample of the demo's parcels."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import uvicorn
from chromium import SCREENSHOTS
from tiles_stand_in import add_tiles_if_missing

from portal.app import create_app
from portal.settings import DatabaseSettings, Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: object) -> Iterator[str]:
    """Serve an app with uvicorn in a thread on a free port; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,  # type: ignore[arg-type]
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"portal-under-test-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the portal did not start within 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def portal_url(database_url: str) -> Iterator[str]:
    """The application (create_app over the test database) served by uvicorn in a thread."""
    settings = Settings(database=DatabaseSettings(DATABASE_URL=database_url, pool_min_size=1,
                                                  pool_max_size=6))
    app = create_app(settings)
    add_tiles_if_missing(app)
    with serve(app) as url:
        yield url


@pytest.fixture(scope="session")
def http(portal_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal_url, timeout=30) as client:
        yield client


class PageVisit:
    """A browser tab plus every URL it asked for, to prove nothing came from another host."""

    def __init__(self, page: object, base: str) -> None:
        self.page = page
        self.base = base
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []

    def foreign_requests(self) -> list[str]:
        host = urlsplit(self.base).netloc
        return [u for u in self.requests
                if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != host]

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))  # type: ignore[attr-defined]
        return path


def open_page(browser: object, base: str, *, locale: str = "zh-CN",
              viewport: dict[str, int] | None = None,
              headers: dict[str, str] | None = None) -> PageVisit:
    context = browser.new_context(  # type: ignore[attr-defined]
        locale=locale, viewport=viewport or {"width": 1280, "height": 800},
        extra_http_headers={"Accept-Language": locale, **(headers or {})})
    page = context.new_page()
    visit = PageVisit(page, base)
    page.on("request", lambda request: visit.requests.append(request.url))
    page.on("requestfailed", lambda request: visit.failed.append(request.url))
    page.on("pageerror", lambda error: visit.errors.append(str(error)))
    return visit


@pytest.fixture
def visit(browser: object, portal_url: str) -> Iterator[PageVisit]:
    """A fresh tab (new context: no cookies) in Chinese on a desktop-sized screen."""
    page_visit = open_page(browser, portal_url)
    yield page_visit
    page_visit.page.context.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def sample(database_url: str) -> dict[str, object]:
    """A current parcel with units, one of its units, and a parcel made by a split or merge."""
    with psycopg.connect(database_url) as conn:
        code, lon, lat, area, land_use, unit_number, location = conn.execute("""
            SELECT p.parcel_code, ST_X(ST_PointOnSurface(p.geom)), ST_Y(ST_PointOnSurface(p.geom)),
                   p.calculated_area, p.land_use_code, u.unit_number, u.location
              FROM current_parcels p JOIN current_units u ON u.parcel_id = p.parcel_id
             ORDER BY p.parcel_code, u.unit_number LIMIT 1 OFFSET 40""").fetchone()
        child, parent, event = conn.execute("""
            SELECT c.parcel_code, o.parcel_code, l.event
              FROM parcel_lineage l
              JOIN current_parcels c ON c.parcel_id = l.child_parcel_id
              JOIN parcels o ON o.parcel_id = l.parent_parcel_id
             ORDER BY c.parcel_code LIMIT 1""").fetchone()
    return {"parcel_code": code.strip(), "lon": lon, "lat": lat, "area": area,
            "land_use_code": land_use, "unit_number": unit_number, "location": location,
            "child_code": child.strip(), "parent_code": parent.strip(), "event": event}
