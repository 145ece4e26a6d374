"""The registrar's check page in headless Chromium: identity numbers masked, and one holder's
full number shown after the registrar says why (static/js/reveal.js; the reveal is audited)."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from account_helpers import PASSWORDS, csrf_of, settings_for
from identities import opened
from public_site import serve

from portal.accounts.identity_numbers import mask_document_number
from portal.accounts.principal import SESSION_COOKIE
from portal.app import create_app

pytestmark = pytest.mark.browser


def test_a_registrar_reveals_a_holders_number_on_the_check_page(browser, module_database: str) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(module_database) as conn:
        unit, name, digest, sealed = conn.execute(
            "SELECT u.unit_number, p.name, p.id_document_digest, p.id_document_sealed FROM current_units u "
            "JOIN current_rights r ON r.unit_id = u.unit_id JOIN right_holders h ON h.right_version_id = r.version_id "
            "JOIN current_parties p ON p.party_id = h.party_id WHERE r.co_ownership = 'sole' "
            "ORDER BY u.unit_id LIMIT 1").fetchone()
    number = opened(digest, sealed)
    with serve(create_app(settings_for(module_database))) as base, httpx.Client(base_url=base) as client:
        form = client.get("/login")
        assert client.post("/login", data={"username": "registrar", "password": PASSWORDS["registrar"],
                                           "csrf": csrf_of(form.text)}).status_code == 303
        context = browser.new_context(locale="zh-CN")
        host = base.split("//", 1)[1].split(":")[0]
        context.add_cookies([{"name": SESSION_COOKIE, "value": client.cookies[SESSION_COOKIE], "domain": host,
                              "path": "/"}, {"name": "lang", "value": "zh-CN", "domain": host, "path": "/"}])
        page = context.new_page()
        try:
            page.goto(f"{base}/check?q={unit}")
            page.fill("form.form input[name=purpose]", "办理转移登记")
            page.click("form.form button[type=submit]")
            page.wait_for_selector("details.reveal", timeout=15_000)
            text = page.inner_text("main")
            assert name in text and mask_document_number(number) in text and number not in text
            reveal = page.locator("details.reveal").first
            reveal.locator("summary").click()
            reveal.locator("input[name=reveal_purpose]").fill("打印不动产权证书")
            reveal.locator("button[type=submit]").click()
            reveal.locator("output.ok, output.error").wait_for(timeout=15_000)  # (the CSP forbids string waits)
            assert reveal.locator("output").inner_text() == number
        finally:
            context.close()
    with psycopg.connect(module_database) as conn:
        assert conn.execute("SELECT purpose FROM audit_log WHERE action = 'identity_number_revealed' "
                            "ORDER BY seq DESC LIMIT 1").fetchone() == ("打印不动产权证书",)
