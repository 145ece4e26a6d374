"""`cadastre serve --host/--port`: the address given is the one the app advertises (its OGC links
are built from the settings), not only the one uvicorn listens on."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from portal.cli import main


def test_serve_port_reaches_the_app_settings(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    import uvicorn

    from portal.platform import migrate

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **options: served.update(app=app, host=host, port=port))
    monkeypatch.setattr(migrate, "upgrade", lambda url, revision="head": None)  # the shared copy is read-only
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["serve", "--port", "8124", "--host", "127.0.0.2"])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("127.0.0.2", 8124)
    settings = served["app"].state.settings
    assert (settings.portal.host, settings.portal.port) == ("127.0.0.2", 8124)
