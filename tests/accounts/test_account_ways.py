"""Context is never lost (issue 17 §3): log-in returns to the page that asked for it (only pages of
this site), the check form arrives filled in, form faults are shown beside their field with the
input kept, and browsers get pages in their language where API clients get JSON."""

from __future__ import annotations

import pytest
from account_helpers import PASSWORDS, csrf_of, form_login, new_username
from fastapi.testclient import TestClient

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _log_in(visitor: TestClient, username: str, next_path: str) -> str:
    page = visitor.get("/login", params={"next": next_path})
    assert page.status_code == 200
    response = visitor.post("/login", data={"username": username, "password": PASSWORDS[username],
                                            "csrf": csrf_of(page.text), "next": next_path})
    assert response.status_code == 303, response.text
    return response.headers["location"]


def test_the_map_panel_check_arrives_filled_in_through_log_in_and_back(visitor: TestClient, demo) -> None:
    code = demo.parcel_code
    page = visitor.get("/check", params={"parcel": code}, headers=HTML)
    assert page.status_code == 200
    assert f"<code>{code}</code>" in page.text, "the stranger is told which parcel they came for"
    assert f"/login?next=/check%3Fparcel%3D{code}" in page.text, "log-in returns here"
    back = _log_in(visitor, "owner", f"/check?parcel={code}")
    assert back == f"/check?parcel={code}"
    page = visitor.get(back, headers=HTML)
    assert f'name="query" value="{code}"' in page.text


def test_a_page_for_signed_in_users_sends_a_stranger_to_log_in_and_back_with_its_query(visitor: TestClient) -> None:
    for path in ("/registry?x=1", "/audit?action=login"):
        response = visitor.get(path, headers=HTML)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=" + path.split("?")[0]), response.headers
        assert "%3F" in response.headers["location"], "the query comes along"
    assert visitor.get("/audit", headers={"Accept": "application/json"}).status_code == 401  # API clients: JSON


@pytest.mark.parametrize("hostile", ["//evil.example", "https://evil.example/", "/\\evil.example", "/\\/evil",
                                     "http:/evil", "\\\\evil", "javascript:alert(1)", "/\t/evil", "https:evil.example",
                                     "/%2F%2Fevil.example", "/%2f/evil", "%2F%2Fevil", "/%5Cevil.example",
                                     "/%5C%5Cevil", "/%09/evil", "/" + "a" * 2000])
def test_log_in_never_sends_anyone_off_the_site(visitor: TestClient, hostile: str) -> None:
    assert _log_in(visitor, "owner", hostile) == "/account"
    language = visitor.get("/lang/en", params={"next": hostile})
    assert language.headers["location"] == "/"


def test_a_wrong_password_keeps_the_username_and_says_so_beside_the_field(visitor: TestClient) -> None:
    visitor.cookies.set("lang", "en")
    page = visitor.get("/login", params={"next": "/check"})
    response = visitor.post("/login", data={"username": "owner", "password": "not it at all",
                                            "csrf": csrf_of(page.text), "next": "/check"})
    assert response.status_code == 401 and "text/html" in response.headers["content-type"]
    assert 'value="owner"' in response.text and 'value="/check"' in response.text
    assert "Wrong username or password." in response.text and 'aria-invalid="true"' in response.text
    assert "could not be completed" not in response.text


def test_sign_up_states_its_rules_up_front_and_keeps_the_input_on_a_fault(visitor: TestClient) -> None:
    page = visitor.get("/register")
    assert "3–40 个字符" in page.text and "至少 10 个字符" in page.text
    response = visitor.post("/register", data={"username": "X!", "display_name": "测试用户", "password": "short",
                                               "password_again": "short", "csrf": csrf_of(page.text)})
    assert response.status_code == 422 and "无法完成请求" not in response.text
    assert 'value="测试用户"' in response.text and 'value="x!"' in response.text
    assert 'id="username-error"' in response.text and 'id="password-error"' in response.text
    name = new_username("w")
    response = visitor.post("/register", data={"username": name, "display_name": "测试用户",
                                               "password": "correct horse battery", "password_again": "correct horse",
                                               "csrf": csrf_of(page.text)})
    assert response.status_code == 422 and 'id="password_again-error"' in response.text
    assert "两次输入的密码不一致" in response.text
    response = visitor.post("/register", data={"username": "registrar", "display_name": "测试用户",
                                               "password": "correct horse battery",
                                               "password_again": "correct horse battery", "csrf": csrf_of(page.text)})
    assert response.status_code == 409 and 'id="username-error"' in response.text
    response = visitor.post("/register", data={"username": name, "display_name": "测试用户",
                                               "password": "correct horse battery",
                                               "password_again": "correct horse battery",
                                               "csrf": csrf_of(page.text), "next": "/check?parcel=X"})
    assert response.status_code == 303 and response.headers["location"] == "/check?parcel=X"


@pytest.mark.parametrize(("path", "status"), [("/parcels/NOPE", 422), ("/no/such/page", 404),
                                              ("/parcels/330102001001GB99999", 404)])
def test_browsers_get_pages_in_their_language_and_api_clients_json(visitor: TestClient, path: str,
                                                                   status: int) -> None:
    for language, words in (("zh-CN", "无法完成请求"), ("en", "could not be completed")):
        page = visitor.get(path, headers={**HTML, "Accept-Language": language})
        assert page.status_code == status and page.headers["content-type"].startswith("text/html")
        assert f'<html lang="{language}">' in page.text and words in page.text
    data = visitor.get(path, headers={"Accept": "application/json"})
    assert data.status_code == status and data.json()["detail"]["code"]


def test_a_forbidden_page_is_a_page_for_a_signed_in_browser(visitor: TestClient) -> None:
    form_login(visitor, "owner")
    page = visitor.get("/registry", headers=HTML)
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert visitor.get("/api/applications", headers=HTML).headers["content-type"].startswith("application/json")
