"""Every role finds its way (issue 17 §4): the header offers each person the pages they can use
and no link that only answers "forbidden"; a signed-in person sees their account, not "log in",
on every page (error pages too); owners see why their units were checked and which checks were
their own; a retired parcel is marked and offers no check."""

from __future__ import annotations

import re

import psycopg
import pytest
from account_helpers import bearer, form_login
from fastapi.testclient import TestClient

HTML = {"Accept": "text/html"}
STAFF_LINKS = {"/surveys", "/surveys/review", "/registry", "/counter", "/audit", "/admin/users"}
EXPECTED = {
    None: set(),
    "citizen": set(),
    "owner": set(),
    "surveyor": {"/surveys"},
    "registrar": {"/surveys", "/surveys/review", "/registry", "/counter"},
    "clerk": {"/registry"},
    "auditor": {"/registry", "/audit"},
    "admin": {"/admin/users"},
}


def _nav_links(html: str) -> set[str]:
    nav = html.split('<nav id="main-nav"', 1)[1].split("</nav>", 1)[0]
    return set(re.findall(r'<a href="([^"?]+)', nav))


@pytest.mark.parametrize("person", list(EXPECTED))
def test_each_role_sees_its_own_pages_and_each_link_opens(visitor: TestClient, person: str | None) -> None:
    if person:
        form_login(visitor, person)
    for page in ("/", "/guide", "/statistics", "/check"):
        links = _nav_links(visitor.get(page, headers=HTML).text)
        assert links & STAFF_LINKS == EXPECTED[person], (person, page, links)
        for href in links & STAFF_LINKS:
            assert visitor.get(href, headers=HTML).status_code == 200, (person, href)


def test_a_signed_in_person_sees_their_account_on_every_page(visitor: TestClient, demo) -> None:
    form_login(visitor, "owner")
    for page in ("/", "/guide", "/statistics", "/check", f"/parcels/{demo.parcel_code}", "/no/such/page",
                 "/parcels/NOPE", "/registry", "/verify/NOPE"):
        html = visitor.get(page, headers=HTML).text
        nav = html.split('<nav id="main-nav"', 1)[1].split("</nav>", 1)[0]
        assert 'href="/account"' in nav and "owner" in nav, page
        assert 'href="/login' not in nav, page


def test_the_clerks_registry_link_says_seizures_and_the_current_page_is_marked(visitor: TestClient) -> None:
    form_login(visitor, "clerk")
    visitor.cookies.set("lang", "en")
    html = visitor.get("/registry", headers=HTML).text
    assert '<a href="/registry" aria-current="page">Seizures</a>' in html


def test_the_owner_sees_the_purpose_of_each_check_and_their_own_checks_marked(client: TestClient,
                                                                               visitor: TestClient, demo) -> None:
    unit = demo.owner_units[0]
    client.get("/api/check", params={"unit_number": unit, "purpose": "抵押贷款审查"},
               headers=bearer(client, "registrar"))
    client.get("/api/check", params={"unit_number": unit, "purpose": "看看我自己的房子"},
               headers=bearer(client, "owner"))
    form_login(visitor, "owner")
    html = visitor.get("/account", headers=HTML).text
    table = html.split('class="table checks-of-mine"', 1)[1].split("</table>", 1)[0]
    assert "抵押贷款审查" in table and "看看我自己的房子" in table
    rows = table.split("<tr")
    own = [r for r in rows if "看看我自己的房子" in r][0]
    other = [r for r in rows if "抵押贷款审查" in r][0]
    assert 'class="own"' in own and "您本人" in own
    assert 'class="own"' not in other and "您本人" not in other


def test_a_retired_parcel_is_marked_and_offers_no_check(visitor: TestClient, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT parcel_code FROM parcels p WHERE end_lifespan IS NOT NULL AND NOT EXISTS ("
                           "SELECT 1 FROM parcels c WHERE c.parcel_code = p.parcel_code AND c.end_lifespan IS NULL) "
                           "LIMIT 1").fetchone()
    if row is None:
        pytest.skip("the demo district retired no parcel")
    code = row[0].strip()
    html = visitor.get(f"/parcels/{code}", headers=HTML).text
    assert 'class="retired-banner"' in html
    assert "/check?parcel=" not in html
