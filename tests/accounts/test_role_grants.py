"""Separation of duties in user administration (issue 15, section 7): an administrator cannot
change their own roles, and a role that sees personal data (or the administrator role) given in
the portal takes effect only when a second administrator confirms it. Each rule is refused over
HTTP with nothing changed, and by the database itself (migration 0012)."""

from __future__ import annotations

import psycopg
import pytest
from account_helpers import bearer, csrf_of, form_login, new_username, sign_up
from fastapi.testclient import TestClient

from portal.platform.permissions import CONFIRMED_ROLES, PERSONAL_DATA_ROLES, Role

JSON = {"accept": "application/json"}


def _user(url: str, username: str) -> tuple[int, list[str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT user_id, roles FROM users WHERE username = %s", (username,)).fetchone()


def _acting(conn: psycopg.Connection, username: str) -> None:
    conn.execute("SELECT set_config('cadastre.actor_user_id', user_id::text, true) FROM users WHERE username = %s",
                 (username,))


def test_the_roles_that_need_a_second_administrator_are_those_that_see_personal_data() -> None:
    from importlib import import_module

    migration = import_module("migrations.versions.0012_separation_of_duties")
    assert PERSONAL_DATA_ROLES == {Role.REGISTRAR, Role.COURT_CLERK, Role.AUDITOR}
    assert {r.value for r in CONFIRMED_ROLES} == set(migration.CONFIRMED_ROLES)


def test_an_administrator_cannot_change_their_own_roles(visitor: TestClient, module_database: str) -> None:
    admin_id, before = _user(module_database, "admin")
    form_login(visitor, "admin")
    page = visitor.get("/admin/users")
    refused = visitor.post("/admin/users/roles", headers=JSON, data={
        "username": "admin", "roles": ["administrator", "registrar", "auditor"], "csrf": csrf_of(page.text)})
    assert refused.status_code == 403
    assert refused.json()["detail"]["code"] == "own_roles" and "own roles" in refused.json()["detail"]["message"]
    assert _user(module_database, "admin") == (admin_id, before) and before == ["administrator"]
    with psycopg.connect(module_database) as conn:
        assert conn.execute("SELECT count(*) FROM role_grants WHERE user_id = %s", (admin_id,)).fetchone() == (0,)
        assert conn.execute("SELECT outcome FROM audit_log WHERE action = 'roles_changed' AND subject = "
                            "'username:admin' ORDER BY seq DESC LIMIT 1").fetchone() == ("refused",)
        # The database refuses it too, whoever the portal names as the actor.
        _acting(conn, "admin")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="own_roles"):
            conn.execute("UPDATE users SET roles = roles || '{registrar}' WHERE username = 'admin'")


def test_a_role_that_sees_personal_data_needs_a_second_administrator(visitor: TestClient, client: TestClient,
                                                                     module_database: str) -> None:
    username = new_username("g")
    sign_up(visitor, username)
    visitor.cookies.clear()
    grantee = bearer(client, username, "correct horse battery")
    form_login(visitor, "admin")
    page = visitor.get("/admin/users")
    response = visitor.post("/admin/users/roles", data={"username": username, "roles": ["registrar", "surveyor"],
                                                        "institution": "登记中心", "csrf": csrf_of(page.text)})
    assert response.status_code == 303
    user_id, roles = _user(module_database, username)
    assert roles == ["surveyor"], "the surveyor role sees no personal data: it is given at once; registrar waits"
    assert client.get("/api/applications", headers=grantee).status_code == 403
    with psycopg.connect(module_database) as conn:
        [(grant_id, role, requested_by)] = conn.execute(
            "SELECT g.grant_id, g.role, r.username FROM role_grants g JOIN users r ON r.user_id = g.requested_by "
            "WHERE g.user_id = %s AND g.confirmed_at IS NULL", (user_id,)).fetchall()
    assert (role, requested_by) == ("registrar", "admin")
    page = visitor.get("/admin/users")
    assert f'name="grant_id" value="{grant_id}"' not in page.text, "no confirm button for the one who asked"
    # The administrator who asked cannot confirm: 403, nothing changes.
    refused = visitor.post("/admin/users/grants/confirm", headers=JSON,
                           data={"grant_id": str(grant_id), "csrf": csrf_of(page.text)})
    assert refused.status_code == 403 and refused.json()["detail"]["code"] == "second_administrator"
    assert _user(module_database, username)[1] == ["surveyor"]
    assert client.get("/api/applications", headers=grantee).status_code == 403
    assert visitor.post("/admin/users/grants/confirm", headers=JSON,
                        data={"grant_id": "x' OR 1=1", "csrf": csrf_of(page.text)}).status_code == 422
    # A second administrator sees the grant with a confirm button, and confirms it.
    visitor.cookies.clear()
    form_login(visitor, "admin2")
    page = visitor.get("/admin/users")
    assert f'name="grant_id" value="{grant_id}"' in page.text
    confirmed = visitor.post("/admin/users/grants/confirm",
                             data={"grant_id": str(grant_id), "csrf": csrf_of(page.text)})
    assert confirmed.status_code == 303
    assert _user(module_database, username)[1] == ["registrar", "surveyor"]
    assert client.get("/api/applications", headers=grantee).status_code == 200
    again = visitor.post("/admin/users/grants/confirm", headers=JSON,
                         data={"grant_id": str(grant_id), "csrf": csrf_of(page.text)})
    assert again.status_code == 409
    with psycopg.connect(module_database) as conn:
        audited = conn.execute(
            "SELECT a.action, a.outcome, u.username FROM audit_log a JOIN users u ON u.user_id = a.actor_user_id "
            "WHERE a.subject = %s AND a.action IN ('roles_changed', 'role_grant_confirmed') ORDER BY a.seq",
            (f"username:{username}",)).fetchall()
    assert audited == [("roles_changed", "success", "admin"), ("role_grant_confirmed", "refused", "admin"),
                       ("role_grant_confirmed", "success", "admin2")]


def test_the_database_refuses_a_role_no_second_administrator_confirmed(client: TestClient,
                                                                        module_database: str) -> None:
    username = new_username("d")
    with psycopg.connect(module_database) as conn:
        user_id = conn.execute("INSERT INTO users (username, display_name, password_hash) VALUES "
                               "(%s, '测试', '$argon2id$x') RETURNING user_id", (username,)).fetchone()[0]
        admin, admin2 = (conn.execute("SELECT user_id FROM users WHERE username = %s", (n,)).fetchone()[0]
                         for n in ("admin", "admin2"))
        conn.commit()
        _acting(conn, "admin2")
        for role in ("registrar", "court_clerk", "auditor", "administrator"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="second_administrator"):
                conn.execute("UPDATE users SET roles = %s WHERE user_id = %s", ([role], user_id))
            conn.rollback()
            _acting(conn, "admin2")
        conn.execute("UPDATE users SET roles = '{surveyor}' WHERE user_id = %s", (user_id,))  # no personal data
        conn.rollback()
        for requested, confirmed in ((admin, admin), (user_id, admin2), (admin, user_id)):
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute("INSERT INTO role_grants (user_id, role, requested_by, confirmed_by, confirmed_at) "
                             "VALUES (%s, 'registrar', %s, %s, now())", (user_id, requested, confirmed))
            conn.rollback()
        # With a grant one administrator asked for and another confirmed, in the same transaction: given.
        _acting(conn, "admin2")
        conn.execute("INSERT INTO role_grants (user_id, role, requested_by, confirmed_by, confirmed_at) "
                     "VALUES (%s, 'registrar', %s, %s, now())", (user_id, admin, admin2))
        conn.execute("UPDATE users SET roles = '{registrar}' WHERE user_id = %s", (user_id,))
        conn.rollback()
