"""Accounts a user can secure (issue 15, section 10), over real HTTP on the module's database:
no response with personal data is cached, the client address cannot be spoofed, the health
pages tell strangers nothing about hosts, and users manage their own sessions and tokens."""

from __future__ import annotations

import math
import re

import psycopg
from account_helpers import form_login
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

# Public data only: these answer as they always did (their own caching, or none).
PUBLIC = re.compile(r"^/($|parcels/|api/parcels|api/search|guide$|static/|ogc|health)")


def _routes(routes: list) -> list:  # type: ignore[type-arg]
    """Every route of the app, with the included routers' own (FastAPI 0.165 keeps them whole;
    `portal.app` includes every router without a prefix)."""
    flat = []
    for route in routes:
        included = getattr(route, "original_router", None)
        flat.extend(_routes(included.routes) if included is not None else [route])
    return flat


def _sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_non_public_route_answers_no_store(visitor: TestClient) -> None:
    """Walk every route of the app as a logged-in registrar: whatever the answer (a page, JSON, a
    refusal), a route outside the public ones is never stored by a browser or a proxy. Requests
    that change something carry no CSRF token, so they are refused and change nothing."""
    form_login(visitor, "registrar")
    seen = 0
    for route in _routes(visitor.app.routes):
        if not isinstance(route, (APIRoute, Route)) or PUBLIC.match(route.path):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            path = _sample_path(route.path)
            response = visitor.request(method, path, follow_redirects=False)
            assert "no-store" in response.headers.get("cache-control", ""), (method, path, response.status_code)
            seen += 1
    assert seen > 40, "the walk reached the app's routes"
    # Unknown paths and refusals too.
    assert "no-store" in visitor.get("/no-such-page").headers["cache-control"]


def _a_parcel_tile(database_url: str, z: int = 16) -> str:
    with psycopg.connect(database_url) as conn:
        lon, lat = conn.execute("SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM parcels "
                                "WHERE end_lifespan IS NULL ORDER BY parcel_code LIMIT 1").fetchone()
    n = 2**z
    x, y = int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"


def test_public_responses_keep_their_caching(visitor: TestClient, module_database: str) -> None:
    for path in ("/static/css/portal.css", _a_parcel_tile(module_database), "/api/search?q=330102", "/guide", "/"):
        response = visitor.get(path)
        assert response.status_code == 200, path
        assert "no-store" not in response.headers.get("cache-control", ""), path
    # A public page seen by someone logged in names them (and carries their CSRF token): not stored.
    form_login(visitor, "registrar")
    for path in ("/", "/guide"):
        assert "no-store" in visitor.get(path).headers["cache-control"], path
    tile = visitor.get(_a_parcel_tile(module_database))
    assert tile.status_code == 200 and "no-store" not in tile.headers.get("cache-control", "")


def _audit_clients(database_url: str, action: str, subject: str) -> list[str | None]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT client FROM audit_log WHERE action = %s AND subject = %s ORDER BY seq DESC "
                            "LIMIT 1", (action, subject)).fetchall()
    return [str(r[0]) if r[0] is not None else None for r in rows]
