"""Registrar and court-clerk pages in headless Chromium: register a mortgage, register two
seizures, see a transfer refused with its reason, release the seizure and see the queued one
take effect; the public statistics page draws its charts from the demo's year of work. Each
application is received by one person and decided by a colleague (separation of duties): the
one who received it is offered no register button."""

from __future__ import annotations

import psycopg
import pytest
from harness import SCREENSHOTS, open_page

pytestmark = pytest.mark.browser


def _free_unit(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT u.unit_number FROM current_units u JOIN current_rights r ON r.unit_id = u.unit_id "
            "WHERE u.use = 'residential' AND NOT EXISTS (SELECT 1 FROM current_restrictions s "
            "WHERE s.unit_id = u.unit_id AND s.status IN ('active', 'queued')) ORDER BY u.unit_id DESC LIMIT 1"
        ).fetchone()[0]


def _apply(page, kind: str, unit: str, fields: dict[str, str], select: dict[str, str] | None = None) -> str:  # type: ignore[no-untyped-def]
    page.select_option("#kind", kind)
    page.fill("#unit_number", unit)
    page.wait_for_function("document.getElementById('unit-state').textContent.length > 0")
    page.fill("#applicant", "申请人")
    page.fill("#source_reference", f"{kind}-文书-1")
    for field, value in fields.items():
        page.fill(f"#{field}", value)
    for field, value in (select or {}).items():
        page.wait_for_selector(f"#{field} option", state="attached")
        page.select_option(f"#{field}", value=value)
    page.click("button[data-mode=receive]")
    page.wait_for_function("!['', '…'].includes(document.getElementById('application-result').textContent)")
    return page.inner_text("#application-result")


def _decide(receiver, decider, base: str, received: str) -> str:  # type: ignore[no-untyped-def]
    """The colleague who did not receive the application reviews and registers it; returns "✓"
    once it is registered, else the refusal the page shows."""
    assert "✓" in received, received
    application_id = receiver.get_attribute("#application-result", "data-application")
    receiver.goto(f"{base}/registry/applications/{application_id}")
    assert receiver.locator("#own-application").count() == 1
    assert receiver.locator("button[data-action=register], button[data-action=reject]").count() == 0
    decider.goto(f"{base}/registry/applications/{application_id}")
    decider.click("button[data-action=review]")
    decider.wait_for_selector("button[data-action=register]")
    decider.click("button[data-action=register]")
    decider.wait_for_function(
        "document.getElementById('status').className === 'status-registered' || "
        "!['', '…'].includes((document.getElementById('application-result') || {}).textContent || '')")
    if decider.get_attribute("#status", "class") == "status-registered":
        return "✓"
    return decider.inner_text("#application-result")


def _seizures(url: str, unit: str) -> list[tuple[int, str, int]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT restriction_id, status, queue_position FROM current_restrictions s "
                            "JOIN current_units u USING (unit_id) WHERE u.unit_number = %s AND s.kind = 'seizure' "
                            "ORDER BY restriction_id", (unit,)).fetchall()


def test_mortgage_seizures_refused_transfer_and_release(live_site, browser) -> None:
    base, url = live_site
    unit = _free_unit(url)
    registrar, registrar_2 = open_page(browser, "registrar"), open_page(browser, "registrar-2")
    registrar.goto(f"{base}/registry")
    done = _decide(registrar, registrar_2, base, _apply(registrar, "mortgage", unit, {
        "mortgagee_name": "中国工商银行股份有限公司杭州分行", "mortgagee_code": "91330100704326045P",
        "secured_amount": "800000"}))
    assert "✓" in done, done
    clerk, clerk_2 = open_page(browser, "clerk"), open_page(browser, "clerk-2")
    for number in ("(2026)浙0102执7001号", "(2026)浙0102执7002号"):
        clerk.goto(f"{base}/registry")
        received = _apply(clerk, "seizure", unit, {"court": "杭州市上城区人民法院", "document_number": number})
        done = _decide(clerk, clerk_2, base, received)
        assert "✓" in done, done
    (first, status1, _), (second, status2, position2) = _seizures(url, unit)
    assert (status1, status2, position2) == ("active", "queued", 2)
    registrar.goto(f"{base}/registry")
    refused = _decide(registrar, registrar_2, base, _apply(
        registrar, "transfer", unit, {"holder_name": "买受人", "holder_document_number": "E12345678"},
        {"holder_document_type": "passport"}))
    assert "no_dealing_under_seizure" in refused and "(2026)浙0102执7001号" in refused
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    registrar_2.screenshot(path=str(SCREENSHOTS / "registry-transfer-refused.png"), full_page=True)
    clerk.goto(f"{base}/registry")
    released = _decide(clerk, clerk_2, base, _apply(clerk, "seizure_release", unit, {},
                                                    {"restriction_id": str(first)}))
    assert "✓" in released
    assert [(i, s, p) for i, s, p in _seizures(url, unit)] == [(first, "released", 1), (second, "active", 1)]
    clerk.goto(f"{base}/registry")
    clerk.fill("#unit_number", unit)
    # named in the page's language: seizure (active)
    clerk.wait_for_function("document.getElementById('unit-state').textContent.includes('查封（有效）')")


def test_statistics_page_charts_the_demo_year(live_site, browser) -> None:
    base, _ = live_site
    page = open_page(browser, "", "en")
    page.goto(f"{base}/statistics")
    assert page.locator("svg.chart").count() >= 5
    assert page.locator("svg.chart rect.bar").count() >= 30
    heights = [float(h) for h in page.locator("svg.chart rect.bar").evaluate_all(
        "els => els.map(e => e.getAttribute('height'))")]
    assert max(heights) == 100.0 and min(heights) >= 0
    assert "Within the time limit" in page.inner_text("main")
    page.screenshot(path=str(SCREENSHOTS / "statistics.png"), full_page=True)
