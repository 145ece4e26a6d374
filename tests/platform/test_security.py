"""Headers every response carries and the request body limit, over real HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

from portal.app import create_app
from portal.settings import DatabaseSettings, PortalSettings, SecuritySettings, Settings


def _client(database_url: str, **security: int) -> TestClient:
    return TestClient(create_app(Settings(database=DatabaseSettings(DATABASE_URL=database_url),
                                          portal=PortalSettings(basemap_url="https://tiles.example.org/{z}/{x}/{y}.png"),
                                          security=SecuritySettings(**security))))


def test_every_response_carries_the_security_headers(database_url) -> None:
    with _client(database_url) as client:
        for path in ("/health", "/surveys", "/no-such-page", "/static/css/portal.css"):
            headers = client.get(path, follow_redirects=False).headers
            csp = headers["content-security-policy"]
            scripts = csp.split("script-src")[1].split(";")[0]
            assert "'self'" in scripts and "unsafe-inline" not in scripts and "'nonce-" in scripts
            assert "frame-ancestors 'none'" in csp and "https://tiles.example.org" in csp
            assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
            assert "strict-transport-security" not in headers
    with _client(database_url, hsts_seconds=31536000) as client:
        assert client.get("/health").headers["strict-transport-security"].startswith("max-age=31536000")


def test_oversized_bodies_are_refused_before_they_are_read(database_url) -> None:
    from harness import header_principal

    client = _client(database_url, max_body_bytes=1000)
    client.app.state.principal_resolver = header_principal
    client.headers["x-test-person"] = "surveyor"
    with client:
        response = client.post("/api/submissions", files={"file": ("big.txt", b"x" * 5000)})
        assert response.status_code == 413 and "1000 bytes" in response.json()["detail"]["message"]

        def chunks():  # type: ignore[no-untyped-def]
            yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
            for _ in range(10):
                yield b"y" * 500

        streamed = client.post("/api/submissions", content=chunks(),
                               headers={"content-type": "multipart/form-data; boundary=xyz"})
        assert streamed.status_code == 413
