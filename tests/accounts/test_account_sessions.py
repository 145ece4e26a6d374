"""Registration, log-in (form and API), cookies, CSRF, throttling, log-out and expiry."""

from __future__ import annotations

import psycopg
from account_helpers import bearer, csrf_of, form_login, new_username, sign_up
from fastapi.testclient import TestClient

from portal.accounts.principal import SESSION_COOKIE
from portal.accounts.security import token_digest


def test_sign_up_logs_in_with_a_safe_cookie_and_argon2id_hash(visitor: TestClient, module_database: str) -> None:
    username = new_username()
    page = visitor.get("/register")
    response = visitor.post("/register", data={
        "username": username, "display_name": "测试用户", "password": "correct horse battery",
        "password_again": "correct horse battery", "csrf": csrf_of(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/account"
    cookie = response.headers["set-cookie"].lower()
    assert f"{SESSION_COOKIE}=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    account = visitor.get("/account")
    assert account.status_code == 200 and username in account.text
    with psycopg.connect(module_database) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE username = %s", (username,)).fetchone()[0]
        sessions = conn.execute("SELECT token_digest FROM sessions s JOIN users u USING (user_id) "
                                "WHERE username = %s", (username,)).fetchall()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    token = visitor.cookies.get(SESSION_COOKIE)
    assert [bytes(s[0]) for s in sessions] == [token_digest(token)], "only the token's digest is stored"


def test_secure_cookie_flag_follows_the_setting(module_database: str) -> None:
    from account_helpers import settings_for

    from portal.app import create_app

    with TestClient(create_app(settings_for(module_database, cookie_secure=True)), base_url="https://testserver",
                    follow_redirects=False) as secure:
        page = secure.get("/login")
        response = secure.post("/login", data={"username": "citizen", "password": "demo-citizen-2025",
                                               "csrf": csrf_of(page.text)})
    assert response.status_code == 303
    assert "secure" in response.headers["set-cookie"].lower()


def test_registration_refuses_bad_input_and_taken_names(visitor: TestClient, module_database: str) -> None:
    page = visitor.get("/register")
    csrf = csrf_of(page.text)
    cases = [
        ({"username": "ab", "password": "long enough pw"}, 422, 'id="username-error"'),
        ({"username": new_username(), "password": "short"}, 422, 'id="password-error"'),
        ({"username": "owner", "password": "long enough pw"}, 409, "该用户名不可用"),
    ]
    for fields, status, message in cases:
        response = visitor.post("/register", data={"display_name": "x", "password_again": fields["password"],
                                                   "csrf": csrf, **fields})
        assert response.status_code == status and message in response.text, (fields, response.status_code)
    with psycopg.connect(module_database) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE username = 'ab'").fetchone()[0] == 0


def test_wrong_password_is_401_and_logged(client: TestClient, module_database: str) -> None:
    response = client.post("/api/tokens", json={"username": "surveyor", "password": "not the password"})
    assert response.status_code == 401 and response.json()["detail"]["message"] == "wrong username or password"
    unknown = client.post("/api/tokens", json={"username": "nobody-here", "password": "whatever123"})
    assert unknown.status_code == 401 and unknown.json() == response.json()
    with psycopg.connect(module_database) as conn:
        outcome = conn.execute("SELECT outcome FROM audit_log WHERE action = 'login' AND subject = "
                               "'username:surveyor' ORDER BY seq DESC LIMIT 1").fetchone()[0]
    assert outcome == "failure"


def test_login_is_throttled_after_repeated_failures(visitor: TestClient, module_database: str) -> None:
    username = new_username("t")
    sign_up(visitor, username)
    for _ in range(5):
        assert visitor.post("/api/tokens", json={"username": username, "password": "wrong password"}
                            ).status_code == 401
    limited = visitor.post("/api/tokens", json={"username": username, "password": "correct horse battery"})
    assert limited.status_code == 429
    assert "too many failed log-ins" in limited.json()["detail"]["message"] and int(limited.headers["retry-after"]) > 0
    with psycopg.connect(module_database) as conn:
        outcome = conn.execute("SELECT outcome FROM audit_log WHERE action = 'login' AND subject = %s "
                               "ORDER BY seq DESC LIMIT 1", (f"username:{username}",)).fetchone()[0]
    assert outcome == "limited"


def test_forms_without_the_csrf_token_are_refused(visitor: TestClient, demo) -> None:
    visitor.get("/login")
    response = visitor.post("/login", data={"username": "citizen", "password": "demo-citizen-2025"})
    assert response.status_code == 403 and "security token" in response.text
    response = visitor.post("/login", data={"username": "citizen", "password": "demo-citizen-2025",
                                            "csrf": "forged"})
    assert response.status_code == 403
    csrf = form_login(visitor, "citizen")
    for path, data in (("/check", {"query": "330102001001GB00001F00010101"}),
                       ("/account/tokens", {"label": "x"}), ("/logout", {})):
        assert visitor.post(path, data=data).status_code == 403, path
        assert visitor.post(path, data={**data, "csrf": "wrong"}).status_code == 403, path
    # JSON posts with the cookie need the header; with a bearer token they do not.
    query = {"parcel_code": demo.parcel_code}
    assert visitor.post("/api/check", json=query).status_code == 403
    with_header = visitor.post("/api/check", json=query, headers={"X-CSRF-Token": csrf})
    assert with_header.status_code == 200 and with_header.json()["units"], with_header.text
    headers = bearer(visitor, "citizen")
    visitor.cookies.clear()
    with_token = visitor.post("/api/check", json=query, headers=headers)
    assert with_token.status_code == 200 and with_token.json()["units"], with_token.text


def test_logout_ends_the_session(visitor: TestClient, module_database: str) -> None:
    csrf = form_login(visitor, "citizen")
    token = visitor.cookies.get(SESSION_COOKIE)
    assert visitor.get("/api/me").status_code == 200
    response = visitor.post("/logout", data={"csrf": csrf})
    assert response.status_code == 303
    # Even if the browser kept the cookie, the session is gone on the server.
    visitor.cookies.set(SESSION_COOKIE, token)
    assert visitor.get("/api/me").status_code == 401
    assert visitor.get("/account").headers["location"] == "/login"


def test_bearer_tokens_are_revoked_and_expire(client: TestClient, module_database: str) -> None:
    headers = bearer(client, "citizen")
    assert client.get("/api/me", headers=headers).json()["username"] == "citizen"
    assert client.delete("/api/tokens/current", headers=headers).status_code == 204
    assert client.get("/api/me", headers=headers).status_code == 401
    headers = bearer(client, "citizen")
    token = headers["Authorization"].split()[1]
    with psycopg.connect(module_database) as conn:
        conn.execute("UPDATE sessions SET created_at = now() - interval '2 days', "
                     "expires_at = now() - interval '1 second' WHERE token_digest = %s", (token_digest(token),))
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_garbage_tokens_are_anonymous(client: TestClient) -> None:
    assert client.get("/api/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.get("/api/me", cookies={SESSION_COOKIE: "nonsense"}).status_code == 401
