"""The fast paths (portal.platform.fast_paths): a vector tile GET skips the whole stack, and
answers exactly as the whole stack answers it, over real HTTP against the demo district."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from ogc_server import Server, serve
from starlette.types import Receive, Scope, Send

import layers.routes
from portal.accounts.principal import SESSION_COOKIE
from portal.app import create_app
from portal.platform.fast_paths import FastPaths
from portal.settings import DatabaseSettings, Settings

TILES = "/ogc/collections/parcels/tiles/WebMercatorQuad"
LONG_WAY = {"Content-Length": "0"}  # a request that declares a body is served by the whole stack
VARYING = {"date", "server-timing"}  # times differ from one answer to the next


class WholeStackCounter:
    """Counts the requests the whole application (not a fast path) serves."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[Server]:
    """The portal with no tile cache (both ways compute the tile) and a counter on its whole stack."""
    for running in serve(database_url, cache_size=0):
        stack = running.app.middleware_stack.app
        assert isinstance(stack, FastPaths)
        stack.app = WholeStackCounter(stack.app)
        yield running


def _counter(server: Server) -> WholeStackCounter:
    counter = server.app.middleware_stack.app.app
    assert isinstance(counter, WholeStackCounter)
    return counter


def _parcel_tile(server: Server, z: int = 16) -> str:
    with psycopg.connect(server.database_url) as conn:
        row = conn.execute("SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM parcels "
                           "WHERE end_lifespan IS NULL ORDER BY parcel_code LIMIT 1").fetchone()
    assert row is not None
    lon, lat = row
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"{TILES}/{z}/{y}/{x}"


def _both_ways(server: Server, path: str, headers: dict[str, str] | None = None
               ) -> tuple[httpx.Response, httpx.Response]:
    counter = _counter(server)
    before = counter.calls
    fast = httpx.get(server.url + path, headers=headers or {}, timeout=30)
    assert counter.calls == before, f"{path}: a plain GET of a tile went through the whole stack"
    whole = httpx.get(server.url + path, headers={**(headers or {}), **LONG_WAY}, timeout=30)
    assert counter.calls == before + 1, f"{path}: the request with a body did not take the long way"
    return fast, whole


def _alike(fast: httpx.Response, whole: httpx.Response) -> None:
    assert fast.status_code == whole.status_code
    assert fast.content == whole.content
    fast_headers = {k: v for k, v in fast.headers.multi_items() if k not in VARYING}
    whole_headers = {k: v for k, v in whole.headers.multi_items() if k not in VARYING}
    assert fast_headers == whole_headers
    assert _timings(fast) == _timings(whole)


def _timings(response: httpx.Response) -> set[str]:
    """The names of the response's Server-Timing metrics."""
    return {metric.strip().partition(";")[0] for metric in ",".join(response.headers.get_list("server-timing"))
            .split(",")}


CASES = {
    "a tile of parcels": ("PARCELS", {}),
    "a tile of parcels, for a map on another site": ("PARCELS", {"Origin": "https://maps.example.org"}),
    "a tile of parcels, a browser sent by another site with a session": (
        "PARCELS", {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site",
                    "Cookie": f"{SESSION_COOKIE}=not-a-session", "Accept": "*/*"}),
    "an empty tile": (f"{TILES}/16/0/0", {}),
    "a tile past the last zoom": (f"{TILES}/25/0/0", {"Origin": "https://maps.example.org"}),
    "a column outside the matrix": (f"{TILES}/2/0/9", {}),
    "another format": ("PARCELS?f=png", {}),
    "a control character in the query": ("PARCELS?f=mvt%01", {}),
    "an unknown collection": ("/ogc/collections/nothing/tiles/WebMercatorQuad/16/0/0", {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_tile_answers_alike_on_the_fast_path_and_the_long_way(server: Server, case: str) -> None:
    path, headers = CASES[case]
    path = path.replace("PARCELS", _parcel_tile(server))
    fast, whole = _both_ways(server, path, headers)
    _alike(fast, whole)
    assert fast.headers["x-content-type-options"] == "nosniff"  # the security headers are there
    assert "frame-ancestors 'none'" in fast.headers["content-security-policy"]


def test_the_parcel_tile_is_a_real_tile(server: Server) -> None:
    fast, _ = _both_ways(server, _parcel_tile(server))
    assert fast.status_code == 200 and fast.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert fast.headers["x-tile-cache"] == "miss" and len(fast.content) > 100
    assert _timings(fast) == {"app", "db"}


def test_head_and_other_methods_take_the_long_way(server: Server) -> None:
    counter = _counter(server)
    path = _parcel_tile(server)
    before = counter.calls
    head = httpx.head(server.url + path, timeout=30)
    post = httpx.post(server.url + path, timeout=30)
    assert counter.calls == before + 2
    get = httpx.get(server.url + path, timeout=30)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert post.status_code == 405


def test_oversized_headers_are_refused_on_the_fast_path(server: Server) -> None:
    fast, whole = _both_ways(server, _parcel_tile(server), {"X-Filler": "x" * 40_000,
                                                          "Origin": "https://maps.example.org"})
    _alike(fast, whole)
    assert fast.status_code == 431
    assert fast.json()["code"] == "InvalidRequest"
    assert fast.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(("error", "status", "code"), [
    (psycopg.OperationalError("server closed the connection unexpectedly"), 503, "database_unavailable"),
    (RuntimeError("a bug in the tile route"), 500, "internal_error"),
])
def test_a_failing_tile_is_answered_by_the_apps_own_handlers(server: Server, monkeypatch: pytest.MonkeyPatch,
                                                           error: Exception, status: int, code: str) -> None:
    async def failing(*args: object) -> None:
        raise error

    monkeypatch.setattr(layers.routes, "_tile_row", failing)
    fast, whole = _both_ways(server, _parcel_tile(server))
    _alike(fast, whole)
    assert fast.status_code == status
    assert fast.json()["detail"]["code"] == code
    assert "a bug" not in fast.text and "closed the connection" not in fast.text
    assert fast.headers["x-content-type-options"] == "nosniff"


def test_a_middleware_the_fast_paths_are_not_told_about_stops_the_build(database_url: str) -> None:
    class Unheard:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await self.app(scope, receive, send)

    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=database_url)))
    app.build_middleware_stack()  # every middleware of the portal is accounted for
    app.add_middleware(Unheard)
    with pytest.raises(ValueError, match="Unheard"):
        app.build_middleware_stack()
