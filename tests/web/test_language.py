"""The shared page machinery: language choice and the language switch."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from portal.web.i18n import ACCEPT_LANGUAGE_MAX_CHARS, language_of, translator


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "headers": raw})


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, "zh-CN"),
    ({"accept-language": "en-GB,en;q=0.8"}, "en"),
    ({"accept-language": "zh-TW,zh;q=0.9"}, "zh-CN"),
    ({"accept-language": "en", "cookie": "lang=zh-CN"}, "zh-CN"),
    ({"cookie": "lang=fr"}, "zh-CN"),
])
def test_language_comes_from_cookie_then_browser_then_chinese(headers, expected) -> None:
    assert language_of(_request(headers)) == expected


def test_only_the_start_of_a_long_accept_language_is_read() -> None:
    # 8 MB of commas was split and walked element by element on the event loop
    assert language_of(_request({"accept-language": "," * 8_000_000 + "en"})) == "zh-CN"
    assert language_of(_request({"accept-language": "," * (ACCEPT_LANGUAGE_MAX_CHARS - 2) + "en"})) == "en"


def test_every_english_key_exists_in_chinese_and_back() -> None:
    from portal.web.i18n import catalog

    assert set(catalog("en")) == set(catalog("zh-CN"))
    assert translator("en")("nav.map") == "Cadastral map"
    assert translator("en")("no.such.key") == "no.such.key"


def test_language_switch_sets_cookie_and_refuses_open_redirects() -> None:
    from portal.web.language import router

    app = FastAPI()
    app.include_router(router)
    client = TestClient(app, follow_redirects=False)
    response = client.get("/lang/en", params={"next": "/guide"})
    assert response.status_code == 303 and response.headers["location"] == "/guide"
    assert "lang=en" in response.headers["set-cookie"]
    assert client.get("/lang/en", params={"next": "//evil.example"}).headers["location"] == "/"
    assert client.get("/lang/fr").status_code == 404
