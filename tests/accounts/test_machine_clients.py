"""Machine clients (issue 20 §3): an administrator creates, lists and revokes them over the API
and the command line; a client reads only what its scopes allow (403 otherwise), every call is
audited in the client's name, refused ones too, and its per-minute limit holds."""

from __future__ import annotations

import psycopg
import pytest
from account_helpers import bearer
from click.testing import CliRunner
from fastapi.testclient import TestClient

from portal.cli import main


def _create(client: TestClient, admin: dict[str, str], name: str, scopes: list[str], per_minute: int = 100) -> str:
    response = client.post("/api/admin/machine-clients", headers=admin, json={
        "name": name, "department": "市税务局", "scopes": scopes, "per_minute": per_minute})
    assert response.status_code == 201, response.text
    assert response.json()["token"].startswith("mc_")
    return str(response.json()["token"])


def _audit(url: str, name: str) -> list[tuple[str, str, str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT actor_role, purpose, subject, outcome FROM audit_log WHERE action = 'machine_call' "
                            "AND actor_institution = %s ORDER BY seq", (name,)).fetchall()


def test_a_client_reads_only_its_scopes_and_every_call_is_audited(client: TestClient, module_database: str,
                                                                   demo) -> None:
    admin = bearer(client, "admin")
    token = _create(client, admin, "tax-bureau", ["ownership_for_tax"])
    auth = {"Authorization": f"Bearer {token}"}
    unit = demo.other_unit
    owners = client.get("/api/machine/ownership", params={"unit_number": unit}, headers=auth)
    assert owners.status_code == 200, owners.text
    assert owners.json()["owners"] and all("*" in o["id_document_number"] for o in owners.json()["owners"])
    refused = client.get("/api/machine/seizures", params={"unit_number": demo.seized_unit}, headers=auth)
    assert refused.status_code == 403 and "seizures_for_courts" in refused.text
    assert client.get("/api/machine/restriction-flags", params={"unit_number": unit}, headers=auth).status_code == 403
    assert _audit(module_database, "tax-bureau") == [
        ("machine_client", "ownership_for_tax", unit, "success"),
        ("machine_client", "seizures_for_courts", demo.seized_unit, "refused"),
        ("machine_client", "restriction_flags", unit, "refused")]
    # A user's token is not a client's, and a made-up one is refused.
    for wrong in (admin["Authorization"], "Bearer mc_not-a-token", None):
        headers = {"Authorization": wrong} if wrong else {}
        answer = client.get("/api/machine/ownership", params={"unit_number": unit}, headers=headers)
        assert answer.status_code == 401


def test_courts_and_planning_see_their_scopes(client: TestClient, demo) -> None:
    admin = bearer(client, "admin")
    token = _create(client, admin, "court-system", ["seizures_for_courts", "restriction_flags"])
    auth = {"Authorization": f"Bearer {token}"}
    seizures = client.get("/api/machine/seizures", params={"unit_number": demo.seized_unit}, headers=auth).json()
    assert seizures["seizures"][0]["queue_position"] == 1 and seizures["seizures"][0]["court"]
    flags = client.get("/api/machine/restriction-flags", params={"unit_number": demo.seized_unit}, headers=auth)
    assert flags.status_code == 200 and flags.json()["seized"] is True
    assert "court" not in flags.text and "name" not in flags.json()
    bad = client.get("/api/machine/restriction-flags", params={"unit_number": "x" * 40}, headers=auth)
    assert bad.status_code == 422


def test_the_limit_holds_and_a_revoked_client_is_refused(client: TestClient, module_database: str, demo) -> None:
    admin = bearer(client, "admin")
    token = _create(client, admin, "planning", ["restriction_flags"], per_minute=3)
    auth = {"Authorization": f"Bearer {token}"}
    answers = [client.get("/api/machine/restriction-flags", params={"unit_number": demo.other_unit}, headers=auth)
               for _ in range(4)]
    codes = [a.status_code for a in answers]
    # Three a minute (a fourth 429), unless the minute turned between the calls.
    assert codes[:3] == [200, 200, 200] and codes[3] in (429, 200)
    if codes[3] == 429:
        assert answers[3].headers["Retry-After"].isdigit()
        assert _audit(module_database, "planning")[-1][3] == "limited"
    listed = client.get("/api/admin/machine-clients", headers=admin).json()
    assert {"planning"} <= {c["name"] for c in listed} and all("token" not in c for c in listed)
    assert client.delete("/api/admin/machine-clients/planning", headers=admin).status_code == 204
    assert client.delete("/api/admin/machine-clients/planning", headers=admin).status_code == 404
    again = client.get("/api/machine/restriction-flags", params={"unit_number": demo.other_unit}, headers=auth)
    assert again.status_code == 401


def test_only_administrators_manage_clients_and_bad_input_is_refused(client: TestClient) -> None:
    registrar = bearer(client, "registrar")
    denied = client.post("/api/admin/machine-clients", headers=registrar,
                         json={"name": "x-y-z", "department": "d", "scopes": ["restriction_flags"]})
    assert denied.status_code == 403
    admin = bearer(client, "admin")
    for body in ({"name": "ok-name", "department": "d", "scopes": ["everything"]},
                 {"name": "Bad Name!", "department": "d", "scopes": ["restriction_flags"]},
                 {"name": "ok-name", "department": "", "scopes": ["restriction_flags"]},
                 {"name": "ok-name", "department": "d", "scopes": "restriction_flags", "per_minute": "many"},
                 []):
        assert client.post("/api/admin/machine-clients", headers=admin, json=body).status_code == 422, body
    _create(client, admin, "twice", ["restriction_flags"])
    dup = client.post("/api/admin/machine-clients", headers=admin,
                      json={"name": "twice", "department": "d", "scopes": ["restriction_flags"]})
    assert dup.status_code == 409


def test_the_command_line_creates_lists_and_revokes(module_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", module_database)
    runner = CliRunner()
    made = runner.invoke(main, ["client", "add", "cli-client", "--department", "法院",
                                "--scope", "seizures_for_courts"])
    assert made.exit_code == 0, made.output
    assert "token: mc_" in made.output
    listed = runner.invoke(main, ["client", "list"])
    assert "cli-client" in listed.output and "active" in listed.output
    assert runner.invoke(main, ["client", "revoke", "cli-client"]).exit_code == 0
    assert "revoked" in runner.invoke(main, ["client", "list"]).output
    assert runner.invoke(main, ["client", "add", "y", "--department", "d", "--scope", "all"]).exit_code != 0


def test_the_openapi_documents_the_machine_api_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/api/machine/restriction-flags", "/api/machine/ownership", "/api/machine/seizures"):
        operation = spec["paths"][path]["get"]
        assert {"401", "403", "429"} <= set(operation["responses"]), path
    create = spec["paths"]["/api/admin/machine-clients"]["post"]
    assert create["requestBody"]["content"]["application/json"]["example"]["scopes"] == ["ownership_for_tax"]
