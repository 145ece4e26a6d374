"""Nothing audited or costly happens on a GET with a cookie, nor on anything another site sends
(issue 15 §5).

A link on another site makes the browser send a GET with the session cookie (SameSite=Lax):
a check by GET therefore takes a bearer token, and a cookie check is a POST with the page's
CSRF token; and whatever request the browser says another site made (`Sec-Fetch-Site`,
`Origin`) is served without the session: a change is refused, a read is anonymous.
"""

from __future__ import annotations

import psycopg
from account_helpers import bearer, form_login, settings_for
from fastapi.testclient import TestClient

from portal.app import create_app

CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}


def _rows(database_url: str, username: str) -> tuple[int, int]:
    """(checks, audit rows) made by this user."""
    with psycopg.connect(database_url) as conn:
        checks = conn.execute("SELECT count(*) FROM checks c JOIN users u USING (user_id) WHERE u.username = %s",
                              (username,)).fetchone()[0]
        audited = conn.execute("SELECT count(*) FROM audit_log a JOIN users u ON u.user_id = a.actor_user_id "
                               "WHERE u.username = %s", (username,)).fetchone()[0]
    return int(checks), int(audited)


def test_a_session_cookie_alone_cannot_check_by_get(visitor: TestClient, module_database: str, demo) -> None:
    csrf = form_login(visitor, "registrar")
    before = _rows(module_database, "registrar")
    for params in ({"unit_number": demo.other_unit, "purpose": "chosen by another site"},
                   {"parcel_code": demo.parcel_code}, {"unit_number": "x"}):
        response = visitor.get("/api/check", params=params)
        assert response.status_code == 403, response.text
        assert "POST" in response.json()["detail"]["message"]
    assert _rows(module_database, "registrar") == before, "no check made, no look-up logged, no limit spent"
    posted = visitor.post("/api/check", json={"unit_number": demo.other_unit}, headers={"X-CSRF-Token": csrf})
    assert posted.status_code == 200 and posted.json()["units"], posted.text
    # A bearer token keeps GET (it is no ambient credential), even with a cookie beside it.
    got = visitor.get("/api/check", params={"unit_number": demo.other_unit}, headers=bearer(visitor, "registrar"))
    assert got.status_code == 200 and got.json()["units"]


def test_changes_another_site_sends_are_refused(visitor: TestClient, module_database: str, demo) -> None:
    csrf = form_login(visitor, "citizen")
    before = _rows(module_database, "citizen")
    query = {"parcel_code": demo.parcel_code}
    for foreign in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "https://attacker.example"}, {"Origin": "null"}):
        response = visitor.post("/api/check", json=query, headers={"X-CSRF-Token": csrf, **foreign})
        assert response.status_code == 403, (foreign, response.text)
        assert response.json()["detail"]["code"] == "cross_site_request"
        assert visitor.post("/logout", data={"csrf": csrf}, headers=foreign).status_code == 403
    assert _rows(module_database, "citizen") == before
    assert visitor.get("/api/me").status_code == 200, "the session survived the forged log-out"
    # The browser's Sec-Fetch-Site is believed over Origin (a proxy may have rewritten Host).
    for own in ({"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}, {"Sec-Fetch-Site": "none"}, {},
                {"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin", "Origin": "https://portal.example"}):
        response = visitor.post("/api/check", json=query, headers={"X-CSRF-Token": csrf, **own})
        assert response.status_code == 200, (own, response.text)


def test_reads_another_site_sends_carry_no_session(module_database: str) -> None:
    app = create_app(settings_for(module_database))
    with TestClient(app, follow_redirects=False) as auditor, TestClient(app, follow_redirects=False) as registrar:
        form_login(auditor, "auditor")
        form_login(registrar, "registrar")
        before = _rows(module_database, "auditor"), _rows(module_database, "registrar")
        # Every GET that reads personal data, writes an audit row or costs a limit is refused.
        assert registrar.get("/api/units/search", params={"q": "解放路"}, headers=CROSS_SITE).status_code == 401
        assert registrar.get("/api/me", headers=CROSS_SITE).status_code == 401
        assert registrar.get("/counter", headers=CROSS_SITE).status_code in (303, 401)
        for path in ("/audit", "/api/audit", "/audit/export.csv"):
            assert auditor.get(path, headers=CROSS_SITE).status_code in (303, 401), path
        assert auditor.get("/api/audit", headers={"Origin": "https://attacker.example"}).status_code == 401
        assert (_rows(module_database, "auditor"), _rows(module_database, "registrar")) == before
        # A link from elsewhere still opens the public pages; the user's own navigation still works.
        assert registrar.get("/", headers=CROSS_SITE).status_code == 200
        assert auditor.get("/api/audit", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
        assert registrar.get("/api/units/search", params={"q": "解放路"}).status_code == 200


def test_bearer_tokens_are_not_held_back_by_the_site_headers(client: TestClient, demo) -> None:
    headers = {**bearer(client, "citizen"), **CROSS_SITE, "Origin": "https://another-app.example"}
    assert client.get("/api/check", params={"unit_number": demo.other_unit}, headers=headers).status_code == 200
    assert client.post("/api/check", json={"unit_number": demo.other_unit}, headers=headers).status_code == 200
