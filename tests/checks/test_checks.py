"""The restriction check and its tiers, certificates and their verification, owners' view of who
checked their units, unit search ("listed" apart from "consulted"), and the limits."""

from __future__ import annotations

import io

import psycopg
import pytest
from account_helpers import bearer, csrf_of, form_login, settings_for, verified_account
from fastapi.testclient import TestClient
from identities import opened
from pypdf import PdfReader

from portal.accounts.identity_numbers import mask_document_number
from portal.app import create_app

FLAG_KEYS = {"unit_number", "location", "use", "co_owned", "holders", "mortgaged", "mortgages", "seized",
             "seizures_active", "seizures_queued", "under_objection", "objections", "advance_notice",
             "advance_notices", "tier"}


def _register_facts(module_database: str, unit_number: str) -> dict[str, object]:
    """What the register says about a unit, straight from SQL, to compare the check with."""
    with psycopg.connect(module_database) as conn:
        holders = [(name, opened(digest, sealed)) for name, digest, sealed in conn.execute(
            "SELECT p.name, id_document_digest, id_document_sealed FROM current_rights r JOIN right_holders h "
            "ON h.right_version_id = r.version_id JOIN current_parties p ON p.party_id = h.party_id "
            "JOIN current_units u ON u.unit_id = r.unit_id WHERE u.unit_number = %s", (unit_number,)).fetchall()]
        counts = dict(conn.execute(
            "SELECT x.kind || ':' || x.status, count(*) FROM current_restrictions x JOIN current_units u "
            "ON u.unit_id = x.unit_id WHERE u.unit_number = %s GROUP BY 1", (unit_number,)).fetchall())
        details = conn.execute(
            "SELECT x.secured_amount::text, x.document_number, p.name FROM current_restrictions x "
            "JOIN current_units u ON u.unit_id = x.unit_id LEFT JOIN current_parties p ON p.party_id = x.party_id "
            "WHERE u.unit_number = %s", (unit_number,)).fetchall()
    return {"holders": holders, "counts": counts, "details": details}


def test_verified_user_gets_flags_only(client: TestClient, module_database: str, demo) -> None:
    response = client.get("/api/check", params={"unit_number": demo.other_unit, "purpose": "购房前查询"},
                          headers=bearer(client, "citizen"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tier"] == "flags" and body["reference"].startswith("CK") and body["as_of"]
    (unit,) = body["units"]
    assert set(unit) == FLAG_KEYS
    facts = _register_facts(module_database, demo.other_unit)
    assert unit["mortgaged"] is True and unit["mortgages"] == facts["counts"].get("mortgage:active", 0)
    assert unit["holders"] == len(facts["holders"])
    for name, number in facts["holders"]:
        assert name not in response.text and number not in response.text
    for amount, document, party in facts["details"]:
        for secret in (amount, document, party):
            assert not secret or secret not in response.text


def test_owner_gets_the_full_record_of_own_units_only(client: TestClient, module_database: str, demo) -> None:
    headers = bearer(client, "owner")
    own = client.get("/api/check", params={"unit_number": demo.owner_units[0]}, headers=headers).json()
    (unit,) = own["units"]
    assert own["tier"] == unit["tier"] == "owner"
    facts = _register_facts(module_database, demo.owner_units[0])
    record_holders = {h["name"]: h for r in unit["record"]["rights"] if r["current"] for h in r["holders"]}
    assert set(record_holders) == {name for name, _ in facts["holders"]}
    for name, number in facts["holders"]:
        assert record_holders[name]["document_number"] != number, "co-owners' numbers are masked for owners"
        assert record_holders[name]["document_number"][:3] == number[:3]
    if any(r["co_ownership"] == "by_portions" for r in unit["record"]["rights"] if r["current"]):
        assert all(h["share"] for h in record_holders.values())
    mortgages = [x for x in unit["record"]["restrictions"] if x["kind"] == "mortgage" and x["current"]]
    assert {(m["secured_amount"], m["party"]) for m in mortgages} >= {
        (a, p) for a, d, p in facts["details"] if a}
    assert all(m["rank"] and m["term_start"] for m in mortgages)
    other = client.get("/api/check", params={"unit_number": demo.other_unit}, headers=headers).json()
    assert other["tier"] == "flags" and "record" not in other["units"][0]


def test_registrar_sees_everything_with_numbers_masked_and_reveals_them(client: TestClient, module_database: str,
                                                                      demo) -> None:
    """The registry tier is the full record; identity numbers are masked there as everywhere, and
    each holder carries its party_id, for the one audited reveal (tests/registry/test_party_identity.py)."""
    headers = bearer(client, "registrar")
    response = client.get("/api/check", params={"unit_number": demo.other_unit}, headers=headers)
    (unit,) = response.json()["units"]
    assert unit["tier"] == "registry"
    facts = _register_facts(module_database, demo.other_unit)
    holders = [h for r in unit["record"]["rights"] if r["current"] for h in r["holders"]]
    for name, number in facts["holders"]:
        assert name in response.text and number not in response.text
        assert mask_document_number(number) in response.text
        (holder,) = [h for h in holders if h["name"] == name]
        revealed = client.post(f"/api/registry/parties/{holder['party_id']}/identity-number",
                               json={"purpose": "打印证书"}, headers=headers)
        assert revealed.status_code == 200 and revealed.json()["id_document_number"] == number
    history = client.get("/api/check", params={"unit_number": demo.other_unit},
                         headers=bearer(client, "registrar")).json()["units"][0]["record"]
    assert history["rights"] and history["restrictions"]


def test_court_clerk_sees_seizures_but_no_names(client: TestClient, module_database: str, demo) -> None:
    response = client.get("/api/check", params={"unit_number": demo.seized_unit}, headers=bearer(client, "clerk"))
    (unit,) = response.json()["units"]
    assert unit["tier"] == "court" and unit["seized"]
    assert unit["seizures"] and all(s["court"] and s["document_number"] for s in unit["seizures"])
    assert [s["queue_position"] for s in unit["seizures"]] == sorted(s["queue_position"] for s in unit["seizures"])
    for name, number in _register_facts(module_database, demo.seized_unit)["holders"]:
        assert name not in response.text and number not in response.text


def test_parcel_code_checks_every_unit_and_post_works_too(client: TestClient, module_database: str, demo) -> None:
    headers = bearer(client, "citizen")
    got = client.get("/api/check", params={"parcel_code": demo.parcel_code}, headers=headers).json()
    posted = client.post("/api/check", json={"parcel_code": demo.parcel_code, "purpose": "map"}, headers=headers).json()
    with psycopg.connect(module_database) as conn:
        expected = [r[0] for r in conn.execute(
            "SELECT unit_number FROM current_units WHERE left(unit_number, 19) = %s ORDER BY 1", (demo.parcel_code,))]
    assert [u["unit_number"] for u in got["units"]] == [u["unit_number"] for u in posted["units"]] == expected
    assert got["reference"] != posted["reference"]


@pytest.mark.parametrize(("params", "status", "message"), [
    ({"unit_number": "330102001001GB0000"}, 422, "28 characters"),
    ({"parcel_code": "330102001001XB00001"}, 422, "position 13"),
    ({}, 422, "unit number"),
    ({"unit_number": "330102999999GB99999F00010101"}, 404, "no current unit"),
])
def test_bad_and_unknown_queries(client: TestClient, params, status: int, message: str) -> None:
    response = client.get("/api/check", params=params, headers=bearer(client, "citizen"))
    assert response.status_code == status and message in response.json()["detail"]["message"]


def test_check_page_form_and_certificate(visitor: TestClient, demo) -> None:
    form_login(visitor, "citizen")
    page = visitor.get("/check", params={"q": demo.other_unit})
    assert page.status_code == 200 and demo.other_unit in page.text
    result = visitor.post("/check", data={"query": demo.other_unit, "purpose": "test", "csrf": csrf_of(page.text)})
    assert result.status_code == 200 and "CK" in result.text and "certificate.pdf" in result.text
    reference = result.text.split("/check/")[1].split("/certificate.pdf")[0]
    pdf = visitor.get(f"/check/{reference}/certificate.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "不动产登记限制状况查询证明" in text and "抵押" in text and reference in text
    assert demo.other_unit in text
    code = visitor.get(f"/api/checks/{reference}").json()["verification_code"]
    assert code in text and f"/verify/{code}" in text


def test_certificates_belong_to_their_checker(client: TestClient, demo) -> None:
    reference = client.get("/api/check", params={"unit_number": demo.other_unit},
                           headers=bearer(client, "citizen")).json()["reference"]
    assert client.get(f"/check/{reference}/certificate.pdf").status_code == 401
    assert client.get(f"/check/{reference}/certificate.pdf", headers=bearer(client, "owner")).status_code == 403
    assert client.get(f"/check/{reference}/certificate.pdf", headers=bearer(client, "auditor")).status_code == 200


def test_a_hostile_host_header_stays_off_the_certificate(client: TestClient, demo) -> None:
    """Review finding F9b: the certificate's verification address (printed, and its QR code) is the
    configured one, never the request's Host header."""
    body = client.get("/api/check", params={"unit_number": demo.other_unit}, headers=bearer(client, "citizen")).json()
    pdf = client.get(f"/check/{body['reference']}/certificate.pdf",
                     headers={**bearer(client, "citizen"), "Host": "verify-cadastre.evil.example"})
    assert pdf.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert b"evil.example" not in pdf.content and "evil.example" not in text
    assert f"http://127.0.0.1:8000/verify/{body['verification_code']}" in text.replace("\n", "")


def test_verify_page_states_the_flags_without_personal_data(client: TestClient, module_database: str, demo) -> None:
    body = client.get("/api/check", params={"unit_number": demo.owner_units[0]}, headers=bearer(client, "owner")).json()
    anonymous = TestClient(client.app)
    page = anonymous.get(f"/verify/{body['verification_code']}")
    assert page.status_code == 200 and body["reference"] in page.text and demo.owner_units[0] in page.text
    api = anonymous.get(f"/api/verify/{body['verification_code'].lower()}").json()
    assert api["as_of"] == body["as_of"] and api["units"][0]["mortgages"] == body["units"][0]["mortgages"]
    facts = _register_facts(module_database, demo.owner_units[0])
    for text in (page.text, str(api)):
        for name, number in facts["holders"]:
            assert name not in text and number not in text
        for amount, document, party in facts["details"]:
            assert all(not s or s not in text for s in (amount, document, party))
    assert anonymous.get("/verify/AAAAAAAAAAAAAAAA").status_code == 404
    assert anonymous.get("/verify/not-a-code").status_code == 404


def test_owner_sees_who_checked_their_units_but_not_who(client: TestClient, demo) -> None:
    client.get("/api/check", params={"unit_number": demo.owner_units[0]}, headers=bearer(client, "clerk"))
    me = client.get("/api/me", headers=bearer(client, "owner")).json()
    assert demo.owner_units[0] in [u["unit_number"] for u in me["units"]]
    seen = me["checks_of_my_units"]
    assert any(c["role"] == "court_clerk" and c["institution"] == "杭州市上城区人民法院" for c in seen)
    for c in seen:
        assert set(c) == {"checked_at", "role", "institution", "units"}
    assert "clerk" not in str([c["role"].replace("court_clerk", "") for c in seen])
    assert "李书记员" not in client.get("/api/me", headers=bearer(client, "owner")).text


def test_checks_and_personal_data_views_are_audited(client: TestClient, module_database: str, demo) -> None:
    body = client.get("/api/check", params={"unit_number": demo.owner_units[0], "purpose": "自查"},
                      headers=bearer(client, "owner")).json()
    with psycopg.connect(module_database) as conn:
        rows = conn.execute("SELECT action, access, actor_role, subject, purpose, outcome FROM audit_log "
                            "WHERE reference = %s ORDER BY seq", (body["reference"],)).fetchall()
    assert rows == [("restriction_check", "consulted", "verified_user", demo.owner_units[0], "自查", "success"),
                    ("view_personal_data", "consulted", "verified_user", demo.owner_units[0], "自查", "success")]


def test_unit_search_is_logged_as_listed(client: TestClient, module_database: str) -> None:
    headers = bearer(client, "citizen")
    hits = client.get("/api/units/search", params={"q": "解放路"}, headers=headers).json()
    assert hits["count"] > 0 and set(hits["units"][0]) == {"unit_number", "location"}
    with psycopg.connect(module_database) as conn:
        listed = {r[0] for r in conn.execute(
            "SELECT subject FROM audit_log WHERE action = 'unit_search' AND access = 'listed' "
            "AND actor_user_id = (SELECT user_id FROM users WHERE username = 'citizen')")}
    assert {u["unit_number"] for u in hits["units"]} <= listed
    assert client.get("/api/units/search", params={"q": "x"}, headers=headers).status_code == 422
    assert client.get("/api/units/search", params={"q": "%%"}, headers=headers).json()["count"] == 0


def test_limits_answer_429_and_are_counted_in_the_database(module_database: str, demo) -> None:
    settings = settings_for(module_database, checks_per_minute=3, checks_per_day=4)
    with TestClient(create_app(settings), follow_redirects=False) as first, \
            TestClient(create_app(settings), follow_redirects=False) as second:
        headers = verified_account(first, module_database, "l")
        username = first.get("/api/me", headers=headers).json()["username"]
        # Two app servers share the count: it lives in the database.
        codes = [app.get("/api/check", params={"unit_number": demo.other_unit}, headers=headers).status_code
                 for app in (first, second, first, second)]
        assert codes[:3] == [200, 200, 200] and codes[3] == 429
        limited = second.get("/api/check", params={"unit_number": demo.other_unit}, headers=headers)
        assert limited.status_code == 429 and "a minute" in limited.json()["detail"]["message"]
        assert 0 < int(limited.headers["retry-after"]) <= 60
        with psycopg.connect(module_database) as conn:
            conn.execute("DELETE FROM rate_counters WHERE bucket = (SELECT 'checks-minute:' || user_id FROM users "
                         "WHERE username = %s)", (username,))
        daily = first.get("/api/check", params={"unit_number": demo.other_unit}, headers=headers)
        assert daily.status_code == 429 and "daily limit" in daily.json()["detail"]["message"]
        with psycopg.connect(module_database) as conn:
            outcomes = [r[0] for r in conn.execute(
                "SELECT outcome FROM audit_log WHERE action = 'restriction_check' AND actor_user_id = "
                "(SELECT user_id FROM users WHERE username = %s) ORDER BY seq", (username,))]
        assert outcomes == ["success"] * 3 + ["limited"] * 3


def test_unknown_numbers_count_against_the_limit(module_database: str) -> None:
    settings = settings_for(module_database, checks_per_minute=2)
    with TestClient(create_app(settings), follow_redirects=False) as app:
        headers = verified_account(app, module_database, "g")
        codes = [app.get("/api/check", params={"unit_number": f"330102999999GB9999{i}F00010101"},
                         headers=headers).status_code for i in range(3)]
    assert codes == [404, 404, 429]
