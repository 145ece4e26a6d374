"""Hostile input to the restriction check and the other JSON bodies of accounts (issue 15 §9):
a number, a list or a control character where text belongs is a 422 that names the field,
never a 500, and nothing is checked, counted or written."""

from __future__ import annotations

import psycopg
import pytest
from account_helpers import bearer
from fastapi.testclient import TestClient

UNIT = "330102001001GB00144F00010101"
FIELDS = ("unit_number", "parcel_code", "query", "purpose")


def _checks(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM checks").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", [5, 1.5, True, ["x"], {"a": 1}, "33\x00", "\x00", "a\x1bb"])
def test_check_body_fields_must_be_text(client: TestClient, module_database: str, field: str,
                                         value: object) -> None:
    headers = bearer(client, "registrar")
    before = _checks(module_database)
    body = {"unit_number": UNIT, field: value}
    response = client.post("/api/check", json=body, headers=headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["code"] == "invalid_input" and field in detail["message"]
    assert "\x00" not in response.text and _checks(module_database) == before


@pytest.mark.parametrize(("path", "field"), [("/api/tokens", "username"), ("/api/tokens", "password"),
                                              ("/api/me/verification", "name"),
                                              ("/api/me/verification", "id_number")])
@pytest.mark.parametrize("value", [7, ["x"], "ab\x00c"])
def test_account_bodies_must_be_text(client: TestClient, path: str, field: str, value: object) -> None:
    headers = bearer(client, "citizen") if path != "/api/tokens" else {}
    body = {"username": "citizen", "password": "x", "name": "张三", "id_number": "330102199001011234",
            field: value}
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]["message"]



def test_the_check_body_is_described_in_the_openapi(client: TestClient) -> None:
    """POST /api/check reads its body itself (for the hardening above and its speed), yet the
    OpenAPI document describes that body, so clients and the fuzzer know what to send."""
    body = client.get("/openapi.json").json()["paths"]["/api/check"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] and set(schema["properties"]) == set(FIELDS)
    assert schema["properties"]["unit_number"]["anyOf"][0] == {"type": "string", "minLength": 28, "maxLength": 28}
