"""A wait for a pooled connection that times out because every connection is in use says the
server is busy (503 server_busy, Retry-After), not that the database is down (review 1, F3): the
database was fine. A real outage keeps database_unavailable (test_faults)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from harness import header_principal

from portal.app import create_app
from portal.settings import DatabaseSettings, Settings


def test_a_busy_work_pool_is_said_to_be_busy(module_database: str) -> None:
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=module_database, work_pool_size=1,
                                                        pool_timeout=0.5)))
    app.state.principal_resolver = header_principal
    with TestClient(app) as client:
        registrar = {"x-test-person": "registrar"}
        with app.state.work_pool.connection():  # another request holds the only connection
            busy = client.get("/api/applications", headers=registrar)
            page = client.get("/api/applications", headers={**registrar, "accept-language": "zh-CN"})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
        detail = busy.json()["detail"]
        assert detail["code"] == "server_busy" and "busy" in detail["message"]
        assert "database" not in detail["message"]
        assert "服务器正忙" in page.json()["detail"]["localized_message"]
        assert client.get("/api/applications", headers=registrar).status_code == 200
