"""Our own routes for the hot paths of OGC API: items, one item, and vector tiles.

They follow OGC API Features Parts 1-3 and Tiles (same URLs, parameters, links and
headers as pygeoapi would give) but skip pygeoapi's per-request work: the feature JSON and
the MVT come straight from PostgreSQL through the app's async pool with prepared statements,
and tiles are kept in an LRU that publications invalidate (layers.tiles). HTML and JSON-LD
versions are left to pygeoapi (`layers.ogc`), which calls our provider plugins with the same
SQL and the query these routes checked and parsed (the CQL2 filter included).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlencode

from psycopg_pool import AsyncConnectionPool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from layers.catalog import Collection, collection, parse_crs
from layers.errors import InvalidParameter, LayerError, NotFound
from layers.http import CONTROL_REFUSAL, EXPOSED, Cors, control_character
from layers.query import FeatureQuery, from_params, parse_datetime
from layers.sql import TileSpec, count_statement, item_statement, items_statement, tile_query
from layers.tiles import InvalidationListener, TileCache

__all__ = ["fast_routes", "error_response", "OgcRuntime", "ReadConnections", "GEOJSON", "MVT", "SESSION_SETTINGS",
           "ITEM_SESSION_SETTINGS"]

LOG = logging.getLogger(__name__)
GEOJSON = "application/geo+json"
MVT = "application/vnd.mapbox-vector-tile"

HtmlFallback = Callable[[Request], Awaitable[Response]]


class ReadConnections(Protocol):
    """Where public reads go: the application's read router (a healthy replica, else the
    primary). `replicas` is empty when there are none; `connection()` is an async context
    manager giving an autocommit psycopg connection."""

    replicas: list[Any]

    def connection(self, *, primary: bool = False) -> AbstractAsyncContextManager[Any]: ...
# Latency over throughput: a parallel worker or JIT compilation costs more than these
# short queries take (and each new worker process sets up PROJ again).
SESSION_SETTINGS = ("SET max_parallel_workers_per_gather = 0; SET jit = off; "
                    "SET plan_cache_mode = force_custom_plan")
# One item by id: the same statement for every id, whose best plan never depends on it
# (the key's index), so its generic plan is kept; planning it anew took longer than running it.
ITEM_SESSION_SETTINGS = ("SET max_parallel_workers_per_gather = 0; SET jit = off; "
                         "SET plan_cache_mode = force_generic_plan")


class OgcRuntime:
    """What the OGC routes share in one process: settings, tile spec, cache and listener."""

    def __init__(self, base_url: str, default_limit: int, max_limit: int, spec: TileSpec,
                 cache: TileCache, count_limit: int = 10_000) -> None:
        self.base_url = base_url.rstrip("/")
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.count_limit = count_limit
        # Current rows per collection, counted up to count_limit + 1 at start-up.
        self.sizes: dict[str, int] = {}
        self.spec = spec
        self.cache = cache
        self.listener: InvalidationListener | None = None
        self.html: HtmlFallback | None = None
        self.pool: AsyncConnectionPool | None = None
        self.item_pool: AsyncConnectionPool | None = None  # sessions keeping generic plans
        self.reads: ReadConnections | None = None  # the app's read router over `pool` and the replicas
        self.cors = Cors(("*",))

    @staticmethod
    async def configure(conn: Any) -> None:
        await conn.execute(SESSION_SETTINGS)

    def open_pool(self, url: str, max_size: int) -> AsyncConnectionPool:
        """The OGC routes' own pool: sessions tuned for short queries, no health check
        round trip on every request (a broken connection is replaced when it fails)."""
        self.pool = AsyncConnectionPool(url, min_size=2, max_size=max_size, open=False,
                                        kwargs={"autocommit": True}, configure=self.configure,
                                        name="ogc")
        return self.pool

    @staticmethod
    async def configure_items(conn: Any) -> None:
        await conn.execute(ITEM_SESSION_SETTINGS)

    def open_item_pool(self, url: str, max_size: int) -> AsyncConnectionPool:
        """The pool for one item by id (not yet opened): sessions that keep the item
        statement's generic plan (ITEM_SESSION_SETTINGS), apart from the pages' and tiles'
        sessions, whose plans depend on the bbox and the filter."""
        self.item_pool = AsyncConnectionPool(url, min_size=1, max_size=max_size, open=False,
                                             kwargs={"autocommit": True},
                                             configure=self.configure_items, name="ogc-items")
        return self.item_pool

    def item_connection(self) -> AbstractAsyncContextManager[Any]:
        """A connection for one item by id: a replica's when one is healthy (as every public
        read), else one of `item_pool` (or of `pool` before the item pool is open)."""
        if self.item_pool is None or (self.reads is not None and self.reads.replicas):
            return self.read_connection()
        return self.item_pool.connection()

    def read_connection(self, *, fresh: bool = False) -> AbstractAsyncContextManager[Any]:
        """A connection for a public read: a replica when one is healthy, the primary when
        `fresh` data is needed or there is none (then straight from the pool, without the
        router's extra context manager on every request)."""
        if self.reads is None or fresh or not self.reads.replicas:
            assert self.pool is not None, "open_pool first"
            return self.pool.connection()
        return self.reads.connection(primary=fresh)


REPLICA_GRACE_SECONDS = 10.0
_BARE_QUERY = re.compile(rb"[A-Za-z0-9=&._-]*")  # nothing to decode (no %, no +)
# Features Part 3 (/req/queryables/get-queryables-uris): a filterable resource links its
# queryables, in the Link header of its answer.
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
# What one item takes besides its id (Features Parts 1 and 2, datetime for its history).
ITEM_PARAMETERS = ("f", "crs", "datetime", "lang")
_TITLES = {"self": "This document as GeoJSON", "alternate": "This document as HTML",
           "next": "Items (next)", "prev": "Items (previous)"}
CORS_ANY = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED.decode()}


def _timing(started: float) -> str:
    """The time spent in the database (connection, query, rows); the whole request's time
    is added as `app` by portal.platform.timing."""
    return f"db;dur={(time.perf_counter() - started) * 1000:.3f}"


def _runtime(request: Request) -> OgcRuntime:
    runtime: OgcRuntime = request.app.state.ogc
    return runtime


def _wants_html(request: Request) -> bool:
    """Whether pygeoapi draws the answer: an HTML page, or JSON-LD (`f=jsonld`, which the
    collection documents link); GeoJSON is ours."""
    f = request.query_params.get("f") or None  # `f=` is no `f`, as every empty parameter
    if f is not None:
        if f in ("html", "jsonld"):
            return True
        if f in ("json", "geojson", "application/geo+json", "application/json"):
            return False
        raise InvalidParameter(f"f={f!r} is not offered here; use json, html or jsonld")
    accept = request.headers.get("accept", "")
    if "json" not in accept:
        return "text/html" in accept
    return "application/ld+json" in accept and "geo+json" not in accept


def error_response(error: LayerError) -> Response:
    """A LayerError as the OGC exception document (JSON) with its status, and `Vary: Accept`
    (the paths that refuse answer HTML too, when asked)."""
    import json

    return Response(json.dumps(error.body(), ensure_ascii=False), status_code=error.status,
                    media_type="application/json", headers={"Vary": "Accept"})


def _refuse(request: Request, error: LayerError) -> Response:
    """`error_response` with the CORS headers, so a map page can read why."""
    response = error_response(error)
    response.headers.update(_cors(_runtime(request), request))
    return response


def _refuse_controls(scope: Scope) -> None:
    """Raise InvalidParameter when the path or a parameter holds a control character (a NUL
    reaching PostgreSQL would fail the query: a 4xx, never a 500)."""
    where = control_character(scope)
    if where is not None:
        raise InvalidParameter(f"{where} {CONTROL_REFUSAL}")


def _alternates(request: Request, url: str) -> list[tuple[str, str, str]]:
    """The GeoJSON and HTML versions of `url` with the request's parameters (but `f`), for
    the `Link` header of a page drawn by pygeoapi: the same links as the GeoJSON answer's,
    the HTML one `self` when the page is HTML."""
    rest = {k: v for k, v in request.query_params.items() if k != "f"}
    jsonld = request.query_params.get("f") == "jsonld" or (
        "f" not in request.query_params and "application/ld+json" in request.headers.get("accept", ""))
    return [(f"{url}?{urlencode({**rest, 'f': 'json'})}", "alternate", GEOJSON),
            (f"{url}?{urlencode({**rest, 'f': 'html'})}", "alternate" if jsonld else "self",
             "text/html")]


def _drawn(request: Request, response: Response, links: list[tuple[str, str, str]]) -> Response:
    """A page or JSON-LD document drawn by pygeoapi, with the headers of the GeoJSON answer:
    CORS, `Vary: Accept` and (unless it is a refusal) `Link`."""
    response.headers.update(_cors(_runtime(request), request))
    response.headers["Vary"] = "Accept"
    if response.status_code < 400:
        response.headers["Link"] = _link_header(links)
    return response


def _cors(runtime: OgcRuntime, request: Request) -> dict[str, str]:
    if runtime.cors.any:
        return CORS_ANY
    return runtime.cors.text(request.headers.get("origin"))


def _link_header(links: list[tuple[str, str, str]]) -> str:
    """The `Link` header of a page: next, prev and alternate (and self), as in its body."""
    return ", ".join(f'<{href}>; rel="{rel}"; type="{media}"' for href, rel, media in links)


def _link(href: str, rel: str, media: str, title: str) -> str:
    import json

    return json.dumps({"href": href, "rel": rel, "type": media, "title": title},
                      ensure_ascii=False)


async def _html(request: Request) -> Response:
    runtime = _runtime(request)
    assert runtime.html is not None
    return await runtime.html(request)


async def items(request: Request) -> Response:
    """GET /collections/{id}/items: one keyset page of GeoJSON features."""
    collection_id = request.path_params["collection_id"]
    try:
        if request.scope["query_string"]:
            _refuse_controls(request.scope)
        c = collection(collection_id)
        runtime = _runtime(request)
        params = dict(request.query_params)
        if _wants_html(request):
            # Checked and parsed by the same rules (the CQL2 filter too), then drawn by
            # pygeoapi, which applies this query's filter, never its own ECQL reading
            # (layers.ogc, `request.state.feature_query`).
            query = from_params(c, params, default_limit=runtime.default_limit,
                                max_limit=runtime.max_limit)
            items_statement(query)  # refuses what the SQL cannot take (a filter's unknown name)
            request.state.feature_query = query
            url = f"{runtime.base_url}/collections/{c.id}/items"
            return _drawn(request, await _html(request), [
                *_alternates(request, url),
                (f"{runtime.base_url}/collections/{c.id}/queryables", QUERYABLES_REL,
                 "application/schema+json")])
        query = from_params(c, params, default_limit=runtime.default_limit,
                            max_limit=runtime.max_limit)
        statement, values = items_statement(query)
    except LayerError as error:
        return _refuse(request, error)
    started = time.perf_counter()
    countable = _countable(runtime, query)
    async with runtime.read_connection() as conn:
        try:
            if countable:  # the page and its count from one snapshot
                await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur = await conn.execute(statement, values, prepare=True)
            rows = await cur.fetchall()
            more = len(rows) > query.limit
            rows = rows[: query.limit]
            matched = await _number_matched(runtime, conn, query, len(rows), more, countable)
            if countable:
                await conn.execute("COMMIT")
        except Exception:
            LOG.exception("items query failed for %s", c.id)
            if countable:
                await conn.rollback()
            return _refuse(request, LayerError())
    db_time = _timing(started)
    url = f"{runtime.base_url}/collections/{c.id}/items"
    keep = {k: v for k, v in params.items() if k not in ("f", "offset", "after")}
    this_page = {k: v for k, v in params.items() if k != "f"}
    paging = [(f"{url}?{urlencode({**this_page, 'f': 'json'})}", "self", GEOJSON),
              (f"{url}?{urlencode({**this_page, 'f': 'html'})}", "alternate", "text/html")]
    if more and query.sortby:  # a sorted list pages by offset (a cursor follows the id)
        nxt = urlencode({**keep, "offset": str(query.offset + query.limit), "f": "json"})
        paging.append((f"{url}?{nxt}", "next", GEOJSON))
    elif more:
        nxt = urlencode({**keep, "after": str(rows[-1][0]).strip(), "f": "json"})
        paging.append((f"{url}?{nxt}", "next", GEOJSON))
    if query.offset and query.after is None:
        prev = urlencode({**keep, "offset": str(max(query.offset - query.limit, 0)), "f": "json"})
        paging.append((f"{url}?{prev}", "prev", GEOJSON))
    links = [_link(href, rel, media, _TITLES[rel]) for href, rel, media in paging]
    links.insert(2, _link(f"{runtime.base_url}/collections/{c.id}", "collection",
                          "application/json", c.title))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = (
        '{"type":"FeatureCollection","features":[' + ",".join(r[1] for r in rows)
        + "]" + ("" if matched is None else f',"numberMatched":{matched}')
        + f',"numberReturned":{len(rows)},"timeStamp":"{stamp}","links":['
        + ",".join(links) + "]}"
    )
    headers = {"Content-Crs": f"<{query.crs.uri}>", "Server-Timing": db_time, "Vary": "Accept",
               "Link": _link_header([*paging, (f"{runtime.base_url}/collections/{c.id}/queryables",
                                               QUERYABLES_REL, "application/schema+json")]),
               **_cors(runtime, request)}
    return Response(body, media_type=GEOJSON, headers=headers)


def _countable(runtime: OgcRuntime, query: FeatureQuery) -> bool:
    """Whether numberMatched may be counted: the rows to examine are few, those a bbox
    selects or a collection of at most `count_limit` rows."""
    return query.bbox is not None or \
        runtime.sizes.get(query.collection.id, runtime.count_limit + 1) <= runtime.count_limit


async def _number_matched(runtime: OgcRuntime, conn: Any, query: FeatureQuery, returned: int,
                          more: bool, countable: bool) -> int | None:
    """numberMatched when it is exact and cheap, else None (OGC API Features makes it
    optional, but a number that is sent must be right).

    The last page of an offset query tells it for free. Otherwise it is counted when
    `countable`, in the page's own snapshot; the count gives up past `count_limit` examined
    rows (layers.sql.count_statement).
    """
    if not more and query.after is None and (returned or query.offset == 0):
        return query.offset + returned
    if not countable:
        return None
    statement, values = count_statement(query, runtime.count_limit)
    cur = await conn.execute(statement, values, prepare=True)
    row = await cur.fetchone()
    if row is None or row[1] > runtime.count_limit:
        return None
    return int(row[0])


async def item(request: Request) -> Response:
    """GET /collections/{id}/items/{featureId}: one feature (current, or as of `datetime`)."""
    collection_id = request.path_params["collection_id"]
    item_id = request.path_params["item_id"]
    runtime = _runtime(request)
    try:
        _refuse_controls(request.scope)
        c = collection(collection_id)
        if request.scope["query_string"]:
            for name in request.query_params:
                if name not in ITEM_PARAMETERS:
                    raise InvalidParameter(f"unknown parameter {name!r}; one item takes "
                                           + ", ".join(ITEM_PARAMETERS))
        crs = parse_crs(request.query_params.get("crs"))
        when = parse_datetime(request.query_params.get("datetime"))
        if isinstance(when, tuple):
            raise InvalidParameter("datetime for one item must be an instant")
        if item_id != item_id.strip():
            # The key is char(n), which ignores trailing spaces: an id is matched exactly.
            raise NotFound(f"no feature {item_id!r} in {c.id}")
        url = f"{runtime.base_url}/collections/{c.id}/items/{quote(item_id, safe='')}"
        collection_link = (f"{runtime.base_url}/collections/{c.id}", "collection", "application/json")
        if _wants_html(request):  # drawn by pygeoapi, as of `datetime` (layers.ogc)
            return _drawn(request, await _html(request),
                          [*_alternates(request, url), collection_link])
        statement, values = item_statement(c, item_id, crs, when)
    except LayerError as error:
        return _refuse(request, error)
    started = time.perf_counter()
    try:
        async with runtime.item_connection() as conn:
            cur = await conn.execute(statement, values, prepare=True)
            row = await cur.fetchone()
    except Exception:
        LOG.exception("item query failed for %s", c.id)
        return _refuse(request, LayerError())
    db_time = _timing(started)
    if row is None:
        return _refuse(request, NotFound(f"no feature {item_id!r} in {c.id}"))
    keep = {k: v for k, v in request.query_params.items() if k != "f"}
    paging = [(f"{url}?{urlencode({**keep, 'f': 'json'})}", "self", GEOJSON),
              (f"{url}?{urlencode({**keep, 'f': 'html'})}", "alternate", "text/html")]
    links = ",".join([
        *(_link(href, rel, media, _TITLES[rel]) for href, rel, media in paging),
        _link(collection_link[0], "collection", "application/json", c.title),
    ])
    body = row[1][:-1] + ',"links":[' + links + "]}"
    return Response(body, media_type=GEOJSON,
                    headers={"Content-Crs": f"<{crs.uri}>", "Server-Timing": db_time,
                             "Vary": "Accept", "Link": _link_header([*paging, collection_link]),
                             **_cors(runtime, request)})


class TileIndex(Convertor[int]):
    """A tile path's zoom, row or column: ASCII digits, of which at most 9 after any leading
    zeros (WebMercatorQuad's largest index, at zoom 24, has 8). A longer number is no path of the
    tile route, so `no_tile` answers it (OGC's 404); it never reaches `int()`, which raises past
    4,300 digits, leading zeros counted (a bare 500 before any handler, found by review)."""

    regex = "0*[0-9]{1,9}"

    def convert(self, value: str) -> int:
        return int(value.lstrip("0") or "0")

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("tile_index", TileIndex())


class TileEndpoint:
    """GET /collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}: a Mapbox vector tile.

    A bare ASGI endpoint rather than a request/response function: a cold tile is a single
    short query, so the Request and Response objects, their header parsing and the
    exception wrapping were a measurable share of it (bench/ogc.py). The portal serves a
    tile GET on a short stack of its protections (security headers, header limit, CrossSite,
    timing, error handlers: portal.platform.fast_paths), HEAD and the rest under every
    middleware.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        z, y, x = params["z"], params["y"], params["x"]
        try:
            c: Collection = collection(params["collection_id"])
            if scope["query_string"]:
                where = control_character(scope)
                if where is not None:
                    raise InvalidParameter(f"{where} {CONTROL_REFUSAL}")
                f = _tile_format(scope["query_string"])
                if f not in ("mvt", "pbf", MVT):
                    raise InvalidParameter(f"f={f!r}: tiles are offered as mvt only")
            if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
                raise NotFound(f"tile {z}/{y}/{x} is outside WebMercatorQuad")
        except LayerError as error:
            response = error_response(error)
            response.raw_headers += scope["app"].state.ogc.cors.of_scope(scope)
            await response(scope, receive, send)
            return
        runtime: OgcRuntime = scope["app"].state.ogc
        key = (c.tile_layer, z, x, y)
        data = runtime.cache.get(key)
        if data is not None:
            await _send_tile(send, data, [(b"x-tile-cache", b"hit"), *runtime.cors.of_scope(scope)])
            return
        started = time.perf_counter()
        generation = runtime.cache.generation
        statement, values = tile_query(c, z, x, y, runtime.spec)
        # Right after a publication a replica may not have replayed it yet: a tile cached
        # from it would stay stale, so for a few seconds tiles come from the primary.
        fresh = time.monotonic() - runtime.cache.invalidated_at < REPLICA_GRACE_SECONDS
        pool = runtime.pool
        if pool is not None and (fresh or runtime.reads is None or not runtime.reads.replicas):
            # The primary's pool without its context manager (read_connection's): a cold
            # tile is one short query, and the manager's generator and the connection's own
            # `async with` (a commit, with nothing to commit) were a measurable share of it.
            conn = await pool.getconn()
            try:
                row = await _tile_row(conn, statement, values)
            finally:
                await pool.putconn(conn)
        else:
            async with runtime.read_connection(fresh=fresh) as conn:
                row = await _tile_row(conn, statement, values)
        data = bytes(row[0]) if row and row[0] is not None else b""
        if runtime.listener is not None and runtime.listener.listening:
            runtime.cache.put(key, data, generation)
        await _send_tile(send, data, [(b"x-tile-cache", b"miss"),
                                      (b"server-timing", _timing(started).encode()),
                                      *runtime.cors.of_scope(scope)])


async def _tile_row(conn: Any, statement: str, values: dict[str, object]) -> Any:
    # Binary results: the tile's bytes travel as they are, not hex-encoded.
    cur = conn.cursor(binary=True)
    await cur.execute(statement, values, prepare=True)
    return await cur.fetchone()


def _tile_format(query: bytes) -> str:
    """A tile's `f` parameter as parse_qs reads it (the last non-empty one), "mvt" without;
    a query of bare names and values (e.g. `f=mvt`) is split as it is."""
    if _BARE_QUERY.fullmatch(query):
        f = "mvt"
        for pair in query.split(b"&"):
            name, _, value = pair.partition(b"=")
            if name == b"f" and value:
                f = value.decode("ascii")
        return f
    return parse_qs(query.decode("latin-1")).get("f", ["mvt"])[-1]


async def _send_tile(send: Send, data: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    if data:
        headers += [(b"content-type", MVT.encode()), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
    else:
        await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def no_tile(request: Request) -> Response:
    """A tile path the tile route does not match (a negative or non-integer row, another tile
    matrix set): the OGC exception, not the portal's generic 404."""
    params = request.path_params
    try:
        _refuse_controls(request.scope)
        collection(params["collection_id"])
        if params["tileMatrixSetId"] != "WebMercatorQuad":
            raise NotFound("tiles are offered in the WebMercatorQuad tile matrix set only")
        for name in ("z", "y", "x"):
            if not (params[name].isascii() and params[name].lstrip("-").isdigit()):
                raise InvalidParameter(f"{params[name]!r} in the tile path is not an integer")
        raise NotFound("the tile is outside WebMercatorQuad")
    except LayerError as error:
        return _refuse(request, error)


def fast_routes(prefix: str) -> list[Route]:
    """The routes above, to be placed before pygeoapi's routes under `prefix` (/ogc); the
    tiles first, the route asked most often (their paths match no other of these)."""
    cid = prefix + "/collections/{collection_id}"
    return [
        Route(cid + "/tiles/WebMercatorQuad/{z:tile_index}/{y:tile_index}/{x:tile_index}", TileEndpoint(),
              methods=["GET"]),
        Route(cid + "/items", items, methods=["GET"]),
        Route(cid + "/items/{item_id}", item, methods=["GET"]),
        Route(cid + "/tiles/{tileMatrixSetId}/{z}/{y}/{x}", no_tile, methods=["GET"]),
    ]
