"""A registrar's reveals of full identity numbers cannot be a bulk read (review finding M1): a
limit a minute and a day (429 with Retry-After, in both languages), a purpose in words, only
parties the register works with, and the auditors told of a burst (docs/security.md,
"Identity numbers in the register")."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from account_helpers import bearer, settings_for
from fastapi.testclient import TestClient
from identities import opened

from portal.app import create_app

PER_MINUTE, PER_DAY, FLAGGED_AT = 3, 1000, 2


@pytest.fixture(scope="module")
def app(module_database: str) -> Iterator[TestClient]:
    settings = settings_for(module_database, reveals_per_minute=PER_MINUTE, reveals_per_day=PER_DAY,
                            reveals_flagged_at=FLAGGED_AT)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def _holders(url: str, count: int) -> list[tuple[int, str]]:
    """Parties holding a current right: (party_id, full number)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT p.party_id, p.id_document_digest, p.id_document_sealed FROM current_parties p "
            "JOIN right_holders h ON h.party_id = p.party_id "
            "JOIN current_rights r ON r.version_id = h.right_version_id "
            "ORDER BY p.party_id LIMIT %s", (count,)).fetchall()
    return [(party_id, opened(digest, sealed)) for party_id, digest, sealed in rows]


def _reveal(app: TestClient, party_id: int, purpose: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return app.post(f"/api/registry/parties/{party_id}/identity-number", json={"purpose": purpose}, headers=headers)


def _clear_counters(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM rate_counters WHERE bucket LIKE 'reveal-%'")


@pytest.mark.parametrize("purpose", ["\u202e", "\u202e\u200b ", "x", "!!!", "1234", "。。", "\u200b\u200b",
                                     "打印\u202e证书", "证书\x07", "a\u2066b", "\u3164\u3164\u3164",
                                     "\u0640\u0640"])
def test_a_purpose_must_be_words_without_invisible_characters(app: TestClient, module_database: str,
                                                              purpose: str) -> None:
    (party_id, number), = _holders(module_database, 1)
    response = _reveal(app, party_id, purpose, bearer(app, "registrar"))
    assert response.status_code == 422 and number not in response.text, (purpose, response.text)
    assert response.json()["detail"]["field"] == "purpose"


def test_the_purpose_refusal_is_in_both_languages(app: TestClient, module_database: str) -> None:
    (party_id, _number), = _holders(module_database, 1)
    headers = bearer(app, "registrar")
    english = _reveal(app, party_id, "!", {**headers, "Accept-Language": "en"}).json()["detail"]
    chinese = _reveal(app, party_id, "\u202e", {**headers, "Accept-Language": "zh-CN"}).json()["detail"]
    assert "in words" in english["localized_message"], english
    assert "不可见" in chinese["localized_message"], chinese


def test_a_party_of_no_current_right_restriction_or_open_application_is_not_revealed(
        app: TestClient, module_database: str) -> None:
    _clear_counters(module_database)
    with psycopg.connect(module_database) as conn:
        row = conn.execute(
            "INSERT INTO parties (kind, name, id_document_type, id_document_digest, id_document_masked, "
            "id_document_sealed) SELECT kind, '无关当事人', id_document_type, sha256(id_document_digest), "
            "id_document_masked, id_document_sealed FROM current_parties ORDER BY party_id LIMIT 1 "
            "RETURNING party_id").fetchone()
    response = _reveal(app, row[0], "打印不动产权证书", bearer(app, "registrar"))
    assert response.status_code == 404 and response.json()["detail"]["code"] == "party_not_found", response.text


def test_reveals_are_limited_a_minute_and_the_auditors_flagged(app: TestClient, module_database: str) -> None:
    _clear_counters(module_database)
    with psycopg.connect(module_database) as conn:  # the module's other tests write such rows too
        (before,) = conn.execute("SELECT coalesce(max(seq), 0) FROM audit_log").fetchone() or (0,)
    headers = bearer(app, "registrar")
    parties = _holders(module_database, PER_MINUTE + 2)
    answers = [_reveal(app, party_id, "打印不动产权证书", headers) for party_id, _ in parties]
    assert [a.status_code for a in answers] == [200] * PER_MINUTE + [429, 429], [a.text for a in answers]
    assert [a.json()["id_document_number"] for a in answers[:PER_MINUTE]] == [n for _, n in parties[:PER_MINUTE]]
    refused = answers[PER_MINUTE]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["detail"]["code"] == "rate_limited" and parties[PER_MINUTE][1] not in refused.text
    chinese = _reveal(app, parties[0][0], "打印不动产权证书", {**headers, "Accept-Language": "zh-CN"})
    assert chinese.status_code == 429 and "每分钟最多 3 次" in chinese.json()["detail"]["localized_message"]
    with psycopg.connect(module_database) as conn:
        actions = [r[0] for r in conn.execute(
            "SELECT action FROM audit_log WHERE action IN ('identity_reveals_many', 'identity_reveals_limited') "
            "AND seq > %s ORDER BY seq", (before,))]
    assert actions == ["identity_reveals_many", "identity_reveals_limited"], actions  # each once


def test_reveals_are_limited_a_day(module_database: str) -> None:
    _clear_counters(module_database)
    settings = settings_for(module_database, reveals_per_minute=100, reveals_per_day=2, reveals_flagged_at=100)
    with TestClient(create_app(settings), follow_redirects=False) as app:
        headers = {**bearer(app, "registrar"), "Accept-Language": "en"}
        parties = _holders(module_database, 3)
        codes = [_reveal(app, party_id, "printing certificate", headers) for party_id, _ in parties]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert "2 a day" in codes[2].json()["detail"]["message"]
    assert int(codes[2].headers["retry-after"]) <= 24 * 3600


def test_unit_records_count_as_checks(module_database: str) -> None:
    """Staff reading unit records (holders' names, masked numbers, amounts) one after another: the
    checks' limits apply (the same data as a registry-tier check), unknown numbers counted too."""
    with psycopg.connect(module_database) as conn:
        units = [r[0] for r in conn.execute("SELECT unit_number FROM current_units ORDER BY unit_id LIMIT 2")]
        conn.execute("DELETE FROM rate_counters WHERE bucket LIKE 'checks-%'")
    with TestClient(create_app(settings_for(module_database, checks_per_minute=3)), follow_redirects=False) as app:
        headers = {**bearer(app, "clerk"), "Accept-Language": "zh-CN"}
        codes = [app.get(f"/api/registry/units/{unit}", headers=headers) for unit in [*units, "NOSUCHUNIT", units[0]]]
    assert [c.status_code for c in codes] == [200, 200, 404, 429], [c.text for c in codes]
    assert "每分钟最多 3 次" in codes[3].json()["detail"]["localized_message"]
    assert 1 <= int(codes[3].headers["retry-after"]) <= 60


@pytest.mark.parametrize("where", ["note", "party"])
def test_an_application_of_ones_own_does_not_open_a_number(app: TestClient, module_database: str, where: str) -> None:
    """Reported (review 3, N2): a registrar received an application naming any party under any key
    (`{"note": {"party_id": N}}`) and then revealed that party's number. Only the keys
    registration resolves (holders, mortgagee, party) count, and only in an application someone
    else received."""
    _clear_counters(module_database)
    with psycopg.connect(module_database) as conn:
        row = conn.execute(
            "INSERT INTO parties (kind, name, id_document_type, id_document_digest, id_document_masked, "
            "id_document_sealed) SELECT kind, '申请中当事人', id_document_type, "
            "sha256(id_document_digest || convert_to(%s, 'UTF8')), id_document_masked, id_document_sealed "
            "FROM current_parties ORDER BY party_id LIMIT 1 RETURNING party_id", (where,)).fetchone()
    party_id = row[0]
    headers = bearer(app, "registrar")
    with psycopg.connect(module_database) as conn:
        (unit,) = conn.execute("SELECT unit_number FROM current_units ORDER BY unit_id LIMIT 1").fetchone() or ("",)
    kind, request = (("objection", {"party": {"party_id": party_id}, "reason": "异议"}) if where == "party" else
                     ("correction", {"unit": {"location": "更正"}, "note": {"party_id": party_id}}))
    made = app.post("/api/applications", headers=headers, json={
        "kind": kind, "unit_number": unit, "applicant": "某某", "request": request,
        "sources": [{"kind": "application", "reference": f"自受理-{where}-{party_id}"}]})
    assert made.status_code == 201, made.text
    response = _reveal(app, party_id, "打印不动产权证书", headers)
    assert response.status_code == 404 and response.json()["detail"]["code"] == "party_not_found", response.text
