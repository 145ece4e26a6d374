"""Helpers for the accounts tests: demo credentials, log-in by token or form, app settings."""

from __future__ import annotations

import re
import secrets

from fastapi.testclient import TestClient

from portal.demo.accounts import DEMO_ACCOUNTS
from portal.settings import AccountSettings, DatabaseSettings, Settings

PASSWORDS = {a.username: a.password for a in DEMO_ACCOUNTS}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def settings_for(url: str, **accounts: object) -> Settings:
    limits = {"checks_per_minute": 10_000, "checks_per_day": 100_000, **accounts}
    return Settings(database=DatabaseSettings(DATABASE_URL=url), accounts=AccountSettings(**limits))


def bearer(client: TestClient, username: str, password: str | None = None) -> dict[str, str]:
    response = client.post("/api/tokens", json={"username": username, "password": password or PASSWORDS[username]})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def form_login(app_client: TestClient, username: str, password: str | None = None) -> str:
    """Log in through the form with this client's cookie jar; returns the session's CSRF token."""
    page = app_client.get("/login")
    response = app_client.post("/login", data={"username": username, "password": password or PASSWORDS[username],
                                               "csrf": csrf_of(page.text)})
    assert response.status_code == 303, response.text
    return csrf_of(app_client.get("/account").text)


def sign_up(visitor: TestClient, username: str, password: str = "correct horse battery") -> None:
    page = visitor.get("/register")
    response = visitor.post("/register", data={
        "username": username, "display_name": "测试用户", "password": password, "password_again": password,
        "csrf": csrf_of(page.text)})
    assert response.status_code == 303, response.text


def new_username(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def verified_account(client: TestClient, database_url: str, prefix: str = "v") -> dict[str, str]:
    """A new account, verified as if at the counter by the demo registrar; returns bearer headers."""
    import psycopg

    username = new_username(prefix)
    sign_up(client, username)
    client.cookies.clear()
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO identity_verifications (user_id, method, verified_name, document_digest, "
                     "document_masked, verified_by) SELECT u.user_id, 'counter', '测试', sha256(u.username::bytea), "
                     "'110*************12', r.user_id FROM users u, users r WHERE u.username = %s "
                     "AND r.username = 'registrar'", (username,))
    return bearer(client, username, "correct horse battery")
