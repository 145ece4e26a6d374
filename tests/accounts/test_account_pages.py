"""The account page (owners see who checked their units) and user administration by forms."""

from __future__ import annotations

import psycopg
from account_helpers import bearer, csrf_of, form_login, new_username, sign_up
from fastapi.testclient import TestClient


def test_owner_account_page_lists_units_and_who_checked(visitor: TestClient, client: TestClient, demo) -> None:
    client.get("/api/check", params={"unit_number": demo.owner_units[0]}, headers=bearer(client, "registrar"))
    form_login(visitor, "owner")
    visitor.cookies.set("lang", "en")
    page = visitor.get("/account").text
    assert demo.owner_units[0] in page and "Who checked my units" in page
    assert "registrar" in page and "杭州市上城区不动产登记中心" in page
    assert "王登记" not in page, "the checker's name is never shown"
    assert "Verified as" in page and "*************" in page


def test_administrator_sets_roles_by_form(visitor: TestClient, module_database: str) -> None:
    username = new_username("r")
    sign_up(visitor, username)
    visitor.cookies.clear()
    form_login(visitor, "admin")
    page = visitor.get("/admin/users")
    assert page.status_code == 200 and username in page.text
    response = visitor.post("/admin/users/roles", data={
        "username": username, "roles": ["surveyor"], "institution": "测绘院", "csrf": csrf_of(page.text)})
    assert response.status_code == 303
    assert visitor.post("/admin/users/roles", data={"username": username, "roles": ["owner"],
                                                    "csrf": csrf_of(page.text)}).status_code == 422
    with psycopg.connect(module_database) as conn:
        roles, institution = conn.execute("SELECT roles, institution FROM users WHERE username = %s",
                                          (username,)).fetchone()
        audited = conn.execute("SELECT actor_role, detail::jsonb->'roles' FROM audit_log WHERE action = "
                               "'roles_changed' AND subject = %s", (f"username:{username}",)).fetchone()
    assert (roles, institution) == (["surveyor"], "测绘院")
    assert audited == ("administrator", ["surveyor"])
