"""Fixtures of the workflow tests (surveys, registry, the whole app): a live server on a demo
district of the module's own, and throwaway PostgreSQL clusters.

The server learns who is asking from an `x-test-person` header (or a real account's session),
through the one boundary the accounts module fills (`app.state.principal_resolver`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import header_principal, serve


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

