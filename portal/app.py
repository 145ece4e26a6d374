"""The FastAPI application, built by `create_app(settings)`: nothing is configured at import."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel

from portal.db import open_pool, open_work_pool, resolve_url
from portal.migrate import head_revision
from portal.replicas import ReadRouter
from portal.security import BodyLimit, SecurityHeaders
from portal.settings import Settings
from portal.timing import ServerTiming

__all__ = ["create_app", "ErrorOut"]


class ErrorOut(BaseModel):
    """Every refusal: `detail` is a message, or an object with `message` and the place, rule or
    field at fault, or (for malformed requests) FastAPI's list of validation errors."""

    detail: Any


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in {
        400: "the request cannot be parsed", 401: "log in first", 403: "your role does not allow this",
        404: "no such thing, or not yours to see", 409: "the current state or a rule of the register forbids it",
        413: "the request body is too large", 422: "the input is invalid (the detail names the field)",
        429: "too many requests: wait and try again", 503: "the database is unavailable for a moment"}.items()}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; the pool opens and closes with the app's lifespan."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = resolve_url(settings.database)
        app.state.pool = open_pool(url, settings.database)
        app.state.work_pool = open_work_pool(url, settings.database)
        await app.state.pool.open(wait=True, timeout=30)
        app.state.work_pool.open(wait=True, timeout=30)
        app.state.reads = ReadRouter(app.state.pool, settings.database)
        await app.state.reads.open()
        app.state.check_slots = asyncio.Semaphore(settings.accounts.checks_at_once)
        try:
            yield
        finally:
            await app.state.reads.close()
            app.state.work_pool.close()
            await app.state.pool.close()

    app = FastAPI(title=settings.portal.title, lifespan=lifespan, responses=ERROR_RESPONSES)
    app.state.settings = settings
    app.add_middleware(BodyLimit, max_bytes=settings.security.max_body_bytes)
    app.add_middleware(SecurityHeaders, settings=settings)
    app.add_middleware(ServerTiming)  # last added: outermost, so it times the others too

    @app.get("/health", tags=["service"])
    async def health(request: Request) -> dict[str, object]:
        """Database reachability, PostGIS version, schema revision and current parcel count."""
        async with request.app.state.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT postgis_lib_version(), "
                "(SELECT version_num FROM alembic_version), "
                "(SELECT count(*) FROM parcels WHERE end_lifespan IS NULL)"
            )
            postgis, revision, parcels = await cur.fetchone()
        return {
            "status": "ok",
            "database": "reachable",
            "postgis": postgis,
            "schema_revision": revision,
            "schema_head": head_revision(),
            "parcels": parcels,
            "replicas": request.app.state.reads.status(),
        }

    @app.get("/health/reads", tags=["service"])
    async def health_reads(request: Request) -> dict[str, object]:
        """Which server a public read goes to now (a replica, or the primary as fallback)."""
        async with request.app.state.reads.connection() as conn:
            cur = await conn.execute("SELECT pg_is_in_recovery(), inet_server_port()")
            standby, port = await cur.fetchone()
        return {"replica": standby, "port": port, "replicas": request.app.state.reads.status()}

    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    _mount_features(app, settings)
    return app


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database is restarting or unreachable: say so (503) instead of a 500; the pools
    reconnect by themselves, so the next request after it is back succeeds."""
    return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={"detail": {
        "message": "the cadastre database is unavailable for a moment; try again shortly"}})


def _mount_features(app: FastAPI, settings: Settings) -> None:
    """Each feature package adds its routes here, one line each (see docs in each package)."""
    from layers.ogc import mount_ogc
    from portal.accounts import mount_accounts
    from portal.api.applications import mount_applications
    from portal.api.submissions import mount_submissions
    from portal.web import mount_web
    from portal.web.public import mount_public

    mount_web(app, settings)
    mount_accounts(app, settings)
    mount_submissions(app)
    mount_applications(app)
    mount_public(app, settings)
    mount_ogc(app, settings)
