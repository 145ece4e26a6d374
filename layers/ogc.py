"""OGC API under /ogc: pygeoapi for the documents, our routes for the hot paths.

`mount_ogc(app, settings)` is the only thing the application calls. It adds our fast routes
(items, item, tiles; layers.routes) and, after them, thin routes that hand everything else
(landing page, conformance, collections, queryables, schema, tile-set metadata, OpenAPI,
HTML pages) to pygeoapi's framework-free API functions. This is the only module that
imports pygeoapi's API; pygeoapi's own Starlette app is never imported, because it reads its
configuration from files at import time. Instead the configuration and OpenAPI document are
generated from the Settings when the application starts (layers.config) and an `API` object
is built from them then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pygeoapi
import pygeoapi.api as core_api
import pygeoapi.api.itemtypes as itemtypes_api
import pygeoapi.api.tiles as tiles_api
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pygeoapi.api import API, APIRequest
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from layers.catalog import COLLECTIONS
from layers.config import OGC_PREFIX, build_config, build_openapi
from portal.replicas import ReadRouter
from layers.pool import close_pools
from layers.routes import OgcRuntime, fast_routes
from layers.extents import Extents
from layers.sql import TileSpec, size_statement
from layers.tiles import InvalidationListener, TileCache
from portal.settings import Settings

__all__ = ["mount_ogc"]

LOG = logging.getLogger(__name__)


def _to_response(headers: dict[str, str], status: int, content: Any) -> Response:
    response: Response
    if headers.get("Content-Type") == "text/html":
        response = HTMLResponse(content=content, status_code=status)
    elif isinstance(content, dict):
        response = JSONResponse(content, status_code=status)
    else:
        response = Response(content, status_code=status)
    response.headers.update(headers)
    return response


def _call(function: Callable[..., Any], *names: str) -> Callable[[Request], Any]:
    """A route handler that calls a pygeoapi API function with the given path parameters."""

    async def handler(request: Request) -> Response:
        api: API | None = getattr(request.app.state, "pygeoapi", None)
        if api is None:
            return JSONResponse({"code": "NoApplicableCode",
                                 "description": "OGC API is starting"}, status_code=503)
        api_request = await APIRequest.from_starlette(request, api.locales)
        if not api_request.is_valid():
            headers, status, content = api.get_format_exception(api_request)
        else:
            args = [request.path_params.get(n) for n in names]
            headers, status, content = await run_in_threadpool(function, api, api_request, *args)
        return _to_response(headers, status, content)

    return handler


def _items_html(request: Request) -> Any:
    """pygeoapi's items/item pages (HTML) for our routes' `f=html` fallback."""
    if "item_id" in request.path_params:
        return _call(itemtypes_api.get_collection_item, "collection_id", "item_id")(request)
    return _call(itemtypes_api.get_collection_items, "collection_id")(request)


def _pygeoapi_routes() -> list[Any]:
    static = Path(pygeoapi.__file__).parent / "static"
    cid = "/collections/{collection_id}"
    return [
        Route("/", _call(core_api.landing_page)),
        Route("/openapi", _call(core_api.openapi_)),
        Route("/conformance", _call(core_api.conformance)),
        Route("/TileMatrixSets", _call(tiles_api.tilematrixsets)),
        Route("/TileMatrixSets/{tileMatrixSetId}",
              _call(tiles_api.tilematrixset, "tileMatrixSetId")),
        Route("/collections", _call(core_api.describe_collections)),
        Route(cid, _call(core_api.describe_collections, "collection_id")),
        Route(f"{cid}/schema", _call(core_api.get_collection_schema, "collection_id")),
        Route(f"{cid}/queryables",
              _call(itemtypes_api.get_collection_queryables, "collection_id")),
        Route(f"{cid}/tiles", _call(tiles_api.get_collection_tiles, "collection_id")),
        Route(f"{cid}/tiles/{{tileMatrixSetId}}",
              _call(tiles_api.get_collection_tiles_metadata, "collection_id",
                    "tileMatrixSetId")),
        Route(f"{cid}/tiles/{{tileMatrixSetId}}/metadata",
              _call(tiles_api.get_collection_tiles_metadata, "collection_id",
                    "tileMatrixSetId")),
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


def mount_ogc(app: FastAPI, settings: Settings) -> None:
    """Serve OGC API at /ogc; the pygeoapi API object is built when the app starts."""
    base = (settings.portal.public_url or
            f"http://{settings.portal.host}:{settings.portal.port}").rstrip("/") + OGC_PREFIX
    tiles = settings.tiles
    runtime = OgcRuntime(base, settings.ogc.default_limit, settings.ogc.max_limit,
                         TileSpec(tiles.extent, tiles.buffer, tiles.max_features),
                         TileCache(tiles.cache_size, tiles.buffer / tiles.extent),
                         settings.ogc.count_limit)
    runtime.html = _items_html
    app.state.ogc = runtime
    # First in the list: the router tries its routes in order, and the portal's routers before
    # these would otherwise cost every tile request a few hundred microseconds of matching.
    app.router.routes[0:0] = fast_routes(OGC_PREFIX)
    app.router.routes.append(Mount(OGC_PREFIX, app=Router(routes=_pygeoapi_routes())))

    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with original(application) as state:
            url = application.state.pool.conninfo
            pool = runtime.open_pool(url, settings.database.pool_max_size)
            await pool.open(wait=True, timeout=30)
            # Public reads may come from streaming replicas (DATABASE_REPLICA_URLS).
            runtime.reads = ReadRouter(pool, settings.database, configure=runtime.configure)
            await runtime.reads.open()
            runtime.sizes = await _sizes(pool, runtime.count_limit)
            extents = Extents(pool)
            config = build_config(settings, url, await extents.load())
            openapi = await asyncio.to_thread(build_openapi, config)
            application.state.pygeoapi = API(config, openapi)
            extents.attach(config["resources"])
            runtime.listener = InvalidationListener(
                url, runtime.cache, keep_seconds=tiles.invalidation_keep_seconds,
                prune_seconds=tiles.invalidation_prune_seconds)
            runtime.listener.observers.append(extents.changed)
            await runtime.listener.start()
            try:
                yield state
            finally:
                await runtime.listener.stop()
                await runtime.reads.close()
                await pool.close()
                await asyncio.to_thread(close_pools)

    app.router.lifespan_context = lifespan
