"""Every endpoint of accounts, checks and audit, called as every role and anonymously; and a scan
of everything an anonymous or non-owner user can get for the register's personal data."""

from __future__ import annotations

import psycopg
import pytest
from account_helpers import bearer, new_username, sign_up
from fastapi.testclient import TestClient
from identities import opened

from portal.accounts.identity_numbers import mask_document_number

ROLES = ("anonymous", "unverified", "citizen", "owner", "registrar", "clerk", "auditor", "surveyor", "admin")
CHECKERS = {"citizen", "owner", "registrar", "clerk"}
ANYONE = set(ROLES)
SIGNED_IN = ANYONE - {"anonymous"}


@pytest.fixture(scope="module")
def identities(client: TestClient) -> dict[str, dict[str, str]]:
    username = new_username("m")
    sign_up(client, username)
    client.cookies.clear()
    headers = {role: bearer(client, role) for role in ROLES if role not in ("anonymous", "unverified")}
    headers["unverified"] = bearer(client, username, "correct horse battery")
    headers["anonymous"] = {}
    return headers


@pytest.fixture(scope="module")
def citizens_check(client: TestClient, demo, identities) -> dict[str, str]:
    return client.get("/api/check", params={"unit_number": demo.other_unit}, headers=identities["citizen"]).json()


STAFF = {"registrar", "clerk", "auditor"}


def _endpoints(demo, check: dict[str, str], received: dict[str, int] | None = None,
               ) -> list[tuple[str, str, dict[str, object], set[str]]]:
    """(method, path, request kwargs, roles allowed)."""
    ref, code = check["reference"], check["verification_code"]
    registry = [] if received is None else [
        ("GET", "/api/applications", {}, STAFF),
        *[("GET", f"/api/applications/{i}", {}, STAFF) for i in received.values()],
        *[("GET", f"/registry/applications/{i}", {}, STAFF) for i in received.values()],
        ("GET", "/registry", {}, STAFF),
        ("GET", f"/api/registry/units/{demo.seized_unit}", {}, STAFF),
        ("GET", f"/api/registry/units/{demo.other_unit}", {}, STAFF),
    ]
    return [*registry,
        ("GET", "/login", {}, ANYONE),
        ("GET", "/register", {}, ANYONE),
        ("GET", "/check", {}, ANYONE),
        ("GET", f"/verify/{code}", {}, ANYONE),
        ("GET", f"/api/verify/{code}", {}, ANYONE),
        ("GET", "/api/me", {}, SIGNED_IN),
        ("GET", "/account", {}, SIGNED_IN),
        ("GET", "/api/check", {"params": {"unit_number": demo.other_unit}}, CHECKERS),
        ("POST", "/api/check", {"json": {"parcel_code": demo.parcel_code}}, CHECKERS),
        ("GET", "/api/units/search", {"params": {"q": "解放路"}}, CHECKERS),
        ("GET", f"/api/checks/{ref}", {}, {"citizen", "registrar", "auditor"}),
        ("GET", f"/check/{ref}/certificate.pdf", {}, {"citizen", "registrar", "auditor"}),
        ("GET", "/counter", {}, {"registrar"}),
        ("POST", "/counter/verify", {"data": {}}, {"registrar"}),
        ("GET", "/admin/users", {}, {"admin"}),
        ("POST", "/admin/users/roles", {"data": {}}, {"admin"}),
        ("POST", "/admin/users/grants/confirm", {"data": {}}, {"admin"}),
        ("GET", "/audit", {}, {"auditor"}),
        ("GET", "/api/audit", {}, {"auditor"}),
        ("GET", "/audit/export.csv", {}, {"auditor"}),
    ]


def test_authorisation_matrix(client: TestClient, demo, identities, citizens_check, received) -> None:
    failures = []
    for method, path, kwargs, allowed in _endpoints(demo, citizens_check, received):
        for role in ROLES:
            response = client.request(method, path, headers=identities[role], **kwargs)
            status = response.status_code
            if role in allowed:
                # Allowed: anything but 401/403 (a form posted empty is refused for its content, 422).
                ok = status not in (401, 403) and status < 500
            else:
                page = path in ("/account", "/registry") or path.startswith("/registry/")
                ok = status == (303 if page and role == "anonymous" else 401 if role == "anonymous" else 403)
            if not ok:
                failures.append(f"{role:>10} {method} {path}: {status}")
    assert not failures, "\n".join(failures)


def _secrets(module_database: str) -> dict[str, set[str]]:
    with psycopg.connect(module_database) as conn:
        names = {r[0] for r in conn.execute("SELECT DISTINCT name FROM parties")}
        numbers = {opened(*r) for r in conn.execute("SELECT id_document_digest, id_document_sealed FROM parties")}
        amounts = {r[0] for r in conn.execute(
            "SELECT DISTINCT secured_amount::text FROM restrictions WHERE secured_amount IS NOT NULL")}
        documents = {r[0] for r in conn.execute(
            "SELECT document_number FROM restrictions WHERE document_number IS NOT NULL "
            "UNION SELECT certificate_number FROM rights WHERE certificate_number IS NOT NULL "
            "UNION SELECT s.reference FROM sources s WHERE s.source_id IN "
            "(SELECT source_id FROM rights UNION SELECT source_id FROM restrictions)")}
    return {"name": names, "identity number": numbers, "amount": amounts, "document number": documents}


def test_anonymous_and_non_owners_never_see_personal_data(client: TestClient, module_database: str, demo,
                                                          identities, citizens_check, received) -> None:
    with psycopg.connect(module_database) as conn:
        parcels = [r[0] for r in conn.execute(
            "SELECT DISTINCT left(unit_number, 19) FROM current_units ORDER BY 1 LIMIT 40")]
    secrets = _secrets(module_database)
    bodies: list[tuple[str, str]] = []
    for role in ("anonymous", "unverified", "citizen", "surveyor"):
        for method, path, kwargs, _allowed in _endpoints(demo, citizens_check, received):
            response = client.request(method, path, headers=identities[role], **kwargs)
            if path.endswith(".pdf") and response.status_code == 200:
                import io

                from pypdf import PdfReader

                text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
            else:
                text = response.text
            bodies.append((f"{role} {method} {path}", text))
    for code in parcels:  # checks of many parcels, with their seized, mortgaged and co-owned units
        response = client.get("/api/check", params={"parcel_code": code}, headers=identities["citizen"])
        assert response.status_code == 200
        bodies.append((f"citizen check {code}", response.text))
        if demo.owner_units[0].startswith(code):
            continue
    leaks = [f"{where}: {kind} {value}" for where, text in bodies for kind, values in secrets.items()
             for value in values if value in text]
    assert not leaks, "\n".join(leaks[:20])
    # The scan is not vacuous: the registrar's answer does contain them.
    registrar = client.get("/api/check", params={"unit_number": demo.other_unit},
                           headers=identities["registrar"]).text
    assert any(value in registrar for value in secrets["name"])
    assert any(value in registrar for value in secrets["amount"])


# -- fields: what each role may see, and the trace of every look (issue 15, section 3) -------------

PERSON = "欧阳测试买受人"               # a buyer named in a transfer application (the applicant too)
PRICE = 3_456_789                        # the transfer's price (yuan)
AMOUNT = 987_654                         # a mortgage's secured amount (yuan)
BANK_NAME = "测试农村商业银行股份有限公司"
COURT_DOCUMENT = "(2026)浙0102执7771号"  # a seizure's court order
PRINCIPALS = ("anonymous", "citizen", "owner", "surveyor", "registrar", "clerk", "auditor", "admin")


def _resident_id() -> str:
    from portal.accounts.identity_numbers import resident_id_check_digit

    first = "33010219800101777"
    return first + resident_id_check_digit(first)


def _credit_code() -> str:
    from portal.accounts.identity_numbers import credit_code_check_char

    first = "91330100MA2H7K7P7"
    return first + credit_code_check_char(first)


@pytest.fixture(scope="module")
def received(client: TestClient, demo, identities) -> dict[str, int]:
    """Three open applications carrying personal data: a transfer (buyer's name, identity number,
    price), a mortgage (bank, credit code, amount), both received by the registrar, and a seizure
    received by the court clerk."""
    sources = [{"kind": "contract", "reference": "测试合同(2026)77号"}]
    transfer = {"kind": "transfer", "unit_number": demo.other_unit, "applicant": PERSON, "sources": sources,
                "request": {"co_ownership": "sole", "price": PRICE, "holders": [
                    {"name": PERSON, "id_document_type": "resident_id", "id_document_number": _resident_id()}]}}
    mortgage = {"kind": "mortgage", "unit_number": demo.other_unit, "applicant": BANK_NAME, "sources": sources,
                "request": {"secured_amount": AMOUNT, "rank": 3, "mortgagee": {
                    "name": BANK_NAME, "id_document_type": "unified_social_credit_code",
                    "id_document_number": _credit_code()}}}
    seizure = {"kind": "seizure", "unit_number": demo.other_unit, "applicant": "杭州市上城区人民法院",
               "sources": [{"kind": "court_order", "reference": COURT_DOCUMENT}],
               "request": {"court": "杭州市上城区人民法院", "document_number": COURT_DOCUMENT}}
    made = {}
    for name, body, role in (("transfer", transfer, "registrar"), ("mortgage", mortgage, "registrar"),
                             ("seizure", seizure, "clerk")):
        response = client.post("/api/applications", json=body, headers=identities[role])
        assert response.status_code == 201, response.text
        made[name] = response.json()["id"]
    return made


def _register_values(module_database: str, demo) -> dict[str, set[str]]:
    """The demo register's own personal values on the units the registry endpoints show."""
    with psycopg.connect(module_database) as conn:
        amounts = {str(int(r[0])) for r in conn.execute(
            "SELECT x.secured_amount FROM current_restrictions x JOIN current_units u USING (unit_id) "
            "WHERE u.unit_number = ANY(%s) AND x.secured_amount IS NOT NULL AND x.status = 'active'",
            ([demo.seized_unit, demo.other_unit],))}
        documents = {r[0] for r in conn.execute(
            "SELECT x.document_number FROM current_restrictions x JOIN current_units u USING (unit_id) "
            "WHERE u.unit_number = ANY(%s) AND x.document_number IS NOT NULL AND x.status IN ('active', 'queued')",
            ([demo.seized_unit, demo.other_unit],))}
    assert amounts and documents, "the demo units carry a mortgage and a seizure"
    return {"amount": amounts, "court document": documents}


# Which kinds of personal value each principal may receive from the registry endpoints. Identity
# numbers in full for nobody (registrars reveal one through the audited POST, migration 0021); a
# court clerk sees seizures and what a seizure needs; an auditor sees the workflow, never the
# register's personal data.
MAY_SEE = {
    "registrar": {"name", "price", "amount", "court document"},
    "clerk": {"court document"},
}


def _consulted(module_database: str, username: str) -> list[tuple[str, str | None, str]]:
    with psycopg.connect(module_database) as conn:
        return conn.execute(
            "SELECT a.action, a.subject, a.detail FROM audit_log a JOIN users u ON u.user_id = a.actor_user_id "
            "WHERE u.username = %s AND a.access = 'consulted' ORDER BY a.seq", (username,)).fetchall()


def test_each_role_sees_its_fields_and_every_look_is_logged(client: TestClient, module_database: str, demo,
                                                           identities, received) -> None:
    values = {"identity number": {_resident_id(), _credit_code()}, "name": {PERSON, BANK_NAME},
              "price": {str(PRICE)}, "amount": {str(AMOUNT)}}
    register = _register_values(module_database, demo)
    values["amount"] |= register["amount"]
    values["court document"] = {COURT_DOCUMENT} | register["court document"]
    endpoints = [e for e in _endpoints(demo, {"reference": "-", "verification_code": "-"}, received)
                 if e[0] == "GET" and e[3] == STAFF]
    failures: list[str] = []
    seen: dict[str, set[str]] = {}
    for role in PRINCIPALS:
        username = {"clerk": "clerk", "admin": "admin"}.get(role, role)
        before = len(_consulted(module_database, username)) if role != "anonymous" else 0
        answered = 0
        for method, path, kwargs, _allowed in endpoints:
            response = client.request(method, path, headers=identities[role], **kwargs)
            if response.status_code != 200:
                continue
            answered += 1
            for kind, found in values.items():
                if any(v in response.text for v in found):
                    seen.setdefault(role, set()).add(kind)
                    if kind not in MAY_SEE.get(role, set()):
                        failures.append(f"{role:>9} {path}: {kind}")
        if role != "anonymous":
            logged = len(_consulted(module_database, username)) - before
            if logged != answered:
                failures.append(f"{role:>9}: {answered} answers with personal data, {logged} audit rows 'consulted'")
    assert not failures, "\n".join(failures)
    # Not vacuous: the registrar sees every kind, the clerk the seizures.
    assert seen["registrar"] == MAY_SEE["registrar"]
    assert seen["clerk"] == MAY_SEE["clerk"]


def test_each_audience_gets_its_own_schema(client: TestClient, demo, identities, received) -> None:
    """The JSON fields themselves: whitelisted per audience, not blanked keys of the registrar's."""
    def get(role: str, path: str) -> object:
        response = client.get(path, headers=identities[role])
        assert response.status_code == 200, response.text
        return response.json()

    transfer, seizure = f"/api/applications/{received['transfer']}", f"/api/applications/{received['seizure']}"
    # Registrars get the request as received with the identity number masked: it is stored sealed,
    # and a registered party's full number is for the audited reveal (tests/registry/test_party_identity.py).
    holder = get("registrar", transfer)["request"]["holders"][0]
    assert holder["id_document_number"] == mask_document_number(_resident_id())
    assert not {"id_document_sealed", "id_document_digest", "id_document_masked"} & set(holder)
    clerk_transfer, clerk_seizure = get("clerk", transfer), get("clerk", seizure)
    assert clerk_transfer["request"] is None and clerk_transfer["applicant"] is None
    assert clerk_seizure["request"]["document_number"] == COURT_DOCUMENT
    assert set(clerk_seizure["request"]) <= {"court", "document_number", "term_start", "term_end", "reason",
                                             "restriction_id"}
    for view in (get("auditor", transfer), get("auditor", seizure)):
        assert "request" not in view and "applicant" not in view and view["status"] == "received"
    for row in get("auditor", "/api/applications"):
        assert "request" not in row and "applicant" not in row
    unit = f"/api/registry/units/{demo.seized_unit}"
    assert any(r.get("secured_amount") for r in get("registrar", unit)["restrictions"]) or \
        all(r["kind"] != "mortgage" for r in get("registrar", unit)["restrictions"])
    clerk_unit = get("clerk", unit)["restrictions"]
    assert all("secured_amount" not in r for r in clerk_unit)
    assert any(r["kind"] == "seizure" and r["document_number"] for r in clerk_unit)
    assert all(r["court"] is None and r["document_number"] is None for r in clerk_unit if r["kind"] != "seizure")
    for r in get("auditor", unit)["restrictions"]:
        assert not {"court", "document_number", "secured_amount"} & set(r)


def test_other_peoples_checks_and_user_lists_are_logged(client: TestClient, module_database: str, identities,
                                                        citizens_check) -> None:
    ref = citizens_check["reference"]
    for role in ("registrar", "auditor"):
        before = len(_consulted(module_database, role))
        assert client.get(f"/api/checks/{ref}", headers=identities[role]).status_code == 200
        assert client.get(f"/check/{ref}/certificate.pdf", headers=identities[role]).status_code == 200
        rows = _consulted(module_database, role)[before:]
        assert [r[0] for r in rows] == ["check_view", "certificate_view"], rows
    own = len(_consulted(module_database, "citizen"))
    assert client.get(f"/api/checks/{ref}", headers=identities["citizen"]).status_code == 200
    assert len(_consulted(module_database, "citizen")) == own  # one's own check is no look at others' data
    before = len(_consulted(module_database, "admin"))
    assert client.get("/admin/users", headers=identities["admin"]).status_code == 200
    rows = _consulted(module_database, "admin")[before:]
    assert [r[0] for r in rows] == ["user_list"] and '"count"' in rows[0][2]


# Beyond the registry: every GET of the matrix, as each of the eight principals, scanned for every
# personal value of the demo register (and of the applications above). Owners may see their own
# name and number (their account); registrars everything but full identity numbers (only through
# the audited reveal, a POST); court clerks seizures' document numbers.
EVERYWHERE = {
    "registrar": {"name", "amount", "document number", "price"},
    "clerk": {"document number"},
}


def _text(response) -> str:  # type: ignore[no-untyped-def]
    if response.headers.get("content-type", "").startswith("application/pdf"):
        import io

        from pypdf import PdfReader

        return "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    return response.text


def test_every_endpoint_as_every_principal_shows_only_allowed_personal_data(
        client: TestClient, module_database: str, demo, identities, citizens_check, received) -> None:
    secrets = _secrets(module_database)
    secrets["name"] |= {PERSON, BANK_NAME}
    secrets["identity number"] |= {_resident_id(), _credit_code()}
    secrets["amount"] |= {str(AMOUNT)} | {v.split(".")[0] for v in secrets["amount"]}
    secrets["price"] = {str(PRICE)}
    secrets["document number"] |= {COURT_DOCUMENT}
    with psycopg.connect(module_database) as conn:
        own = {v for name, digest, sealed in conn.execute(
            "SELECT p.name, id_document_digest, id_document_sealed FROM parties p WHERE p.party_id = %s",
            (demo.owner_party,))
               for v in (name, opened(digest, sealed))}
    failures: list[str] = []
    for role in PRINCIPALS:
        for method, path, kwargs, _allowed in _endpoints(demo, citizens_check, received):
            if method != "GET":
                continue
            response = client.request(method, path, headers=identities[role], **kwargs)
            text = _text(response)
            for kind, values in secrets.items():
                if kind in EVERYWHERE.get(role, set()):
                    continue
                leaked = sorted(v for v in values if v in text and not (role == "owner" and v in own))
                if leaked:
                    failures.append(f"{role:>9} {path}: {kind} {leaked[:3]}")
    assert not failures, "\n".join(failures)
