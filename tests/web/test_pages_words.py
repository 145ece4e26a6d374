"""Every page, as every role, in both languages: no raw value and one clock (issue 17 §1-2).

Over real HTTP (TestClient) on the module's own copy of the demo cadastre, each demo person logs
in and visits the pages of their role in Chinese and in English. The visible text and the
accessible names (aria-label, title, placeholder, alt) must hold no ISO timestamp, no
microseconds, no "UTC" without its offset, no snake_case value (`court_clerk`, `by_portions`,
`registry_change`) and, on Chinese pages, no stored English enumerated value (`sole`, `active`).
And the errors: a refusal reads in the request's language, page and JSON, the code unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import psycopg
import pytest
from account_helpers import PASSWORDS, csrf_of, form_login, settings_for
from fastapi.testclient import TestClient

from portal.app import create_app

BROWSER = {"accept": "text/html,application/xhtml+xml"}
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
MICROSECONDS = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3,}")
BARE_UTC = re.compile(r"\bUTC\b(?![+-]\d)")
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
RAW_ENGLISH_VALUES = re.compile(
    r"\b(sole|joint|by_portions|active|discharged|queued|released|expired|cancelled|mortgage|seizure|objection|"
    r"success|failure|refused|consulted|listed|received|under_review|registered|rejected|draft|submitted|"
    r"approved|withdrawn|residential|commercial)\b")


# What a Chinese page may show in Latin letters: the language switch, names of formats and
# standards, and the demo's usernames (data, as typed by their owners).
LATIN_IN_CHINESE = {"English", "PDF", "API", "CSV", "CGCS", "DXF", "EPSG", "GML", "GeoJSON", "GeoPackage",
                    "Shapefile", "txt", "zip", "cadastre", "owner", "citizen", "registrar", "clerk", "auditor",
                    "surveyor", "admin"}


class _Text(HTMLParser):
    """The text a person reads: text nodes outside script and style, and accessible names (what
    a person typed, in a textarea, is data)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "textarea"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "placeholder", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "textarea") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "\n".join(parser.parts)


def problems(html: str, language: str) -> list[str]:
    text = visible(html)
    found = [f"ISO timestamp {m.group(0)!r}" for m in ISO_MOMENT.finditer(text)]
    found += [f"microseconds {m.group(0)!r}" for m in MICROSECONDS.finditer(text)]
    found += [f"unlabelled UTC near {text[max(0, m.start() - 20):m.end() + 5]!r}" for m in BARE_UTC.finditer(text)]
    found += [f"raw value {m.group(0)!r}" for m in SNAKE.finditer(text)]
    if language == "zh-CN":
        found += [f"English value {m.group(0)!r}" for m in RAW_ENGLISH_VALUES.finditer(text)]
        found += [f"English word {w!r}" for w in re.findall(r"[A-Za-z]{3,}", text)
                  if w not in LATIN_IN_CHINESE and not w.isupper()]  # codes and references are upper case
    return found


@pytest.fixture(scope="module")
def app_for(module_database: str) -> Iterator[object]:
    app = create_app(settings_for(module_database))
    with TestClient(app):
        yield app


@pytest.fixture(scope="module")
def landmarks(module_database: str) -> dict[str, str]:
    with psycopg.connect(module_database) as conn:
        seized = conn.execute(
            "SELECT u.unit_number FROM current_units u JOIN current_restrictions x ON x.unit_id = u.unit_id "
            "AND x.kind = 'seizure' AND x.status = 'active' ORDER BY 1 LIMIT 1").fetchone()[0]
        mortgaged = conn.execute(
            "SELECT u.unit_number FROM current_units u JOIN current_restrictions x ON x.unit_id = u.unit_id "
            "JOIN current_rights r ON r.unit_id = u.unit_id AND r.co_ownership = 'by_portions' "
            "AND x.kind = 'mortgage' AND x.status = 'active' ORDER BY 1 LIMIT 1").fetchone()[0]
        parcel = conn.execute("SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL "
                              "ORDER BY parcel_code LIMIT 1").fetchone()[0]
        application = conn.execute("SELECT application_id FROM applications ORDER BY (status = 'registered') DESC, "
                                   "application_id LIMIT 1").fetchone()[0]
    return {"seized": seized, "mortgaged": mortgaged, "parcel": parcel, "application": str(application)}


ROLE_PAGES = {
    None: ["/", "/guide", "/login", "/register", "/parcels/{parcel}", "/check"],
    "owner": ["/account", "/check"],
    "citizen": ["/account"],
    "registrar": ["/registry", "/registry/applications/{application}", "/statistics", "/surveys/review",
                  "/counter", "/account"],
    "clerk": ["/registry", "/check"],
    "auditor": ["/audit", "/audit?action=login"],
    "surveyor": ["/surveys"],
    "admin": ["/admin/users", "/guide/edit"],
}


def _client(app: object, language: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)  # type: ignore[arg-type]
    client.cookies.set("lang", language)
    return client


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("person", list(ROLE_PAGES))
def test_every_page_of_every_role_shows_words_and_one_clock(app_for: object, landmarks: dict[str, str],
                                                            person: str | None, language: str) -> None:
    client = _client(app_for, language)
    if person:
        form_login(client, person)
    seen = {}
    for path in ROLE_PAGES[person]:
        page = client.get(path.format(**landmarks), headers=BROWSER)
        assert page.status_code == 200, (path, page.status_code)
        seen[path] = problems(page.text, language)
    if person in ("owner", "registrar", "clerk"):  # a check's result: rights, restrictions, amounts, dates
        for unit in (landmarks["mortgaged"], landmarks["seized"]):
            page = client.post("/check", data={"query": unit, "purpose": "测试", "csrf": csrf_of(
                client.get("/check", headers=BROWSER).text)}, headers=BROWSER)
            assert page.status_code == 200, page.text
            seen[f"POST /check {unit}"] = problems(page.text, language)
            verify = re.search(r'href="(/verify/[A-Z0-9]+)"', page.text)
            assert verify, "the result links its verification page"
            seen[verify.group(1)] = problems(client.get(verify.group(1), headers=BROWSER).text, language)
    assert not {k: v for k, v in seen.items() if v}


def test_a_check_result_names_values_and_formats_money_and_time(app_for: object,
                                                                landmarks: dict[str, str]) -> None:
    for language, sole_words, money, zone in (("zh-CN", "按份共有", " 元", "北京时间"),
                                              ("en", "co-ownership by portions", "¥", "UTC+8")):
        client = _client(app_for, language)
        form_login(client, "registrar")
        page = client.post("/check", data={"query": landmarks["mortgaged"], "purpose": "测试", "csrf": csrf_of(
            client.get("/check", headers=BROWSER).text)}, headers=BROWSER)
        text = visible(page.text)
        assert sole_words in text and money in text and zone in text, text
        assert re.search(r"\d{1,3}(,\d{3})+\.\d{2}", text), "amounts are grouped"
        if language == "zh-CN":
            assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", text)
        else:
            assert re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}", text)


def test_the_audit_log_names_roles_actions_and_people(app_for: object) -> None:
    client = _client(app_for, "zh-CN")
    form_login(client, "auditor")
    text = visible(client.get("/audit", headers=BROWSER).text)
    assert "登录" in text and "成功" in text and "北京时间" in text
    assert not re.search(r"\buser:\d", text) and "court_clerk" not in text


BANK = {"name": "中国工商银行股份有限公司杭州分行", "id_document_type": "unified_social_credit_code",
        "id_document_number": "91330100704326045P"}


@pytest.fixture(scope="module")
def two_registrars(app_for: object, module_database: str) -> tuple[TestClient, TestClient]:
    """The demo registrar receives; a second registrar decides (separation of duties)."""
    from portal.accounts.security import hash_password

    settings = settings_for(module_database)
    with psycopg.connect(module_database) as conn:
        conn.execute("INSERT INTO users (username, display_name, password_hash, roles) VALUES (%s, %s, %s, %s) "
                     "ON CONFLICT (username) DO NOTHING",
                     ("registrar-b", "陈登记", hash_password(settings.accounts, "registrar-b-password"), ["registrar"]))
    receiver, decider = _client(app_for, "zh-CN"), _client(app_for, "zh-CN")
    form_login(receiver, "registrar")
    form_login(decider, "registrar-b", "registrar-b-password")
    return receiver, decider


def _apply(receiver: TestClient, decider: TestClient, unit: str, rank: int) -> tuple[int, dict[str, object]]:
    """A mortgage received by one registrar, reviewed and registered by the other."""
    def call(client: TestClient, path: str, body: object = None) -> dict[str, object]:
        csrf = csrf_of(client.get("/account").text)
        response = client.post(path, json=body, headers={"X-CSRF-Token": csrf, "Accept": "application/json"})
        return {**response.json(), "http": response.status_code}

    made = call(receiver, "/api/applications", {
        "kind": "mortgage", "unit_number": unit, "applicant": "中国工商银行股份有限公司杭州分行",
        "request": {"mortgagee": BANK, "secured_amount": 1_400_000, "rank": rank},
        "sources": [{"kind": "loan_agreement", "reference": f"JK-{rank}"}]})
    assert made["http"] == 201, made
    application = int(str(made["id"]))
    assert call(receiver, f"/api/applications/{application}/review")["http"] == 200
    return application, call(decider, f"/api/applications/{application}/register")


def test_a_registered_application_reads_as_a_sentence_with_links(
        two_registrars: tuple[TestClient, TestClient], landmarks: dict[str, str]) -> None:
    receiver, decider = two_registrars
    application, answer = _apply(receiver, decider, landmarks["mortgaged"], 7)
    assert answer["http"] == 200, answer
    html = decider.get(f"/registry/applications/{application}", headers=BROWSER).text
    outcome = html.split('id="outcome"', 1)[1].split("</dd>", 1)[0]
    assert "登簿结果" in html and f'href="/check?q={landmarks["mortgaged"]}"' in outcome
    assert "限制" in visible(outcome) and "{" not in visible(outcome) and "restrictions" not in outcome


def test_a_rule_of_the_register_reads_in_chinese(two_registrars: tuple[TestClient, TestClient],
                                                 landmarks: dict[str, str]) -> None:
    """A mortgage on a seized unit: refused by the database's rule, named and explained."""
    receiver, decider = two_registrars
    _, answer = _apply(receiver, decider, landmarks["seized"], 8)
    detail = answer["detail"]
    assert isinstance(detail, dict) and answer["http"] == 409, answer
    assert detail["code"] == "rule_violation" and detail["rule"] == "no_dealing_under_seizure"
    assert str(detail["message"]).startswith("rule no_dealing_under_seizure")
    assert "查封" in detail["localized_message"] and str(detail["blocking"]["restriction_id"]) in \
        detail["localized_message"]
    assert not re.search(r"[A-Za-z]{3,}", detail["localized_message"])


# -- errors in the reader's language -----------------------------------------------------

def test_a_form_error_page_speaks_the_pages_language(app_for: object) -> None:
    for language, expected in (("zh-CN", "两次输入的密码不一致"), ("en", "The two passwords differ")):  # by the field
        client = _client(app_for, language)
        csrf = csrf_of(client.get("/register").text)
        page = client.post("/register", headers=BROWSER, data={
            "username": "x-words", "display_name": "x", "password": "a-long-password",
            "password_again": "another-password", "csrf": csrf})
        assert page.status_code == 422 and expected in page.text
        if language == "zh-CN":
            assert "the two passwords differ" not in page.text


def test_json_errors_keep_their_code_and_add_the_localized_message(app_for: object) -> None:
    client = _client(app_for, "en")
    token = client.post("/api/tokens", json={"username": "citizen", "password": PASSWORDS["citizen"]}).json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "zh-CN"}
    client.cookies.clear()
    refused = client.get("/api/audit", headers=headers)
    if refused.status_code == 404:  # no audit API: the registry's queue refuses a citizen too
        refused = client.get("/api/applications", headers=headers)
    detail = refused.json()["detail"]
    assert refused.status_code == 403 and detail["code"] == "forbidden"
    assert detail["message"].startswith("your roles do not allow") and detail["language"] == "zh-CN"
    assert detail["localized_message"].startswith("您的角色无权进行“") and "." not in detail["localized_message"]
    english = client.get("/api/applications", headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})
    assert english.json()["detail"]["localized_message"] == english.json()["detail"]["message"]


def test_pydantic_errors_are_translated_by_type(app_for: object) -> None:
    client = _client(app_for, "zh-CN")
    response = client.get("/api/parcels/at", params={"lon": "east"})
    detail = response.json()["detail"]
    assert response.status_code == 422 and detail["code"] == "invalid_request"
    assert {e["localized_msg"] for e in detail["errors"]} == {"query.lon: 须为数字", "query.lat: 必填"}
    assert "必填" in detail["localized_message"] and detail["message"].startswith("the request is not valid")
    english = _client(app_for, "en").get("/api/search", params={"q": "x", "limit": 99}).json()["detail"]
    assert english["errors"][0]["localized_msg"] == "query.limit: " + english["errors"][0]["msg"]


def test_english_pages_name_the_district_in_english(app_for: object, landmarks: dict[str, str]) -> None:
    english = visible(_client(app_for, "en").get(f"/parcels/{landmarks['parcel']}", headers=BROWSER).text)
    chinese = visible(_client(app_for, "zh-CN").get(f"/parcels/{landmarks['parcel']}", headers=BROWSER).text)
    assert "Shangcheng District (330102)" in english and "上城区 (330102)" not in english  # addresses stay data
    assert "上城区 (330102)" in chinese
    assert re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4}", english) and re.search(r"\d{4}年\d{1,2}月\d{1,2}日", chinese)


@pytest.mark.parametrize(("language", "printed"), [("zh-CN", r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2} 北京时间"),
                                                   ("en", r"\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2} UTC\+8")])
def test_the_parcel_sheet_is_printed_on_the_offices_clock(app_for: object, landmarks: dict[str, str],
                                                          language: str, printed: str) -> None:
    import io

    from pypdf import PdfReader

    pdf = _client(app_for, language).get(f"/parcels/{landmarks['parcel']}/sheet.pdf")
    assert pdf.status_code == 200
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert re.search(printed, text), text
    assert not re.search(r"\bUTC\b(?!\+)", text) and not ISO_MOMENT.search(text)
