"""The FastAPI application, built by `create_app(settings)`: nothing is configured at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from portal.db import open_pool, resolve_url
from portal.migrate import head_revision
from portal.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; the pool opens and closes with the app's lifespan."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = resolve_url(settings.database)
        app.state.pool = open_pool(url, settings.database)
        await app.state.pool.open(wait=True, timeout=30)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title=settings.portal.title, lifespan=lifespan)
    app.state.settings = settings

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
        }

    _mount_features(app, settings)
    return app


def _mount_features(app: FastAPI, settings: Settings) -> None:
    """Each feature package adds its routes here, one line each (see docs in each package)."""
    from layers.ogc import mount_ogc; mount_ogc(app, settings)  # noqa: E702
