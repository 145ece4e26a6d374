"""A real uvicorn server of the portal on a free port, for the OGC API clients to read."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from portal.app import create_app
from portal.demo.loader import load_demo
from portal.platform import migrate
from portal.settings import (
    DatabaseSettings,
    OgcSettings,
    PortalSettings,
    Settings,
    TileSettings,
)

ITEMS = "/collections/parcels/items"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
ORIGIN = {"Origin": "https://maps.example.org"}  # a map page on another site (CORS)
FORMATS = ("json", "html", "jsonld")  # every format an items page is offered in


@dataclass
class Server:
    url: str  # the portal's root, e.g. http://127.0.0.1:41234
    database_url: str
    app: Any = None  # the application the server runs (its middleware stack, its state)

    @property
    def ogc(self) -> str:
        return self.url + "/ogc"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(database_url: str, ogc: dict[str, int] | None = None, root_path: str = "",
          **tiles: float) -> Iterator[Server]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        database=DatabaseSettings(DATABASE_URL=database_url),
        portal=PortalSettings(host="127.0.0.1", port=port, public_url=url),
        tiles=TileSettings(**tiles),
        ogc=OgcSettings(**(ogc or {})),
    )
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, root_path=root_path,
                            log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ogc/conformance", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        raise RuntimeError("the OGC test server did not start")
    try:
        yield Server(url, database_url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="session")
def ogc_server(database_url: str) -> Iterator[Server]:
    """The portal on the session's demo district (read-only tests)."""
    yield from serve(database_url)


@pytest.fixture(scope="module")
def writable_server(fresh_database) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """The portal on a small demo district of its own, for tests that change parcels."""
    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=120, seed=11)
    # numberMatched is counted over at most 50 rows here, and old invalidations are pruned
    # every half second (nothing younger than the default hour is ever pruned).
    yield from serve(url, ogc={"count_limit": 50}, max_features=50,
                     invalidation_prune_seconds=0.5)


def ogc_get(server: Server, path: str, **params: object) -> httpx.Response:
    """GET `path` under the server's /ogc, from another site's page (Origin set)."""
    return httpx.get(server.ogc + path, params=params, headers=ORIGIN, timeout=60)
