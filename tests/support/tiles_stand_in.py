"""A stand-in for the layers/ parcel tiles, for the browser tests only, until layers/ is merged.

It answers the contract URL (`/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt`,
layer `parcels`, properties `parcel_code` and `land_use_code`) and is added to the test's app
only when the app has no route there already, so once layers/ is merged the tests run
against the real tiles.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

__all__ = ["TILE_PATH", "add_tiles_if_missing"]

TILE_PATH = "/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}"

_SQL = """
    WITH bounds AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env)
    SELECT ST_AsMVT(t, 'parcels', 4096, 'geom') FROM (
        SELECT p.parcel_code, p.land_use_code,
               ST_AsMVTGeom(ST_Transform(p.geom, 3857), bounds.env, 4096, 64, true) AS geom
          FROM parcels p, bounds
         WHERE p.end_lifespan IS NULL
           AND p.geom && ST_Transform(bounds.env, 4490)
    ) t
"""


def _has_route(app: FastAPI, path: str) -> bool:
    from starlette.routing import Mount

    for route in app.routes:
        if getattr(route, "path", None) == path:
            return True
        if isinstance(route, Mount) and path.startswith(route.path.rstrip("/") + "/"):
            return True
    return False


def add_tiles_if_missing(app: FastAPI) -> bool:
    """Serve parcel tiles at the contract path unless the app does already; True if added."""
    if _has_route(app, TILE_PATH) or _has_route(app, "/ogc/collections"):
        return False

    @app.get(TILE_PATH, include_in_schema=False)
    async def parcel_tile(request: Request, z: int, y: int, x: int) -> Response:
        async with request.app.state.pool.connection() as conn:
            cur = await conn.execute(_SQL, {"z": z, "x": x, "y": y})
            (tile,) = await cur.fetchone()
        return Response(bytes(tile or b""), media_type="application/vnd.mapbox-vector-tile")

    return True
