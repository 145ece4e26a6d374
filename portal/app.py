"""The composition root: `create_app(settings)` builds the application; nothing is configured at
import.

Every router is listed here with its room, and so are the error handlers, the middleware and
the pools. The routes answered most often are matched first, in one explicit block
(`_fast_routes`): Starlette tries routes in order, and matching a hundred page and API routes
first would cost every tile and check request a few hundred microseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from layers.http import StaticFiles
from layers.ogc import OgcLayer
from layers.settings import LayersSettings
from portal import accounts
from portal.accounts import clients_api
from portal.accounts import routes as account_routes
from portal.accounts.key_check import StartKeys, check_keys
from portal.accounts.principal import SESSION_COOKIE
from portal.archive import api as archive_api
from portal.archive import pages as archive_pages
from portal.audit import pages as audit_pages
from portal.checks import routes as check_routes
from portal.guide import pages as guide_pages
from portal.platform import queries
from portal.platform.db import open_pool, open_work_pool, resolve_app_url
from portal.platform.deps import Connection, ReadConnection
from portal.platform.fast_paths import FastPaths, check_classified
from portal.platform.middleware import (
    BodyLimit,
    CrossSite,
    HeadAsGet,
    HeaderLimit,
    NoStore,
    SecurityHeaders,
    relative_slash_redirects,
)
from portal.platform.migrate import head_revision
from portal.platform.permissions import Action, current_principal
from portal.platform.replicas import ReadRouter
from portal.platform.rows import one_row
from portal.platform.timing import ServerTiming
from portal.public import api as public_api
from portal.public import downloads, sheet_route
from portal.public import pages as public_pages
from portal.registry import api as registry_api
from portal.registry import machine_api
from portal.registry import pages as registry_pages
from portal.settings import Settings
from portal.surveys import api as survey_api
from portal.surveys import digitising_api, digitising_pages
from portal.surveys import pages as survey_pages
from portal.web import STATIC_DIR, apidocs, language, templates_for
from portal.web import errors as error_handlers

__all__ = ["create_app", "ErrorOut", "ErrorDetail"]

# Each room keeps its pages in its own templates/ folder, beside its routes.
def _templates_beside(room: ModuleType) -> Path:
    assert room.__file__ is not None  # a module loaded from a file
    return Path(room.__file__).parent / "templates"


ROOM_TEMPLATES = tuple(_templates_beside(room) for room in (
    account_routes, audit_pages, check_routes, guide_pages, public_pages, registry_pages, survey_pages,
    archive_pages))


# Routers that serve pages (the others are JSON only).
_PAGE_ROUTERS = (survey_pages.router, registry_pages.router, account_routes.router, check_routes.router,
                 audit_pages.router, public_pages.router, guide_pages.router)


class ErrorDetail(BaseModel):
    """What was refused and why: a stable `code` (clients and translations key on it), a
    `message` safe to show, and the particulars of the code, e.g. `rule` and `blocking` for
    rule_violation, `field` for application_invalid, `file`, `line`, `feature` and `field` for
    an unreadable upload, `report` for submission_conflict, `errors` for invalid_request."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["rule_violation"], description="stable snake_case name of the refusal")
    message: str = Field(description="what went wrong, in English; never personal data")
    language: str = Field(examples=["zh-CN"], description="the request's language: the `lang` cookie, else "
                          "Accept-Language, else zh-CN")
    localized_message: str = Field(description="`message` in that language (portal.web.messages); each of "
                                   "`errors` carries its `localized_msg` likewise")


class ErrorOut(BaseModel):
    """Every refusal has this one shape: `{"detail": {"code": ..., "message": ..., ...}}`."""

    detail: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in {
        400: "the request cannot be parsed", 401: "log in first", 403: "your role does not allow this",
        404: "no such thing, or not yours to see", 409: "the current state or a rule of the register forbids it",
        413: "the request body is too large", 422: "the input is invalid (the detail names the field)",
        429: "too many requests: wait and try again",
        503: "the server is busy or the database unavailable for a moment"}.items()}


def layers_settings(settings: Settings) -> LayersSettings:
    """What the OGC layer needs of the app's settings, and nothing more."""
    base = (settings.portal.public_url or f"http://{settings.portal.host}:{settings.portal.port}").rstrip("/")
    return LayersSettings(
        base_url=base, title=settings.portal.title, host=settings.portal.host, port=settings.portal.port,
        basemap_url=settings.portal.basemap_url, generated_dir=settings.database.state_dir / "generated",
        pool_max_size=settings.database.ogc_pool_max_size,
        provider_pool_max_size=settings.database.provider_pool_max_size, default_limit=settings.ogc.default_limit,
        max_limit=settings.ogc.max_limit, count_limit=settings.ogc.count_limit,
        tile_extent=settings.tiles.extent, tile_buffer=settings.tiles.buffer,
        tile_max_features=settings.tiles.max_features, tile_cache_size=settings.tiles.cache_size,
        invalidation_keep_seconds=settings.tiles.invalidation_keep_seconds,
        invalidation_prune_seconds=settings.tiles.invalidation_prune_seconds,
        cors_origins=tuple(settings.ogc.cors_origins))


# The short stack of the fast paths (portal.platform.fast_paths): what a vector tile GET keeps of
# the middlewares, and why it needs none of the others.
# CrossSite stays (one pass over the headers): whatever a route or handler reads of the request,
# it reads as the long way gives it.
FAST_PATHS_KEEP = (SecurityHeaders, HeaderLimit, CrossSite, error_handlers.CatchUnexpected)
FAST_PATHS_SKIP = {
    HeadAsGet: "only GET takes the fast paths; a HEAD goes the long way",
    NoStore: "tiles are under /ogc, always public: NoStore adds nothing there (a server with a root "
             "path, where NoStore reads another path, takes the long way)",
    BodyLimit: "a request that declares a body (Content-Length, Transfer-Encoding) goes the long way",
}


class PortalApp(FastAPI):
    """FastAPI with the fast paths (`fast_routes`, set by `create_app`) in front of it, and the
    Server-Timing header timing both, outermost."""

    fast_routes: Sequence[Route] = ()

    def build_middleware_stack(self) -> Any:
        whole = super().build_middleware_stack()
        if self.fast_routes:
            handlers = {key: handler for key, handler in self.exception_handlers.items() if isinstance(key, type)}
            whole = FastPaths.build(whole, self.fast_routes, self.user_middleware, FAST_PATHS_KEEP,
                                    FAST_PATHS_SKIP, handlers)
        return ServerTiming(whole)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; the pools open and close with the app's lifespan."""
    settings = settings or Settings()
    ogc = OgcLayer(layers_settings(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = resolve_app_url(settings.database)  # the least-privilege role, never the superuser
        # The keys outside the database: made only on a fresh install, and they must open the
        # register's parties (portal.accounts.key_check); else the app does not start.
        keys = await asyncio.to_thread(_start_keys, url, settings)
        app.state.identity_key = keys.identity_key
        app.state.identity_keys = keys.identity_keys  # digest and seal
        app.state.sheet_key = keys.sheet_key  # sheet references' MAC
        app.state.pool = open_pool(url, settings.database)
        app.state.work_pool = open_work_pool(url, settings.database)
        await app.state.pool.open(wait=True, timeout=30)
        app.state.work_pool.open(wait=True, timeout=30)
        # One read router for public reads: replicas when healthy (their sessions set up for
        # short queries, as the OGC layer's), else the primary.
        app.state.reads = ReadRouter(app.state.pool, settings.database, configure=ogc.configure)
        await app.state.reads.open()
        app.state.check_slots = asyncio.Semaphore(settings.accounts.checks_at_once)
        ogc_pool = ogc.open_pool(url)  # the OGC layer's own pool of the primary
        await ogc_pool.open(wait=True, timeout=30)
        await ogc.start(app, url, app.state.reads)
        try:
            yield
        finally:
            await ogc.stop()
            await ogc_pool.close()
            await app.state.reads.close()
            app.state.work_pool.close()
            await app.state.pool.close()

    app = PortalApp(title=settings.portal.title, lifespan=lifespan, responses=ERROR_RESPONSES,
                  docs_url=None, redoc_url=None)  # served offline by portal.web.apidocs instead
    app.state.settings = settings
    relative_slash_redirects(app.router)  # never a Location built from the Host header
    app.state.templates = templates_for(settings, ROOM_TEMPLATES)
    app.state.principal_resolver = accounts.resolve_principal
    app.state.csrf_guard = accounts.csrf_guard
    app.state.trusted_proxies = settings.security.trusted_networks  # whose X-Forwarded-For is believed
    app.state.layer_refusal = ogc.refusal  # the error handlers' answer under /ogc (portal.web.errors)

    app.add_middleware(error_handlers.CatchUnexpected)  # first added: innermost (see its docstring)
    app.add_middleware(CrossSite, session_cookie=SESSION_COOKIE, public_url=settings.portal.public_url,
                       refusal=ogc.refusal)
    app.add_middleware(BodyLimit, max_bytes=settings.security.max_body_bytes, refusal=ogc.refusal)
    app.add_middleware(NoStore, session_cookie=accounts.SESSION_COOKIE)  # personal data is never cached
    app.add_middleware(HeadAsGet)  # HEAD wherever GET is allowed, outside the others: the GET gets them all
    app.add_middleware(HeaderLimit, refusal=ogc.refusal)  # before anything parses a header (cookies, languages)
    app.add_middleware(SecurityHeaders, settings=settings)  # reads no header: on every answer, 431 included
    # Outermost of all, ServerTiming (PortalApp.build_middleware_stack) times the others too.

    # The one place errors become responses (portal.web.errors): every CadastreError, an
    # unreadable upload, FastAPI's own refusals, the database away (503) and the unexpected (500).
    for error, handler in error_handlers.HANDLERS.items():
        app.add_exception_handler(error, handler)

    app.add_api_route("/health", health, methods=["GET"], tags=["service"])
    app.add_api_route("/health/reads", health_reads, methods=["GET"], tags=["service"])
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router, prefix in (
        (language.router, ""),          # web: the language switch
        (digitising_pages.router, ""),  # surveys: /surveys/digitise pages (before /surveys/{id})
        (apidocs.router, ""),           # web: /docs and /redoc, offline
        (survey_pages.router, ""),      # surveys: /surveys pages
        (registry_pages.router, ""),    # registry: /registry pages
        (account_routes.router, ""),    # accounts: /login, /account, /api/accounts, /users
        (check_routes.router, ""),      # checks: /check, /api/check, certificates, /verify
        (audit_pages.router, ""),       # audit: /audit, /api/audit
        (survey_api.router, ""),        # surveys: /api/submissions
        (registry_api.router, ""),      # registry: /api/applications, /api/statistics
        (machine_api.router, ""),       # registry: /api/machine/* for other departments' systems
        (clients_api.router, ""),       # accounts: /api/admin/machine-clients
        (public_api.router, ""),        # public: /api/parcels, /api/search
        (public_pages.router, ""),      # public: /, /parcels/{code}
        (sheet_route.router, ""),       # public: /parcels/{code}/sheet.pdf
        (downloads.router, ""),         # public: /parcels/{code}/geometry.{geojson,gml,kml,dxf}
        (guide_pages.router, ""),       # guide: /guide, /guide/edit
        (archive_api.router, ""),       # archive: /api/archive, /api/sources/{id}/files
        (archive_pages.router, ""),     # archive: /archive/{sha256} (the page viewer)
        (digitising_api.router, ""),    # surveys: /api/digitisations (scan -> parcels)
    ):
        # Pages know who is asking before they render, so the header shows the person's own
        # links and account on every page (portal.web.navigation).
        known = [Depends(current_principal)] if router in _PAGE_ROUTERS else None
        app.include_router(router, prefix=prefix, dependencies=known)
    ogc.mount(app)  # layers: /ogc (pygeoapi's documents after every other route)
    _fast_routes(app, ogc)
    return app


def _start_keys(url: str, settings: Settings) -> StartKeys:
    """`check_keys` on a connection of its own (the pools are not open yet)."""
    with psycopg.connect(url) as conn:
        return check_keys(conn, settings)


def _fast_routes(app: FastAPI, ogc: OgcLayer) -> None:
    """The hot paths, matched before every other route: OGC items and tiles, and the one-call
    restriction check (its documented twin is in the checks router). HEAD is not allowed on
    the check: a HEAD must not make a check."""
    check = Route("/api/check", check_routes.api_check_get_fast, methods=["GET"])
    check.methods = {"GET"}  # Starlette adds HEAD to GET routes
    app.router.routes[0:0] = [check, *ogc.fast_routes()]
    assert isinstance(app, PortalApp)
    app.fast_routes = ogc.tile_routes()  # also served the long way (HEAD, a request with a body)
    # Now, not when the server first calls the app: uvicorn's default lifespan mode would take
    # an error there for an app without a lifespan and serve on (found by review).
    check_classified(app.user_middleware, FAST_PATHS_KEEP, FAST_PATHS_SKIP)


async def _operator(request: Request) -> bool:
    """Whether the caller may see where the service's servers are (administrators and auditors):
    anonymous callers and other users learn only that it answers."""
    return (await current_principal(request)).may(Action.VIEW_SERVICE_DETAILS)


async def health(request: Request, conn: Connection) -> dict[str, object]:
    """Database reachability, PostGIS version, schema revision and current parcel count; the
    replicas (hosts, ports, lag, problems) for administrators and auditors only."""
    cur = await conn.execute(queries.HEALTH)
    postgis, revision, parcels = one_row(await cur.fetchone())
    body: dict[str, object] = {
        "status": "ok",
        "database": "reachable",
        "postgis": postgis,
        "schema_revision": revision,
        "schema_head": head_revision(),
        "parcels": parcels,
    }
    if await _operator(request):
        body["replicas"] = request.app.state.reads.status()
    return body


async def health_reads(request: Request, conn: ReadConnection) -> dict[str, object]:
    """Which server a public read goes to now (a replica, or the primary as fallback): the
    server, its port and the replicas for administrators and auditors; `{"status": "ok"}` to
    anyone else."""
    cur = await conn.execute(queries.SERVING_SERVER)
    standby, port = one_row(await cur.fetchone())
    if not await _operator(request):
        return {"status": "ok"}
    return {"status": "ok", "replica": standby, "port": port, "replicas": request.app.state.reads.status()}
