"""Fixtures of the portal tests: a live server on a demo district and a headless Chromium.

Until the accounts module is merged into a test, the server learns who is asking from an
`x-test-person` header, through the one boundary the accounts module fills
(`app.state.principal_resolver`). Also makes this folder's helper modules importable by name.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from harness import CHROMIUM, header_principal, serve  # noqa: E402


@pytest.fixture(scope="module")
def live_site(fresh_database) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(base URL, database URL) of a real uvicorn server on a fresh demo district of 80 parcels."""
    from portal.app import create_app
    from portal.demo.loader import load_demo
    from portal.platform import migrate
    from portal.settings import DatabaseSettings, Settings

    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=80, seed=5)
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=url)))
    app.state.principal_resolver = header_principal
    base, server = serve(app)
    yield base, url
    server.should_exit = True
    server.thread.join(10)


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


@pytest.fixture(scope="module")
def scratch_cluster() -> Iterator[object]:
    """A factory of throwaway PostgreSQL clusters of our own (to stop, restart or replicate
    without touching the shared one), inside the project's state folder where the `postgres`
    account can reach them; all destroyed at the end of the module."""
    import secrets
    import shutil

    from portal.platform.cluster import Cluster
    from portal.settings import project_root

    made: list[Cluster] = []

    def make(name: str) -> Cluster:
        cluster = Cluster(project_root() / ".cadastre" / f"test-{name}-{secrets.token_hex(3)}")
        made.append(cluster)
        return cluster

    yield make
    for cluster in reversed(made):
        cluster.destroy()
        shutil.rmtree(cluster.state_dir, ignore_errors=True)

