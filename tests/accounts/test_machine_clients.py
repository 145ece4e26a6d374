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
    """Create the client and, when a scope shows personal data, have admin2 confirm it."""
    response = client.post("/api/admin/machine-clients", headers=admin, json={
        "name": name, "department": "市税务局", "scopes": scopes, "per_minute": per_minute})
    assert response.status_code == 201, response.text
    assert response.json()["token"].startswith("mc_") and response.json()["created_at"]
    if response.json()["pending"]:
        confirmed = client.post(f"/api/admin/machine-clients/{name}/confirm", headers=bearer(client, "admin2"))
        assert confirmed.status_code == 200, confirmed.text
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
                                "--scope", "seizures_for_courts", "--as", "admin"])
    assert made.exit_code == 0, made.output
    assert "token: mc_" in made.output and "pending" in made.output
    assert "pending confirmation" in runner.invoke(main, ["client", "list"]).output
    own = runner.invoke(main, ["client", "confirm", "cli-client", "--as", "admin"])
    assert own.exit_code != 0 and "other than the one who created it" in own.output
    confirmed = runner.invoke(main, ["client", "confirm", "cli-client", "--as", "admin2"])
    assert confirmed.exit_code == 0, confirmed.output
    listed = runner.invoke(main, ["client", "list"])
    assert "cli-client" in listed.output and "active" in listed.output
    assert runner.invoke(main, ["client", "revoke", "cli-client"]).exit_code == 0
    # Times in the office's zone (Asia/Shanghai by default: CST), never UTC.
    revoked = runner.invoke(main, ["client", "list"]).output
    assert "revoked" in revoked and "CST" in revoked and "UTC" not in revoked
    # A personal-data scope is never created without an administrator's name.
    unnamed = runner.invoke(main, ["client", "add", "nameless", "--department", "d", "--scope", "ownership_for_tax"])
    assert unnamed.exit_code != 0 and "--as" in unnamed.output
    assert runner.invoke(main, ["client", "add", "y", "--department", "d", "--scope", "all"]).exit_code != 0


def test_the_openapi_documents_the_machine_api_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/api/machine/restriction-flags", "/api/machine/ownership", "/api/machine/seizures"):
        operation = spec["paths"][path]["get"]
        assert {"401", "403", "429"} <= set(operation["responses"]), path
    create = spec["paths"]["/api/admin/machine-clients"]["post"]
    assert create["requestBody"]["content"]["application/json"]["example"]["scopes"] == ["ownership_for_tax"]


def _owners(client: TestClient, unit: str, auth: dict[str, str]) -> int:
    return client.get("/api/machine/ownership", params={"unit_number": unit}, headers=auth).status_code


def test_a_client_that_sees_personal_data_needs_a_second_administrator(client: TestClient, module_database: str,
                                                                       demo) -> None:
    """F1: one administrator alone cannot let another system read owners' names."""
    admin = bearer(client, "admin")
    made = client.post("/api/admin/machine-clients", headers=admin, json={
        "name": "lone-admin", "department": "d", "scopes": ["ownership_for_tax"], "per_minute": 60})
    assert made.status_code == 201 and made.json()["pending"] is True
    auth = {"Authorization": f"Bearer {made.json()['token']}"}
    # Pending: the token does not work yet.
    assert _owners(client, demo.other_unit, auth) == 401
    listed = {c["name"]: c for c in client.get("/api/admin/machine-clients", headers=admin).json()}
    assert listed["lone-admin"]["pending"] is True
    # The administrator who created it cannot confirm it; refused and audited, nothing changes.
    own = client.post("/api/admin/machine-clients/lone-admin/confirm", headers=admin)
    assert own.status_code == 403 and own.json()["detail"]["code"] == "second_administrator"
    assert _owners(client, demo.other_unit, auth) == 401
    # The database refuses it too.
    with psycopg.connect(module_database) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE machine_clients SET confirmed_by = created_by, confirmed_at = now() "
                     "WHERE name = 'lone-admin'")
    second = client.post("/api/admin/machine-clients/lone-admin/confirm", headers=bearer(client, "admin2"))
    assert second.status_code == 200 and second.json()["pending"] is False
    assert client.post("/api/admin/machine-clients/lone-admin/confirm",
                       headers=bearer(client, "admin2")).status_code == 409
    assert _owners(client, demo.other_unit, auth) == 200
    with psycopg.connect(module_database) as conn:
        rows = conn.execute("SELECT a.action, a.outcome, u.username FROM audit_log a JOIN users u "
                            "ON u.user_id = a.actor_user_id WHERE a.subject = 'lone-admin' AND a.action LIKE "
                            "'machine_client_%%' ORDER BY a.seq").fetchall()
    assert rows == [("machine_client_created", "success", "admin"), ("machine_client_confirmed", "refused", "admin"),
                    ("machine_client_confirmed", "success", "admin2")]
    # Restriction flags only: active at once. And the calls a minute have a sane ceiling (600 by default).
    flags = client.post("/api/admin/machine-clients", headers=admin, json={
        "name": "flags-only", "department": "d", "scopes": ["restriction_flags"], "per_minute": 600})
    assert flags.status_code == 201 and flags.json()["pending"] is False
    too_many = client.post("/api/admin/machine-clients", headers=admin, json={
        "name": "greedy", "department": "d", "scopes": ["restriction_flags"], "per_minute": 100_000})
    assert too_many.status_code == 422 and "600" in too_many.text


def test_a_flood_without_a_token_is_limited_and_not_audited_per_call(client: TestClient, module_database: str,
                                                                     demo) -> None:
    """F5: calls without a valid token are limited per address; only the first refusal and the
    first 429 of a minute leave an audit row."""
    def count() -> int:
        with psycopg.connect(module_database) as conn:
            return conn.execute("SELECT count(*) FROM audit_log WHERE action = 'machine_call' "
                                "AND actor_institution IS NULL").fetchone()[0]

    before = count()
    # From an address of its own: the limit is per address, and the module's other tests share
    # the test client's address within the same minute.
    flooder = TestClient(client.app, client=("192.0.2.77", 50000))
    codes = [flooder.get("/api/machine/restriction-flags", params={"unit_number": demo.other_unit},
                         headers={"Authorization": "Bearer mc_flood"}).status_code for _ in range(30)]
    assert 429 in codes and set(codes) <= {401, 429}
    limited = flooder.get("/api/machine/restriction-flags", params={"unit_number": demo.other_unit})
    assert client.get("/api/machine/restriction-flags", params={"unit_number": demo.other_unit},
                      headers={"Authorization": "Bearer mc_other"}).status_code == 401  # another address
    if limited.status_code == 429:  # unless the minute turned
        assert limited.headers["Retry-After"].isdigit()
    # One 401 and one 429 per minute at most (two minutes if the minute turned during the flood).
    assert count() - before <= 4


def test_a_call_for_an_unknown_unit_is_audited_not_found(client: TestClient, module_database: str) -> None:
    admin = bearer(client, "admin")
    token = _create(client, admin, "planning-2", ["restriction_flags"])
    unknown = "110101001001GB00001F99999999"
    answer = client.get("/api/machine/restriction-flags", params={"unit_number": unknown},
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (404, 422)
    assert _audit(module_database, "planning-2")[-1][3] == "not_found"
