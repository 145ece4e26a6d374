"""OGC API under /ogc: pygeoapi for the documents, our routes for the hot paths.

`OgcLayer` is the only thing the application uses. It gives our fast routes
(items, item, tiles; layers.routes) and, after them, thin routes that hand everything else
(landing page, conformance, collections, queryables, schema, tile-set metadata, OpenAPI,
HTML pages) to pygeoapi's framework-free API functions; the OpenAPI document is ours
(layers.openapi). This is the only module that
imports pygeoapi's API; pygeoapi's own Starlette app is never imported, because it reads its
configuration from files at import time. Instead the configuration and OpenAPI document are
generated from `LayersSettings` when the application starts (layers.config) and an `API` object
is built from them then.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pygeoapi
import pygeoapi.api as core_api
import pygeoapi.api.itemtypes as itemtypes_api
import pygeoapi.api.tiles as tiles_api
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from psycopg_pool import AsyncConnectionPool
from pygeoapi.api import API, APIRequest
from pygeoapi.util import render_j2_template
from starlette._utils import get_route_path
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from layers.catalog import COLLECTIONS, collection
from layers.config import OGC_PREFIX, build_config
from layers.conformance import CONFORMANCE
from layers.errors import BadFilter, InvalidParameter, LayerError, NotFound
from layers.extents import Extents
from layers.http import Cors, ReadOnly, StaticFiles
from layers.openapi import openapi_document
from layers.pool import close_pools
from layers.providers.features import ITEM_AS_OF, ITEMS_FILTER, PAGE_AFTER, KeysetPage, ParsedFilter
from layers.query import FeatureQuery, parse_datetime
from layers.routes import OgcRuntime, ReadConnections, TileEndpoint, error_response, fast_routes
from layers.settings import LayersSettings
from layers.sql import TileSpec, size_statement
from layers.tilejson import tilejson
from layers.tiles import InvalidationListener, TileCache
from layers.tms import with_tms1_members

__all__ = ["OgcLayer", "ReadConnections"]

LOG = logging.getLogger(__name__)
# What pygeoapi's documents are offered as, when chosen by the Accept header.
DOCUMENT_FORMATS = (None, "json", "html", "jsonld")
JSON_TYPES = (None, "application/json", "application/ld+json", "application/schema+json")
# Features Part 3 (/req/queryables/get-queryables-definition): the queryables are a JSON Schema
# of one of these dialects; both collections store MultiPolygons (migration 0001).
QUERYABLES_DIALECT = "https://json-schema.org/draft/2019-09/schema"
GEOMETRY_FORMAT = "geometry-multipolygon"
DEAD_ENDS = ("/processes", "/jobs")
DEAD_LINK_TAG = re.compile(r'\s*<link\b[^>]*href="[^"]*/(?:processes|jobs)"[^>]*>')


def _to_response(headers: dict[str, str], status: int, content: Any) -> Response:
    response: Response
    if headers.get("Content-Type") == "text/html":
        response = HTMLResponse(content=content, status_code=status)
    elif isinstance(content, dict):
        response = JSONResponse(content, status_code=status)
    else:
        response = Response(content, status_code=status)
    response.headers.update(headers)
    response.headers["Vary"] = "Accept"  # every pygeoapi document is negotiated
    return response


def _asgi(handler: Callable[[Request], Any]) -> ASGIApp:
    """A request/response handler as a bare ASGI app (for wrapping in ReadOnly)."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handler(Request(scope, receive))
        await response(scope, receive, send)

    return app


def _without_dead_links(document: dict[str, Any]) -> None:
    """pygeoapi's landing page always links /processes and /jobs, which we do not serve."""
    document["links"] = [link for link in document.get("links", [])
                         if not link.get("href", "").endswith(DEAD_ENDS)]


def _queryables(document: dict[str, Any]) -> None:
    """pygeoapi names the dialect by its http:// URI and the geometry as any geometry."""
    document["$schema"] = QUERYABLES_DIALECT
    geometry = document.get("properties", {}).get("geometry")
    if isinstance(geometry, dict):
        geometry["format"] = GEOMETRY_FORMAT


# OGC API Tiles (OGC 20-057) names the list /tileMatrixSets; pygeoapi links /TileMatrixSets,
# which now only redirects there (`_to_tile_matrix_sets`).
TMS_PATH = "/tileMatrixSets"
OLD_TMS_PATH = "/TileMatrixSets"
# The titles of the sets in OGC 17-083r4 Annex D (pygeoapi titles WorldCRS84Quad wrongly).
TMS_TITLES = {"WorldCRS84Quad": "CRS84 for the World",
              "WebMercatorQuad": "Google Maps Compatible for the World"}
TILESET_REL = "http://www.opengis.net/def/rel/ogc/1.0/tileset"


def _tile_matrix_sets(document: dict[str, Any]) -> None:
    """The list of tile matrix sets as OGC API Tiles gives it: each set's own title, and its
    links one `self` (the JSON definition) and `alternate`s (pygeoapi marks both `self`)."""
    for tms in document.get("tileMatrixSets", []):
        if tms.get("id") in TMS_TITLES:
            tms["title"] = TMS_TITLES[tms["id"]]
        for link in tms.get("links", []):
            link["rel"] = "self" if link.get("type") == "application/json" else "alternate"


def _tile_matrix_set_definition(document: dict[str, Any]) -> None:
    """One set's definition: its title as in OGC 17-083r4 (pygeoapi gives its id), and the
    TMS 1.0 members (layers.tms)."""
    if document.get("id") in TMS_TITLES:
        document["title"] = TMS_TITLES[document["id"]]
    with_tms1_members(document)


def _tilesets(document: dict[str, Any]) -> None:
    """pygeoapi's list of a collection's tile sets links a URI template as a second `self`:
    a template is a tile set (OGC API Tiles' tileset relation), never this document."""
    for link in document.get("links", []):
        if link.get("rel") == "self" and "{" in link.get("href", ""):
            link["rel"] = TILESET_REL
            link["templated"] = True


async def _tile_matrix_set(request: Request) -> Response:
    """GET /tileMatrixSets/{id}: one of TMS_TITLES' sets (pygeoapi's 400 for any other id is
    a 404 here: no such resource)."""
    if request.path_params["tileMatrixSetId"] not in TMS_TITLES:
        return error_response(NotFound("no such tile matrix set; "
                                       + " and ".join(TMS_TITLES) + " are offered"))
    answer: Response = await _TILE_MATRIX_SET(request)
    return answer


async def _to_tile_matrix_sets(request: Request) -> Response:
    """/TileMatrixSets[/{id}] (pygeoapi's spelling, linked before): a permanent redirect to
    the path OGC API Tiles and our OpenAPI name, query kept."""
    path = request.url.path.replace(OLD_TMS_PATH, TMS_PATH, 1)
    query = request.url.query
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=308,
                            headers={"Vary": "Accept"})


def _without_dead_link_tags(page: str) -> str:
    return DEAD_LINK_TAG.sub("", page)


def _failed(request: Request) -> Response:
    """An unexpected failure inside pygeoapi: logged, and answered as an OGC exception
    (never a dropped connection, never a stack trace)."""
    LOG.exception("OGC API failed on %s %s", request.method, request.url.path)
    return error_response(LayerError())


def _call(function: Callable[..., Any], *names: str,
          fix: Callable[[dict[str, Any]], None] | None = None,
          fix_html: Callable[[str], str] | None = None) -> Callable[[Request], Any]:
    """A route handler that calls a pygeoapi API function with the given path parameters;
    `fix` corrects a JSON answer in place before it is sent, `fix_html` a page."""

    async def handler(request: Request) -> Response:
        api: API | None = getattr(request.app.state, "pygeoapi", None)
        if api is None:
            return JSONResponse({"code": "NoApplicableCode",
                                 "description": "OGC API is starting"}, status_code=503)
        try:
            api_request = await APIRequest.from_starlette(request, api.locales)
            if "f" not in request.query_params and api_request._format not in DOCUMENT_FORMATS:
                # An Accept of only image/png (say): answer the default, JSON, and label it so.
                api_request._format = None
            if not api_request.is_valid():
                headers, status, content = api.get_format_exception(api_request)
            else:
                args = [request.path_params.get(n) for n in names]
                headers, status, content = await run_in_threadpool(function, api, api_request,
                                                                   *args)
            if isinstance(content, str) and OLD_TMS_PATH in content:
                content = content.replace(api.base_url + OLD_TMS_PATH, api.base_url + TMS_PATH)
            if fix is not None and status == 200 and headers.get("Content-Type") in JSON_TYPES:
                document = json.loads(content) if isinstance(content, str | bytes) else content
                fix(document)
                content = json.dumps(document, ensure_ascii=False)
            elif fix_html is not None and status == 200 and isinstance(content, str):
                content = fix_html(content)
            return _to_response(headers, status, content)
        except LayerError as error:
            return error_response(error)
        except Exception:  # noqa: BLE001 - whatever pygeoapi raises, the client gets an answer
            return _failed(request)

    return handler


_TILE_MATRIX_SET = _call(tiles_api.tilematrixset, "tileMatrixSetId",
                         fix=_tile_matrix_set_definition)
_TILES_METADATA = _call(tiles_api.get_collection_tiles_metadata, "collection_id",
                        "tileMatrixSetId")


async def _tilejson(request: Request) -> Response:
    """GET /collections/{id}/tiles/{tileMatrixSetId}/metadata: the tile set as TileJSON 3.0
    (`f=json`, `f=tilejson`, or no `f`); its HTML page (`f=html`) is pygeoapi's."""
    api: API | None = getattr(request.app.state, "pygeoapi", None)
    f = request.query_params.get("f")
    accept = request.headers.get("accept", "")
    if f == "html" or (not f and "text/html" in accept and "json" not in accept) or api is None:
        response: Response = await _TILES_METADATA(request)
        return response
    try:
        if f not in (None, "", "json", "tilejson", "application/json"):
            raise InvalidParameter(f"f={f!r} is not offered here; use tilejson, json or html")
        c = collection(request.path_params["collection_id"])
        if request.path_params["tileMatrixSetId"] != "WebMercatorQuad":
            raise NotFound("tiles are offered in the WebMercatorQuad tile matrix set only")
    except LayerError as error:
        return error_response(error)
    resource = api.config["resources"][c.id]
    bounds = resource.get("extents", {}).get("spatial", {}).get("bbox")
    document = tilejson(c, api.base_url, bounds, c.title, c.description,
                        api.config["metadata"]["provider"]["name"])
    return JSONResponse(document, headers={"Vary": "Accept"})


async def _conformance(request: Request) -> Response:
    """GET /conformance: the classes of layers.conformance (JSON, or pygeoapi's page)."""
    api: API | None = getattr(request.app.state, "pygeoapi", None)
    f = request.query_params.get("f")
    accept = request.headers.get("accept", "")
    document = {"conformsTo": list(CONFORMANCE)}
    try:
        if f == "html" or (not f and "text/html" in accept and "json" not in accept):
            if api is None:
                raise LayerError("OGC API is starting")
            page = render_j2_template(api.tpl_config, api.config["server"]["templates"],
                                      "conformance.html", document, api.default_locale)
            return HTMLResponse(page, headers={"Vary": "Accept"})
        if f not in (None, "", "json", "application/json"):
            raise InvalidParameter(f"f={f!r} is not offered here; use json or html")
    except LayerError as error:
        return error_response(error)
    return JSONResponse(document, headers={"Vary": "Accept"})


def _items_html(request: Request) -> Any:
    """pygeoapi's items/item pages (HTML) for our routes' `f=html` fallback."""
    if "item_id" in request.path_params:
        # layers.routes checked `datetime` (an instant or none); the provider reads it here.
        when = parse_datetime(request.query_params.get("datetime"))
        ITEM_AS_OF.set(when if isinstance(when, dt.datetime) else None)
        return _ITEM_PAGE(request)
    params = request.query_params
    query: FeatureQuery | None = getattr(request.state, "feature_query", None)
    if query is not None and query.filter is not None:
        ITEMS_FILTER.set(ParsedFilter(query.filter, query.filter_crs))
    if not params.get("offset") and not params.get("sortby"):  # a page by cursor: its next link carries the cursor on
        runtime: OgcRuntime = request.app.state.ogc
        rest = urlencode([(k, v) for k, v in params.multi_items() if k != "after"])
        url = f"{runtime.base_url}/collections/{request.path_params['collection_id']}/items"
        PAGE_AFTER.set(KeysetPage(params.get("after") or None, f"{url}?{rest}"))
    return _ITEMS_PAGE(_for_pygeoapi(request, query))


def _for_pygeoapi(request: Request, query: FeatureQuery | None) -> Request:
    """The items request as pygeoapi is to read it: without `filter-lang` (layers.query accepted
    it: cql2-text, the default; pygeoapi knows only ECQL's names and refuses it), `sortby` as
    layers.query read it (`+area` arrives as ` area`, which pygeoapi refuses), and without a
    body (which pygeoapi would read as a CQL2 JSON filter the GeoJSON route never applies).
    An empty parameter is dropped: layers.query reads it as absent (`filter=` is no filter, as
    the HTML page's own form sends its empty fields), and pygeoapi would refuse some of them."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "filter-lang" and v.strip() != ""]
    if query is not None and query.sortby:
        sortby = ",".join(("-" if descending else "") + name for name, descending in query.sortby)
        kept = [(k, sortby if k == "sortby" else v) for k, v in kept]

    async def no_body() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    return Request({**request.scope, "query_string": urlencode(kept).encode("latin-1")}, no_body)


def _parsed_filter(text: str) -> ParsedFilter:
    """pygeoapi's `parse_ecql_text` for the items pages: the filter layers.routes parsed as
    CQL2 text (the GeoJSON route's), never pygeoapi's ECQL reading of `text`."""
    parsed = ITEMS_FILTER.get()
    if parsed is None:  # not through layers.routes: pygeoapi answers 400 (Bad CQL text)
        raise BadFilter("filter was not read as CQL2 text")
    return parsed


def _as_parsed(filter_: ParsedFilter, **_: Any) -> ParsedFilter:
    """pygeoapi's `modify_pygeofilter` for the items pages: the filter's geometries stay in its
    `filter-crs`, which layers.sql applies (layers.cql)."""
    return filter_


def _any_time(extents: dict[str, Any], datetime_: str | None) -> str | None:
    """pygeoapi's `validate_datetime` for items pages, without its 400 for a time outside the
    collection's temporal extent: layers.routes checked `datetime` before pygeoapi draws the
    page (layers.query.parse_datetime, which the provider reads it with), and a time that
    selects nothing is an empty page in every format, as GeoJSON answers (OGC API Features
    Part 1, /req/core/fc-time-response: only the features whose time intersects are returned)."""
    return datetime_


_ITEM_PAGE = _call(itemtypes_api.get_collection_item, "collection_id", "item_id")
_ITEMS_PAGE = _call(itemtypes_api.get_collection_items, "collection_id")


def _pygeoapi_routes() -> list[Any]:
    static = Path(pygeoapi.__file__).parent / "static"
    cid = "/collections/{collection_id}"
    return [
        Route("/", _call(core_api.landing_page, fix=_without_dead_links,
                                 fix_html=_without_dead_link_tags)),
        Route("/openapi", _call(core_api.openapi_)),
        Route("/conformance", _conformance),
        Route(TMS_PATH, _call(tiles_api.tilematrixsets, fix=_tile_matrix_sets)),
        Route(TMS_PATH + "/{tileMatrixSetId}", _tile_matrix_set),
        Route(OLD_TMS_PATH, _to_tile_matrix_sets),
        Route(OLD_TMS_PATH + "/{tileMatrixSetId}", _to_tile_matrix_sets),
        Route("/collections", _call(core_api.describe_collections)),
        Route(cid, _call(core_api.describe_collections, "collection_id")),
        Route(f"{cid}/schema", _call(core_api.get_collection_schema, "collection_id")),
        Route(f"{cid}/queryables",
              _call(itemtypes_api.get_collection_queryables, "collection_id", fix=_queryables)),
        Route(f"{cid}/tiles", _call(tiles_api.get_collection_tiles, "collection_id", fix=_tilesets)),
        Route(f"{cid}/tiles/{{tileMatrixSetId}}",
              _call(tiles_api.get_collection_tiles_metadata, "collection_id",
                    "tileMatrixSetId")),
        Route(f"{cid}/tiles/{{tileMatrixSetId}}/metadata", _tilejson),
        Mount("/static", StaticFiles(directory=static)),
    ]


async def _sizes(pool: Any, examine: int) -> dict[str, int]:
    """Current rows per collection, counted up to `examine` + 1 (for numberMatched)."""
    sizes: dict[str, int] = {}
    async with pool.connection() as conn:
        for c in COLLECTIONS.values():
            cur = await conn.execute(size_statement(c, examine))
            row = await cur.fetchone()
            sizes[c.id] = int(row[0]) if row else examine + 1
    return sizes


def _json_exceptions(api: API) -> API:
    """`api` answering every refusal as OGC's JSON exception document, as our routes do: pygeoapi
    draws an HTML page for a refusal asked for with f=html, so a client (or a map page on another
    origin) found a 404 in one format here and another there."""
    draw = api.get_exception

    def get_exception(status: int, headers: dict[str, str], format_: str | None, code: str,
                      description: str) -> tuple[dict[str, str], int, Any]:
        headers["Content-Type"] = "application/json"
        answer: tuple[dict[str, str], int, Any] = draw(status, headers, "json", code, description)
        return answer

    api.get_exception = get_exception
    return api


def _freeze_startup_objects() -> None:
    """Move every object alive after start-up (pygeoapi's API and configuration, pyproj, the
    frameworks: hundreds of thousands) out of the garbage collector's view (gc.freeze).

    The tail latency of the hot routes came from full collections: each one walked that whole
    start-up heap while every request in flight waited, so several requests stalled at the same
    moment (bench/README.md, "OGC tail latency"). Frozen, a full collection walks only what
    requests made since."""
    gc.collect()
    gc.freeze()


_REFUSAL_CODES = {404: "NotFound", 422: "InvalidParameterValue"}


class OgcLayer:
    """OGC API at /ogc for one application.

    The composition root builds it with the layer's settings, mounts it (`mount`, after every
    other route; `fast_routes`, before them), opens its pool (`open_pool`, sessions set up by
    `configure`) and calls `start` in its lifespan with the read router to use for public
    reads (replicas when healthy, else that pool), then `stop`.
    """

    def __init__(self, settings: LayersSettings) -> None:
        self.settings = settings
        self.runtime = OgcRuntime(
            settings.base_url + OGC_PREFIX, settings.default_limit, settings.max_limit,
            TileSpec(settings.tile_extent, settings.tile_buffer, settings.tile_max_features),
            TileCache(settings.tile_cache_size, settings.tile_buffer / settings.tile_extent),
            settings.count_limit)
        self.runtime.html = _items_html
        self.runtime.cors = Cors(settings.cors_origins)
        self.configure = self.runtime.configure
        self._fast_routes: list[Route] | None = None

    def mount(self, app: FastAPI) -> None:
        """pygeoapi's documents under /ogc; call after every other route is added."""
        app.state.ogc = self.runtime
        itemtypes_api.validate_datetime = _any_time  # an empty page, not 400 (see _any_time)
        # The items pages filter as GeoJSON does: by the CQL2 query layers.routes parsed.
        itemtypes_api.parse_ecql_text = _parsed_filter
        itemtypes_api.modify_pygeofilter = _as_parsed
        app.router.routes += [
            Route(OGC_PREFIX, ReadOnly(_asgi(_call(core_api.landing_page, fix=_without_dead_links,
                                 fix_html=_without_dead_link_tags)),
                                       self.runtime.cors)),  # /ogc itself, not a redirect
            # No redirect for a trailing slash (Starlette's is built from the Host header, which
            # the client chooses): OGC's 404 with CORS, as for `items/`, which is no resource.
            Mount(OGC_PREFIX, app=ReadOnly(Router(routes=_pygeoapi_routes(), redirect_slashes=False),
                                           self.runtime.cors)),
        ]

    def refusal(self, scope: Scope, status: int, message: str, *, localized: str | None = None,
                language: str | None = None) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """A refusal the portal makes for a request to /ogc (before any route: its body and header
        limits, 413 and 431, and its refusal of a change another site sends with the session
        cookie, 403; after one: its error handlers, e.g. 503 when the database is away) as OGC's
        JSON exception (code `NotFound` for 404, `InvalidParameterValue` for 422,
        `NoApplicableCode` for 5xx, else `InvalidRequest`) with the CORS headers, so a map page
        on another site can read why; None for any other path (the caller's own answer). With
        `localized` and `language` (the portal's error handlers), the body also carries the
        message in that language (`language`, `localized_description`: zh-CN or en).
        Returns (headers, body): the headers without Content-Length."""
        path = get_route_path(scope)  # without a root path, as the routes see it
        if path != OGC_PREFIX and not path.startswith(OGC_PREFIX + "/"):
            return None
        code = _REFUSAL_CODES.get(status, "NoApplicableCode" if status >= 500 else "InvalidRequest")
        document: dict[str, str] = {"code": code, "type": code, "description": message}
        if localized is not None and language is not None:  # the portal's own words, in the asker's language
            document.update(language=language, localized_description=localized)
        body = json.dumps(document, ensure_ascii=False).encode()
        return [(b"content-type", b"application/json"), *self.runtime.cors.of_scope(scope)], body

    def fast_routes(self) -> list[Route]:
        """Items, one item and tiles, to be matched before any other route (the same objects
        on every call)."""
        if self._fast_routes is None:
            self._fast_routes = fast_routes(OGC_PREFIX)
        return self._fast_routes

    def tile_routes(self) -> list[Route]:
        """Of `fast_routes`, the vector tiles: an answer that depends on the path, the query
        string and the Origin header only, never on a cookie, credential or body, so the portal
        may serve them on a short stack of its protections (portal.platform.fast_paths)."""
        return [route for route in self.fast_routes() if isinstance(route.endpoint, TileEndpoint)]

    def open_pool(self, url: str) -> AsyncConnectionPool:
        """The layer's own pool of the primary (not yet opened)."""
        return self.runtime.open_pool(url, self.settings.pool_max_size)

    async def start(self, app: FastAPI, url: str, reads: ReadConnections) -> None:
        """Count the collections, build pygeoapi's API, listen for tile invalidations."""
        runtime = self.runtime
        pool = runtime.pool
        assert pool is not None, "open_pool first"
        runtime.reads = reads
        items = runtime.open_item_pool(url, max(2, self.settings.pool_max_size // 2))
        await items.open(wait=True, timeout=30)
        runtime.sizes = await _sizes(pool, runtime.count_limit)
        extents = Extents(pool)
        config = build_config(self.settings, url, await extents.load())
        identification = config["metadata"]["identification"]
        openapi = openapi_document(runtime.base_url, identification["title"],
                                   identification["description"],
                                   max_limit=runtime.max_limit, default_limit=runtime.default_limit)
        app.state.pygeoapi = _json_exceptions(API(config, openapi))
        extents.attach(config["resources"])
        runtime.listener = InvalidationListener(
            url, runtime.cache, keep_seconds=self.settings.invalidation_keep_seconds,
            prune_seconds=self.settings.invalidation_prune_seconds)
        runtime.listener.observers.append(extents.changed)
        await runtime.listener.start()
        if self.settings.freeze_startup_objects:
            _freeze_startup_objects()

    async def stop(self) -> None:
        if self.runtime.listener is not None:
            await self.runtime.listener.stop()
        if self.runtime.item_pool is not None:
            await self.runtime.item_pool.close()
            self.runtime.item_pool = None
        await asyncio.to_thread(close_pools)
