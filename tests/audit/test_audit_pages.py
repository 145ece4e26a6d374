"""Auditors search the audit log in the portal and export it; both leave their own trace."""

from __future__ import annotations

import csv
import io

from account_helpers import bearer, form_login
from fastapi.testclient import TestClient


def test_auditor_searches_by_reference_and_role(client: TestClient, demo) -> None:
    check = client.get("/api/check", params={"unit_number": demo.other_unit, "purpose": "尽职调查"},
                       headers=bearer(client, "clerk")).json()
    auditor = bearer(client, "auditor")
    rows = client.get("/api/audit", params={"reference": check["reference"]}, headers=auditor).json()["rows"]
    assert [(r["action"], r["access"], r["actor_role"], r["purpose"]) for r in rows] == [
        ("view_personal_data", "consulted", "court_clerk", "尽职调查"),
        ("restriction_check", "consulted", "court_clerk", "尽职调查")]
    by_role = client.get("/api/audit", params={"actor_role": "court_clerk", "action": "restriction_check"},
                         headers=auditor).json()["rows"]
    assert by_role and all(r["actor_role"] == "court_clerk" and r["action"] == "restriction_check" for r in by_role)
    searched = client.get("/api/audit", params={"action": "audit_search"}, headers=auditor).json()["rows"]
    assert searched and searched[0]["actor_role"] == "auditor"


def test_audit_page_and_csv_export(visitor: TestClient, demo) -> None:
    form_login(visitor, "auditor")
    page = visitor.get("/audit", params={"action": "login", "outcome": "success"})
    assert page.status_code == 200 and "login" in page.text
    export = visitor.get("/audit/export.csv", params={"action": "login"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert rows and {r["action"] for r in rows} == {"login"}
    assert {"seq", "at", "actor_role", "action", "access", "subject", "purpose", "outcome"} <= set(rows[0])
    exported = visitor.get("/api/audit", params={"action": "audit_export"})
    assert exported.status_code == 200 and exported.json()["rows"][0]["actor_role"] == "auditor"


def test_bad_audit_filters_are_named(client: TestClient) -> None:
    auditor = bearer(client, "auditor")
    response = client.get("/api/audit", params={"since": "yesterday"}, headers=auditor)
    assert response.status_code == 422 and "since" in response.json()["detail"]["message"]
    assert client.get("/api/audit", params={"actor_user_id": "x"}, headers=auditor).status_code == 422
