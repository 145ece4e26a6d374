"""An unexpected failure inside pygeoapi is logged and answered as an OGC exception (500),
never a dropped connection or a stack trace (issue 15 section 9)."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from babel import Locale
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from layers.ogc import _call


def _boom(api: Any, request: Any) -> Any:
    raise RuntimeError("secret detail from inside pygeoapi")


def test_an_unexpected_exception_is_an_ogc_500(caplog: pytest.LogCaptureFixture) -> None:
    app = Starlette(routes=[Route("/boom", _call(_boom))])
    app.state.pygeoapi = SimpleNamespace(locales=[Locale("zh"), Locale("en")])
    with caplog.at_level(logging.ERROR, logger="layers.ogc"):
        response = TestClient(app).get("/boom", params={"f": "json"})
    assert response.status_code == 500
    assert response.json()["code"] == "NoApplicableCode"
    assert "secret" not in response.text
    assert any("secret detail" in (r.exc_text or "") or r.exc_info for r in caplog.records)
