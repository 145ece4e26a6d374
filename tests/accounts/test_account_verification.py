"""Identity verification: by registry match online, or by a registrar at the counter; identity
numbers are checked, never stored or logged in clear, and shown masked."""

from __future__ import annotations

import psycopg
import pytest
from account_helpers import bearer, csrf_of, form_login, new_username, sign_up
from fastapi.testclient import TestClient
from identities import opened

from portal.accounts.identity_numbers import mask_document_number, resident_id_check_digit


def _spare_party(module_database: str) -> tuple[str, str]:
    """A current natural person of the demo register that no account is verified as."""
    with psycopg.connect(module_database) as conn:
        name, digest, sealed = conn.execute(
            "SELECT name, id_document_digest, id_document_sealed FROM current_parties p "
            "WHERE id_document_type = 'resident_id' "
            "AND NOT EXISTS (SELECT 1 FROM identity_verifications v WHERE v.party_id = p.party_id "
            "AND v.revoked_at IS NULL) ORDER BY random() LIMIT 1").fetchone()
    return name, opened(digest, sealed)


def _new_account(client: TestClient) -> dict[str, str]:
    username = new_username("v")
    sign_up(client, username)
    client.cookies.clear()
    return bearer(client, username, "correct horse battery")


def _leaks(module_database: str, number: str) -> list[str]:
    """Tables and columns outside the register that contain the identity number in clear."""
    found = []
    with psycopg.connect(module_database) as conn:
        for table in ("users", "identity_verifications", "sessions", "audit_log", "checks"):
            hit = conn.execute(f"SELECT count(*) FROM {table} t WHERE t::text LIKE %s", (f"%{number}%",)).fetchone()  # noqa: S608
            if hit[0]:
                found.append(table)
    return found


def test_matching_name_and_number_verifies_and_makes_an_owner(visitor: TestClient, module_database: str) -> None:
    name, number = _spare_party(module_database)
    headers = _new_account(visitor)
    me = visitor.get("/api/me", headers=headers).json()
    assert me["verified"] is False and "verified_user" not in me["roles"]
    response = visitor.post("/api/me/verification", json={"name": f" {name} ", "id_number": number.lower()},
                            headers=headers)
    assert response.status_code == 201, response.text
    me = visitor.get("/api/me", headers=headers).json()
    assert me["verified"] and "verified_user" in me["roles"]
    assert me["verification"]["method"] == "registry_match"
    assert me["verification"]["document_masked"] == mask_document_number(number)
    assert number not in visitor.get("/api/me", headers=headers).text
    assert not _leaks(module_database, number), "the identity number is stored or logged in clear"
    with psycopg.connect(module_database) as conn:
        method, digest = conn.execute(
            "SELECT method, document_digest FROM identity_verifications v JOIN users u USING (user_id) "
            "WHERE u.username = %s", (me["username"],)).fetchone()
    assert method == "registry_match" and len(bytes(digest)) == 32


@pytest.mark.parametrize(("number", "message"), [
    ("33010219900101123", "18 characters"),
    ("3301021990010112AB", "17 digits followed by a digit or X"),
    ("330102199002301234", "not a date of birth"),
    ("330102299001011234", "out of range"),
])
def test_malformed_numbers_are_refused_naming_the_problem(visitor: TestClient, module_database: str,
                                                          number: str, message: str) -> None:
    headers = _new_account(visitor)
    response = visitor.post("/api/me/verification", json={"name": "张三", "id_number": number}, headers=headers)
    assert response.status_code == 422 and message in response.json()["detail"]["message"]
    assert number not in response.text


def test_a_wrong_check_digit_is_refused(visitor: TestClient, module_database: str) -> None:
    _name, number = _spare_party(module_database)
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    headers = _new_account(visitor)
    response = visitor.post("/api/me/verification", json={"name": "张三", "id_number": wrong}, headers=headers)
    assert response.status_code == 422 and "check digit" in response.json()["detail"]["message"]


def test_mismatched_name_and_unknown_number_get_the_same_answer(visitor: TestClient, module_database: str) -> None:
    name, number = _spare_party(module_database)
    headers = _new_account(visitor)
    wrong_name = visitor.post("/api/me/verification", json={"name": name + "某", "id_number": number},
                              headers=headers)
    first17 = "11010119800101999"
    unknown = visitor.post("/api/me/verification", json={
        "name": name, "id_number": first17 + resident_id_check_digit(first17)}, headers=headers)
    assert wrong_name.status_code == unknown.status_code == 422
    assert wrong_name.json() == unknown.json() and "counter" in unknown.json()["detail"]["message"]
    assert visitor.get("/api/me", headers=headers).json()["verified"] is False
    with psycopg.connect(module_database) as conn:
        outcomes = conn.execute(
            "SELECT outcome FROM audit_log WHERE action = 'identity_verification' AND actor_user_id = "
            "(SELECT user_id FROM users WHERE username = %s) ORDER BY seq",
            (visitor.get("/api/me", headers=headers).json()["username"],)).fetchall()
    assert [o[0] for o in outcomes] == ["failure", "failure"]


def test_verification_attempts_are_limited(visitor: TestClient) -> None:
    headers = _new_account(visitor)
    first17 = "11010119800101998"
    body = {"name": "张三", "id_number": first17 + resident_id_check_digit(first17)}
    codes = [visitor.post("/api/me/verification", json=body, headers=headers).status_code for _ in range(6)]
    assert codes == [422] * 5 + [429]


def test_one_person_one_account(visitor: TestClient, module_database: str) -> None:
    name, number = _spare_party(module_database)
    first = _new_account(visitor)
    assert visitor.post("/api/me/verification", json={"name": name, "id_number": number},
                        headers=first).status_code == 201
    second = _new_account(visitor)
    response = visitor.post("/api/me/verification", json={"name": name, "id_number": number}, headers=second)
    assert response.status_code == 409 and "another account" in response.json()["detail"]["message"]


def test_registrar_verifies_at_the_counter(visitor: TestClient, module_database: str) -> None:
    username = new_username("c")
    sign_up(visitor, username)
    visitor.cookies.clear()
    first17 = "33010619850505321"
    number = first17 + resident_id_check_digit(first17)
    csrf = form_login(visitor, "registrar")
    page = visitor.get("/counter")
    assert page.status_code == 200
    form = {"username": username, "name": "林窗口", "id_number": number, "csrf": csrf_of(page.text)}
    refused = visitor.post("/counter/verify", data=form)
    assert refused.status_code == 422 and "seen the identity card" in refused.text
    done = visitor.post("/counter/verify", data={**form, "document_seen": "yes", "note": "居民身份证原件"})
    assert done.status_code == 200 and mask_document_number(number) in done.text
    assert csrf
    with psycopg.connect(module_database) as conn:
        method, by, party = conn.execute(
            "SELECT v.method, r.username, v.party_id FROM identity_verifications v JOIN users u USING (user_id) "
            "JOIN users r ON r.user_id = v.verified_by WHERE u.username = %s", (username,)).fetchone()
    assert (method, by, party) == ("counter", "registrar", None)
    assert not _leaks(module_database, number)


def test_counter_links_a_registered_party_only_if_the_names_agree(visitor: TestClient, module_database: str) -> None:
    name, number = _spare_party(module_database)
    username = new_username("c")
    sign_up(visitor, username)
    visitor.cookies.clear()
    form_login(visitor, "registrar")
    csrf = csrf_of(visitor.get("/counter").text)
    form = {"username": username, "id_number": number, "document_seen": "yes", "csrf": csrf}
    wrong = visitor.post("/counter/verify", data={**form, "name": "某某某"})
    assert wrong.status_code == 422 and "another name" in wrong.text
    right = visitor.post("/counter/verify", data={**form, "name": name})
    assert right.status_code == 200
    with psycopg.connect(module_database) as conn:
        party = conn.execute("SELECT v.party_id FROM identity_verifications v JOIN users u USING (user_id) "
                             "WHERE u.username = %s", (username,)).fetchone()[0]
    assert party is not None


def test_only_registrars_use_the_counter(client: TestClient) -> None:
    assert client.get("/counter").status_code == 401
    for username in ("citizen", "owner", "clerk", "auditor", "surveyor", "admin"):
        assert client.get("/counter", headers=bearer(client, username)).status_code == 403, username
    assert client.post("/counter/verify", data={}, headers=bearer(client, "citizen")).status_code == 403
