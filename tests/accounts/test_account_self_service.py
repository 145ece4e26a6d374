"""Accounts a user can secure (issue 15, section 10): changing one's password ends every other
session and token, "log out everywhere" ends them all, one's tokens are listed (never their
secret) and revoked one by one, and tokens live a short, capped time. Real HTTP through the app
on the module's own database; each action leaves an audit row."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
from account_helpers import bearer, csrf_of, new_username, sign_up
from fastapi.testclient import TestClient

from portal.accounts.principal import SESSION_COOKIE
from portal.accounts.security import token_digest

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"


def _person(visitor: TestClient) -> tuple[str, str]:
    """A new account logged in by cookie in `visitor`; returns (username, the session's CSRF token)."""
    username = new_username("me")
    sign_up(visitor, username, PASSWORD)
    return username, csrf_of(visitor.get("/account").text)


def _audit(database_url: str, action: str, username: str) -> list[tuple[str, dict]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT a.outcome, a.detail FROM audit_log a JOIN users u ON a.subject = 'user:' || u.user_id "
            "WHERE a.action = %s AND u.username = %s ORDER BY a.seq", (action, username)).fetchall()
    return [(outcome, json.loads(detail) if isinstance(detail, str) else detail) for outcome, detail in rows]


def _works(client: TestClient, headers: dict[str, str] | None = None) -> bool:
    status = client.get("/api/me", headers=headers or {}).status_code
    assert status in (200, 401)
    return status == 200


def test_changing_the_password_ends_every_other_session_and_token(visitor: TestClient, client: TestClient,
                                                                   module_database: str) -> None:
    username, _csrf = _person(visitor)
    mine, other = bearer(client, username, PASSWORD), bearer(client, username, PASSWORD)
    wrong = client.post("/api/me/password", headers=mine,
                        json={"current_password": "not my password", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 422 and "current password" in wrong.json()["detail"]["message"]
    short = client.post("/api/me/password", headers=mine, json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422 and "at least 10" in short.json()["detail"]["message"]
    assert client.post("/api/me/password", headers=mine, json={"current_password": PASSWORD}).status_code == 422
    changed = client.post("/api/me/password", headers=mine,
                          json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200 and changed.json() == {"changed": True, "sessions_revoked": 2}
    assert _works(client, mine), "the session that changed the password goes on"
    assert not _works(client, other) and not _works(visitor), "every other token and cookie session ended"
    assert client.post("/api/tokens", json={"username": username, "password": PASSWORD}).status_code == 401
    assert client.post("/api/tokens", json={"username": username, "password": NEW_PASSWORD}).status_code == 201
    audit = _audit(module_database, "password_changed", username)
    assert [outcome for outcome, _ in audit] == ["failure", "success"]
    assert audit[-1][1]["sessions_revoked"] == 2 and NEW_PASSWORD not in str(audit)


def test_the_password_form_needs_its_csrf_token(visitor: TestClient, client: TestClient,
                                                module_database: str) -> None:
    username, csrf = _person(visitor)
    token = bearer(client, username, PASSWORD)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert visitor.post("/api/me/password", json=body).status_code == 403, "a cookie alone is no proof of intent"
    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    assert visitor.post("/account/password", data=form).status_code == 403
    mismatch = visitor.post("/account/password", data={**form, "new_password_again": "something else", "csrf": csrf})
    assert mismatch.status_code == 422
    page = visitor.post("/account/password", data={**form, "csrf": csrf})
    assert page.status_code == 200 and "密码已修改" in page.text
    assert _works(visitor) and not _works(client, token)
    assert _audit(module_database, "password_changed", username)[-1][0] == "success"


def test_log_out_everywhere_ends_every_session_and_token(visitor: TestClient, client: TestClient,
                                                         module_database: str) -> None:
    username, csrf = _person(visitor)
    first, second = bearer(client, username, PASSWORD), bearer(client, username, PASSWORD)
    assert client.post("/api/me/logout-everywhere", headers=first).status_code == 204
    assert not any(_works(client, h) for h in (first, second)) and not _works(visitor)
    assert _audit(module_database, "logout_everywhere", username)[-1][1]["sessions_revoked"] == 3
    # From the account page: the CSRF token is needed, then the cookie goes too.
    visitor.cookies.clear()
    page = visitor.get("/login")
    visitor.post("/login", data={"username": username, "password": PASSWORD, "csrf": csrf_of(page.text)})
    third = bearer(client, username, PASSWORD)
    assert visitor.post("/account/logout-everywhere", data={"csrf": csrf}).status_code == 403, "an old token"
    csrf = csrf_of(visitor.get("/account").text)
    assert visitor.post("/api/me/logout-everywhere").status_code == 403
    done = visitor.post("/account/logout-everywhere", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert f'{SESSION_COOKIE}=""' in done.headers["set-cookie"]
    assert not _works(client, third)


def test_one_token_is_listed_without_its_secret_and_revoked(visitor: TestClient, client: TestClient,
                                                            module_database: str) -> None:
    username, csrf = _person(visitor)
    created = client.post("/api/tokens", json={"username": username, "password": PASSWORD, "label": "备份脚本"})
    keep = bearer(client, username, PASSWORD)
    secret = created.json()["token"]
    listed = client.get("/api/me/tokens", headers=keep)
    assert listed.status_code == 200
    tokens = listed.json()
    assert len(tokens) == 2 and {t["label"] for t in tokens} == {"备份脚本", None}
    assert all(set(t) == {"id", "label", "created_at", "expires_at"} for t in tokens)
    assert secret not in listed.text and token_digest(secret).hex() not in listed.text
    backup = next(t for t in tokens if t["label"] == "备份脚本")
    # Nobody else's token can be named: 404, and not even an existence oracle.
    stranger = bearer(client, "citizen")
    assert client.delete(f"/api/me/tokens/{backup['id']}", headers=stranger).status_code == 404
    assert client.delete("/api/me/tokens/not-hex", headers=keep).status_code == 404
    assert client.delete(f"/api/me/tokens/{backup['id']}", headers=keep).status_code == 204
    assert not _works(client, {"Authorization": f"Bearer {secret}"}) and _works(client, keep)
    assert [t["label"] for t in client.get("/api/me/tokens", headers=keep).json()] == [None]
    assert client.delete(f"/api/me/tokens/{backup['id']}", headers=keep).status_code == 404, "already revoked"
    assert _audit(module_database, "token_revoked", username)[-1][1] == {"label": "备份脚本", "token": backup["id"]}
    # The account page lists them and revokes with a form.
    page = visitor.get("/account")
    other = client.get("/api/me/tokens", headers=keep).json()[0]["id"]
    assert f"/account/tokens/{other}/revoke" in page.text and secret not in page.text
    assert visitor.post(f"/account/tokens/{other}/revoke", data={}).status_code == 403
    revoked = visitor.post(f"/account/tokens/{other}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 200 and "令牌已撤销" in revoked.text
    assert not _works(client, keep)


def _expires_in_days(response_json: dict) -> float:
    expires = dt.datetime.fromisoformat(response_json["expires_at"])
    return (expires - dt.datetime.now(dt.UTC)).total_seconds() / 86400


def test_tokens_live_a_week_by_default_and_no_longer_than_the_cap(visitor: TestClient, client: TestClient) -> None:
    username, csrf = _person(visitor)
    issued = client.post("/api/tokens", json={"username": username, "password": PASSWORD})
    assert 6.99 < _expires_in_days(issued.json()) <= 7
    mine = {"Authorization": f"Bearer {issued.json()['token']}"}
    # A token asked for from a session may live 1 to token_max_days (30) days.
    for days, status in ((3, 201), (30, 201), (31, 422), (0, 422), ("x", 422), (True, 422), (2.5, 422)):
        response = visitor.post("/api/me/tokens", json={"label": "ci", "days": days}, headers={"X-CSRF-Token": csrf})
        assert response.status_code == status, (days, response.text)
        if status == 201:
            assert days - 0.01 < _expires_in_days(response.json()) <= days
    assert visitor.post("/api/me/tokens", json={"days": 3}).status_code == 403, "a cookie needs its CSRF token"
    # A token cannot mint tokens: a stolen one would live for ever.
    assert client.post("/api/me/tokens", json={"days": 3}, headers=mine).status_code == 403
    assert client.post("/account/tokens", data={"label": "x"}, headers=mine).status_code == 403
    page = visitor.post("/account/tokens", data={"label": "ci", "days": "31", "csrf": csrf})
    assert page.status_code == 422 and "30 days" in page.text
    assert visitor.post("/account/tokens", data={"label": "ci", "days": "2", "csrf": csrf}).status_code == 200


def test_the_token_lifetime_cap_is_a_setting_that_holds_the_default() -> None:
    import pytest
    from pydantic import ValidationError

    from portal.settings import AccountSettings

    defaults = AccountSettings()
    assert (defaults.token_days, defaults.token_max_days) == (7, 30)
    with pytest.raises(ValidationError, match="token_days"):
        AccountSettings(token_days=40, token_max_days=30)
