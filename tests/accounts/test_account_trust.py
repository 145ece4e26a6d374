"""Accounts a user can secure (issue 15, section 10), over real HTTP on the module's database:
no response with personal data is cached, the client address cannot be spoofed, the health
pages tell strangers nothing about hosts, and users manage their own sessions and tokens."""

from __future__ import annotations

import math
import re

import psycopg
import pytest
from account_helpers import form_login, new_username, sign_up
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


def _app_from(database_url: str, peer: str, trusted: list[str] | None = None) -> TestClient:
    from account_helpers import settings_for

    from portal.app import create_app
    from portal.settings import SecuritySettings

    settings = settings_for(database_url).model_copy(
        update={"security": SecuritySettings(trusted_proxies=trusted or [])})
    return TestClient(create_app(settings), client=(peer, 40000), follow_redirects=False)


def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(module_database: str) -> None:
    """No proxy is trusted by default: whoever connects is the client, whatever X-Forwarded-For
    says, in the audit trail and in every limit counted per client (they all read client_of)."""
    username = new_username("xff")
    with _app_from(module_database, "203.0.113.7") as app:
        sign_up(app, username)
        spoofed = app.post("/api/tokens", json={"username": username, "password": "correct horse battery"},
                           headers={"X-Forwarded-For": "198.51.100.9", "Forwarded": "for=198.51.100.9"})
        assert spoofed.status_code == 201
    assert _last_client(module_database, "login", username) == "203.0.113.7"


def test_behind_a_trusted_proxy_the_forwarded_client_is_used(module_database: str) -> None:
    username = new_username("xff")
    with _app_from(module_database, "10.1.2.3", trusted=["10.0.0.0/8", "192.0.2.1"]) as app:
        sign_up(app, username)
        for forwarded, client in (
            ("198.51.100.66, 203.0.113.50", "203.0.113.50"),         # the left one the client wrote itself
            ("198.51.100.66, 203.0.113.51, 192.0.2.1", "203.0.113.51"),  # through two trusted proxies
            ("not-an-address, 10.9.9.9", "10.9.9.9"),                 # garbage is never taken
            ("", "10.1.2.3"),
        ):
            response = app.post("/api/tokens", json={"username": username, "password": "correct horse battery"},
                                headers={"X-Forwarded-For": forwarded})
            assert response.status_code == 201
            assert _last_client(module_database, "login", username) == client, forwarded


def test_serve_does_not_let_uvicorn_rewrite_the_client(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    """uvicorn's own proxy headers (on by default, trusting 127.0.0.1) would rewrite the client
    before the app sees it: `cadastre serve` turns them off; the app alone decides."""
    import uvicorn
    from click.testing import CliRunner

    from portal.cli import main
    from portal.platform import migrate

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    monkeypatch.setattr(migrate, "upgrade", lambda url: None)
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["serve"])  # the identity keys of the demo register (tests/conftest.py)
    assert result.exit_code == 0, result.output
    assert calls and calls[0]["proxy_headers"] is False


def _last_client(database_url: str, action: str, username: str) -> str | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT a.client FROM audit_log a JOIN users u ON a.subject = 'user:' || u.user_id "
                           "WHERE a.action = %s AND u.username = %s ORDER BY a.seq DESC LIMIT 1",
                           (action, username)).fetchone()
    return row[0] if row else None


def test_trusted_proxies_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from portal.settings import SecuritySettings

    assert SecuritySettings().trusted_proxies == [], "no proxy is trusted by default"
    monkeypatch.setenv("CADASTRE_SECURITY_TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8::1")
    assert [str(n) for n in SecuritySettings().trusted_networks] == ["10.0.0.0/8", "2001:db8::1/128"]
    with pytest.raises(ValidationError, match="not an IP address or network"):
        SecuritySettings(trusted_proxies=["proxy.example.org"])


def test_health_tells_strangers_nothing_about_hosts(visitor: TestClient) -> None:
    """Anonymous callers learn that the service answers, not where its servers are; an
    administrator or an auditor (who watch the service) gets the detail."""
    reads = visitor.get("/health/reads")
    assert reads.status_code == 200 and reads.json() == {"status": "ok"}
    health = visitor.get("/health").json()
    assert health["status"] == "ok" and "replicas" not in health
    form_login(visitor, "citizen")
    assert visitor.get("/health/reads").json() == {"status": "ok"}, "a user without a staff role is no operator"
    for staff in ("admin", "auditor"):
        visitor.cookies.clear()
        form_login(visitor, staff)
        detail = visitor.get("/health/reads").json()
        assert set(detail) == {"status", "replica", "port", "replicas"} and isinstance(detail["port"], int), staff
        assert "replicas" in visitor.get("/health").json(), staff
