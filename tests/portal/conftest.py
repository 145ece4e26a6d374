"""Fixtures of the portal tests: a live server on a demo district and a headless Chromium.

Until the accounts module is merged into a test, the server learns who is asking from an
`x-test-person` header, through the one boundary the accounts module fills
(`app.state.principal_resolver`). Also makes this folder's helper modules importable by name.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from people import CHROMIUM, header_principal  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_site(fresh_database) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(base URL, database URL) of a real uvicorn server on a fresh demo district of 80 parcels."""
    import uvicorn

    from portal import migrate
    from portal.app import create_app
    from portal.demo.loader import load_demo
    from portal.settings import DatabaseSettings, Settings

    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, parcels=80, seed=5)
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=url)))
    app.state.principal_resolver = header_principal
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
    """Debian's Chromium, headless, through Playwright (no downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield launched
        launched.close()
