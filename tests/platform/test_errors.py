"""One error model: every domain error maps to its status and code, every refusal has one JSON
shape, pages get the error page and API clients JSON, and nothing domain-made ends as a 500."""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import portal
import portal.app
from portal.app import create_app
from portal.platform.errors import CadastreError, NotFound
from portal.platform.versioning import supersede
from portal.settings import DatabaseSettings, Settings
from spatial.errors import ReadError

LOCALES = Path(portal.app.__file__).parent / "web" / "locales"
ARGUMENTS = {"message": "what went wrong", "rule": "some_rule", "retry_after": 7, "log_message": "for the log",
             "field": "unit_number", "blocking": {"restriction_id": 1}, "report": None}


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


# Every module of the portal (the app imports the rooms, but not every module of each: the CLI's,
# say), so the error classes found do not depend on which tests ran first.
for _module in pkgutil.walk_packages(portal.__path__, "portal."):
    if not _module.name.endswith(("main", "__main__")):  # entry points: they start the app or the CLI
        importlib.import_module(_module.name)

DOMAIN_ERRORS = sorted({c for c in _subclasses(CadastreError) if c.__module__.startswith("portal.")},
                       key=lambda c: c.__qualname__)


def _instance(cls: type[CadastreError]) -> CadastreError:
    parameters = inspect.signature(cls.__init__).parameters
    return cls(**{name: ARGUMENTS[name] for name in parameters if name in ARGUMENTS})


@pytest.fixture(scope="module")
def app(module_database: str) -> FastAPI:
    """The real app (its handlers as create_app registers them) with a few routes that fail."""
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=module_database)))
    raised: dict[str, BaseException] = {}

    async def fail(name: str) -> None:
        raise raised[name]

    async def typed(count: int) -> dict[str, int]:
        return {"count": count}

    def stale_version() -> None:  # a parcel with no current version, through the real supersede
        with psycopg.connect(module_database) as conn:
            supersede(conn, "parcels", -1, {"land_use": "0701"})

    def stored(value: str) -> None:  # a value PostgreSQL refuses as data, through a real query
        with psycopg.connect(module_database) as conn:
            conn.execute("SELECT %s::text, %s::int", (value, value))

    app.state.raised = raised
    for prefix in ("/api/test", "/test"):
        app.add_api_route(prefix + "/fail/{name}", fail)
    app.add_api_route("/api/test/typed", typed)
    app.add_api_route("/api/test/stale", stale_version)
    app.add_api_route("/api/test/stored", stored)
    return app


@pytest.fixture(scope="module")
def client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)  # no lifespan: these routes need no pool


def _raise(client: TestClient, error: BaseException, path: str = "/api/test/fail/", **kwargs):  # type: ignore[no-untyped-def]
    client.app.state.raised[type(error).__name__] = error  # type: ignore[attr-defined]
    return client.get(path + type(error).__name__, **kwargs)


def test_the_domain_errors_are_all_found() -> None:
    names = {c.__name__ for c in DOMAIN_ERRORS}
    assert {"AccountError", "Limited", "RegistryError", "RuleViolation", "SubmissionError", "SubmissionConflict",
            "VersionError", "FontMissing", "GuideError"} <= names


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda c: c.__name__)
def test_every_domain_error_maps_to_its_status_and_code(client: TestClient, cls: type[CadastreError]) -> None:
    error = _instance(cls)
    response = _raise(client, error)
    assert response.status_code == cls.status and 400 <= cls.status < 600 and cls.status != 500
    detail = response.json()["detail"]
    assert detail["code"] == cls.code and re.fullmatch(r"[a-z][a-z0-9_]+", cls.code)
    assert detail["message"] == error.message
    assert "for the log" not in response.text or error.message == "for the log"
    for name, value in error.fields().items():
        assert detail[name] == value
    for name, value in error.headers().items():
        assert response.headers[name] == value


def test_codes_are_unique_and_translated() -> None:
    codes = [c.code for c in DOMAIN_ERRORS]
    assert len(codes) == len(set(codes))
    for language in ("zh-CN", "en"):
        catalog = json.loads((LOCALES / f"{language}.json").read_text(encoding="utf-8"))
        missing = {code for code in [*codes, "invalid_request", "unreadable_file", "database_unavailable",
                                     "body_too_large", "headers_too_large", "internal_error", "not_found"]
                   if f"error.{code}" not in catalog}
        assert not missing, (language, missing)


def test_rate_limit_and_login_keep_their_headers(client: TestClient) -> None:
    from portal.platform.errors import Limited, NotAuthenticated

    limited = _raise(client, Limited("too many checks this minute", 42))
    assert limited.status_code == 429 and limited.headers["retry-after"] == "42"
    assert limited.json()["detail"] == {"code": "rate_limited", "message": "too many checks this minute",
                                        "retry_after": 42, "language": "zh-CN",
                                        "localized_message": "请求过于频繁，请稍后再试。"}
    login = _raise(client, NotAuthenticated("log in first"))
    assert login.status_code == 401 and login.headers["www-authenticate"] == "Bearer"


def test_a_version_that_is_gone_is_a_conflict_not_a_500(client: TestClient) -> None:
    response = client.get("/api/test/stale")
    assert response.status_code == 409
    assert response.json()["detail"] == {"code": "no_current_version",
                                         "message": "parcels: parcel_id -1 has no current version",
                                         "language": "zh-CN", "localized_message": "宗地：parcel_id -1 没有现势版本"}


@pytest.mark.parametrize("value", ["a\x00b", "99999999999999999999", "not a number"])
def test_a_value_the_database_refuses_is_a_422_not_a_500(client: TestClient, value: str, caplog) -> None:
    """The safety net behind the input checks: psycopg.DataError (a NUL in text, a number out
    of range, a malformed number) is the client's input; the database's text goes to the log only."""
    response = client.get("/api/test/stored", params={"value": value})
    assert response.status_code == 422
    assert response.json()["detail"]["code"] == "invalid_input"
    assert "integer" not in response.text and "NUL" not in response.text
    assert "refused by the database" in caplog.text


def test_a_missing_font_is_a_503_that_names_no_package(client: TestClient, monkeypatch, caplog) -> None:
    from portal.web import fonts

    monkeypatch.setattr(fonts, "CJK_FONT_PATHS", (Path("/nonexistent/font.ttc"),))
    with caplog.at_level(logging.INFO, logger="portal.web.errors"):
        with pytest.raises(fonts.FontMissing) as raised:
            fonts.cjk_font_for("字体缺失测试 一次性的字")
        response = _raise(client, raised.value)
    assert response.status_code == 503 and response.json()["detail"]["code"] == "font_missing"
    assert "fonts-noto-cjk" not in response.text and "fonts-noto-cjk" in caplog.text


def test_an_unreadable_upload_keeps_its_place(client: TestClient) -> None:
    response = _raise(client, ReadError("'4O4' is not a number", file="parcels.txt", line=12, field="Y"))
    assert response.status_code == 422
    assert response.json()["detail"] == {
        "code": "unreadable_file", "message": "parcels.txt, line 12, field Y: '4O4' is not a number",
        "problem": "'4O4' is not a number", "file": "parcels.txt", "line": 12, "feature": None, "field": "Y",
        "language": "zh-CN", "localized_message": "parcels.txt，第 12 行，字段 Y：'4O4' 不是数字"}


def test_framework_refusals_have_the_same_shape(client: TestClient) -> None:
    missing = client.get("/api/no-such-thing")
    assert missing.status_code == 404 and missing.json() == {"detail": {
        "code": "not_found", "message": "Not Found", "language": "zh-CN", "localized_message": "未找到"}}
    invalid = client.get("/api/test/typed", params={"count": "many", "name": "110101199003074477"})
    detail = invalid.json()["detail"]
    assert invalid.status_code == 422 and detail["code"] == "invalid_request" and "count" in detail["message"]
    assert detail["errors"][0]["loc"] == ["query", "count"] and "many" not in invalid.text  # input not echoed
    wrong_method = client.delete("/api/test/typed")
    assert wrong_method.status_code == 405 and wrong_method.json()["detail"]["code"] == "method_not_allowed"


def test_an_unexpected_error_is_a_generic_500_and_a_logged_traceback(client: TestClient, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="portal.web.errors"):
        response = _raise(client, RuntimeError("secret: 110101199003074477 at /srv/cadastre"))
    assert response.status_code == 500
    assert response.json()["detail"]["code"] == "internal_error"
    assert "secret" not in response.text and "1101011990" not in response.text
    assert "Traceback" in caplog.text and "secret" in caplog.text
    # Answered inside the middleware, so a 500 carries the security headers like any response,
    # and the traceback is logged once.
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff" and "x-frame-options" in response.headers
    assert caplog.text.count("Traceback") == 1
    page = _raise(client, RuntimeError("boom"), "/test/fail/", headers={"accept": "text/html"})
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "content-security-policy" in page.headers and "boom" not in page.text


def test_pages_get_the_error_page_and_api_clients_json(client: TestClient) -> None:
    error = NotFound("no check with the reference X")
    page = _raise(client, error, "/test/fail/", headers={"accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert 'data-code="not_found"' in page.text and "没有编号为 X 的查询" in page.text  # in the page's language
    english = _raise(client, error, "/test/fail/", headers={"accept": "text/html", "accept-language": "en"})
    assert "Not found, or not yours to see." in english.text and "no check with the reference X" in english.text
    asked = _raise(client, error, "/test/fail/", headers={"accept": "application/json"})
    assert asked.json()["detail"]["code"] == "not_found"
    for accept in ("*/*", "application/json, text/html;q=0.5"):  # fetch, curl, API clients
        plain = _raise(client, error, "/test/fail/", headers={"accept": accept})
        assert plain.json()["detail"]["code"] == "not_found", accept
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert 'data-code="not_found"' in _raise(client, error, "/test/fail/", headers={"accept": browser}).text
    api = _raise(client, error, "/api/test/fail/", headers={"accept": "text/html"})
    assert api.headers["content-type"] == "application/json" and api.json()["detail"]["code"] == "not_found"
    unknown_page = client.get("/no-such-page", headers={"accept": "text/html"})
    assert unknown_page.status_code == 404 and 'data-code="not_found"' in unknown_page.text


def test_strangers_on_pages_for_signed_in_users_are_sent_to_log_in(client: TestClient) -> None:
    for path in ("/surveys", "/surveys/review", "/surveys/7", "/registry", "/registry/applications/7"):
        response = client.get(path, headers={"accept": "text/html"}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/login?next={path}", path
