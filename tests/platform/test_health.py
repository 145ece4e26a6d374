"""GET /health answers from the real database through the app factory."""

from fastapi.testclient import TestClient

from portal.app import create_app
from portal.platform.migrate import head_revision
from portal.settings import DatabaseSettings, Settings


def test_health_reports_database_and_parcels(database_url: str) -> None:
    settings = Settings(database=DatabaseSettings(DATABASE_URL=database_url))
    with TestClient(create_app(settings)) as client:
        body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["postgis"].startswith("3.")
    assert body["schema_revision"] == head_revision()
    assert body["parcels"] == 400
