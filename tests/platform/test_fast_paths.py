"""The fast paths (portal.platform.fast_paths): a vector tile GET skips the whole stack, and
answers exactly as the whole stack answers it, over real HTTP against the demo district."""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from ogc_server import Server, serve
from starlette.types import Receive, Scope, Send

import layers.routes
import portal.app
import portal.web.errors
from portal.accounts.principal import SESSION_COOKIE
from portal.app import create_app
from portal.platform.fast_paths import FastPaths
from portal.platform.middleware import NoStore
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
    """Same status, body and header fields (each one, in order, doubles included), but for the
    times in Date and Server-Timing; Server-Timing names the same metrics."""
    assert fast.status_code == whole.status_code
    assert fast.content == whole.content
    assert ([(k, v) for k, v in fast.headers.multi_items() if k not in VARYING]
            == [(k, v) for k, v in whole.headers.multi_items() if k not in VARYING])
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
    # every answer carries the security headers, this refusal too, on a portal page as well
    page = httpx.get(server.url + "/guide", headers={"X-Filler": "x" * 40_000}, timeout=30)
    for answer in (fast, page):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert page.status_code == 431 and page.json()["detail"]["code"] == "headers_too_large"


@pytest.mark.parametrize(("error", "status", "message"), [
    (psycopg.OperationalError("server closed the connection unexpectedly"), 503, "database is unavailable"),
    (psycopg.DataError("numeric field overflow"), 422, "cannot be stored"),
    (RuntimeError("a bug in the tile route"), 500, "went wrong on our side"),
])
def test_a_failing_tile_is_answered_by_the_apps_own_handlers(server: Server, monkeypatch: pytest.MonkeyPatch,
                                                           error: Exception, status: int, message: str) -> None:
    """As OGC's JSON exception with CORS (a map on another site reads the 503 and its
    Retry-After), from a browser another site sent with a session too."""
    async def failing(*args: object) -> None:
        raise error

    monkeypatch.setattr(layers.routes, "_tile_row", failing)
    for headers in ({"Origin": "https://maps.example.org"}, CASES["a tile of parcels, a browser sent by another "
                                                                 "site with a session"][1]):
        fast, whole = _both_ways(server, _parcel_tile(server), headers)
        _alike(fast, whole)
        assert fast.status_code == status
        body = fast.json()
        assert body["code"] == ("NoApplicableCode" if status >= 500 else "InvalidParameterValue")
        assert message in body["description"]
        assert "a bug" not in fast.text and "closed the connection" not in fast.text and "overflow" not in fast.text
        assert fast.headers["x-content-type-options"] == "nosniff"
        assert fast.headers["access-control-allow-origin"] == "*"
        assert (fast.headers.get("retry-after") is not None) == (status == 503)
        # a page on another site reads it (the browser shows only the headers exposed to it)
        assert "retry-after" in fast.headers["access-control-expose-headers"].lower()
        # the portal's words in the asker's language beside OGC's English (zh-CN unless asked)
        assert body["language"] == "zh-CN" and any("\u4e00" <= ch <= "\u9fff" for ch in body["localized_description"])
    english = httpx.get(server.url + _parcel_tile(server), headers={"Accept-Language": "en"}, timeout=30).json()
    assert english["language"] == "en" and english["localized_description"] == english["description"]


def test_a_handler_that_fails_still_ends_in_the_one_500(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second safety net (CatchUnexpected) is on the short stack too: a handler that raises
    (here the 503's own log line) ends as the 500 with every header, not uvicorn's bare one."""
    async def away(*args: object) -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    class FailingLog:
        def __getattr__(self, name: str) -> Any:
            return getattr(portal.web.errors.logging.getLogger(portal.web.errors.__name__), name)

        def warning(self, *args: object) -> None:
            raise RuntimeError("the log is full")

    monkeypatch.setattr(layers.routes, "_tile_row", away)
    monkeypatch.setattr(portal.web.errors, "log", FailingLog())
    fast, whole = _both_ways(server, _parcel_tile(server), {"Origin": "https://maps.example.org"})
    _alike(fast, whole)
    assert fast.status_code == 500 and fast.json()["code"] == "NoApplicableCode"
    assert "log is full" not in fast.text
    assert fast.headers["x-content-type-options"] == "nosniff" and "app" in _timings(fast)


@pytest.mark.parametrize("path", [
    f"{TILES}/{'9' * 4301}/1/1", f"{TILES}/1/1/{'1' * 5000}", f"{TILES}/1/{'0' * 4400}9{'0' * 4400}/1",
    f"/ogc/collections/zzz/tiles/WebMercatorQuad/1/1/{'1' * 4301}", f"{TILES}/1234567890/0/0",
])
def test_a_tile_index_of_any_length_is_an_ogc_404(server: Server, path: str) -> None:
    """Past 4,300 digits int() raises: the tile route's index is 1-9 digits, so a longer one is
    OGC's 404 (no tile there), on every method, never a bare 500."""
    for method in ("GET", "HEAD", "POST"):
        for headers in ({}, LONG_WAY):
            answer = httpx.request(method, server.url + path, headers={"Origin": "https://maps.example.org",
                                                                       **headers}, timeout=30)
            expected = 405 if method == "POST" else 404
            assert answer.status_code == expected, (method, headers, answer.status_code, answer.text[:200])
            assert answer.headers["access-control-allow-origin"] == "*"
            assert answer.headers["x-content-type-options"] == "nosniff"
            if method == "GET":
                assert answer.json()["code"] == ("NotFound" if expected == 404 else "InvalidRequest")


class Unheard:
    """A middleware the fast paths are not told about."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def test_a_middleware_the_fast_paths_are_not_told_about_stops_the_app(database_url: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(database=DatabaseSettings(DATABASE_URL=database_url))
    create_app(settings).build_middleware_stack()  # every middleware of the portal is accounted for
    # one of the portal's own, unclassified: create_app refuses
    monkeypatch.setattr(portal.app, "FAST_PATHS_SKIP", {k: v for k, v in portal.app.FAST_PATHS_SKIP.items()
                                                        if k is not NoStore})
    with pytest.raises(ValueError, match="NoStore"):
        create_app(settings)
    monkeypatch.undo()
    # one added later: the server does not start (as `cadastre serve` runs it, lifespan on)
    app = create_app(settings)
    app.add_middleware(Unheard)
    with pytest.raises(ValueError, match="Unheard"):
        app.build_middleware_stack()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="critical"))
    stop = threading.Timer(60, lambda: setattr(server, "should_exit", True))  # were it to start after all
    stop.start()
    try:
        server.run()
    except SystemExit as exit_:  # uvicorn's "startup failed"
        assert exit_.code == 3
    finally:
        stop.cancel()
    assert not server.started
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_leading_zeros_name_the_same_tile(server: Server) -> None:
    """However many zeros lead an index (they never reach int(), which counts them), it is the
    same tile, on the fast path and the long way."""
    path = _parcel_tile(server)
    z, y, x = path.rsplit("/", 3)[1:]
    plain = httpx.get(server.url + path, timeout=30)
    assert plain.status_code == 200
    for padded in (f"{TILES}/{z.zfill(10)}/{y}/{x}", f"{TILES}/{'0' * 5000}{z}/{y.zfill(12)}/{x}"):
        fast, whole = _both_ways(server, padded)
        _alike(fast, whole)
        assert fast.status_code == 200 and fast.content == plain.content


@pytest.fixture(scope="module")
def rooted(database_url: str) -> Iterator[Server]:
    """The portal behind a proxy that serves it under /cadastre (uvicorn --root-path)."""
    yield from serve(database_url, root_path="/cadastre", cache_size=0)


def test_behind_a_root_path_ogc_stays_public_and_head_never_checks(rooted: Server,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The middlewares read the path as the routes do, without the root path: tiles keep their
    caching and /ogc's policy, an /ogc error is OGC's JSON with CORS, and a HEAD of the counted
    check is still refused (it was served as a check: the root path hid /api/check)."""
    path = _parcel_tile(rooted)
    tile = httpx.get(rooted.url + path, timeout=30)
    assert tile.status_code == 200 and "cache-control" not in tile.headers
    assert "script-src 'self' 'unsafe-inline'" in tile.headers["content-security-policy"]
    page = httpx.get(rooted.url + "/guide", timeout=30)
    assert "nonce-" in page.headers["content-security-policy"]
    assert httpx.head(rooted.url + "/api/check", timeout=30).status_code == 405

    async def away(*args: object) -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(layers.routes, "_tile_row", away)
    failed = httpx.get(rooted.url + path, headers={"Accept": "text/html", "Origin": "https://maps.example.org"},
                       timeout=30)
    assert failed.status_code == 503 and failed.json()["code"] == "NoApplicableCode"
    assert failed.headers["access-control-allow-origin"] == "*"
