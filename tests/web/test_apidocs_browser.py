"""/docs (Swagger UI) and /redoc (ReDoc) work offline under the Content-Security-Policy (issue 17
§6): every asset from the portal itself, the API's operations drawn, no script refused."""

from __future__ import annotations

import pytest
from public_site import open_page

pytestmark = [pytest.mark.browser]


@pytest.mark.parametrize(("path", "drawn"), [("/docs", ".opblock"), ("/redoc", "[data-section-id]")])
def test_api_documents_draw_offline_under_the_csp(browser, portal_url: str, path: str, drawn: str) -> None:
    visit = open_page(browser, portal_url, locale="en")
    refused: list[str] = []
    visit.page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        visit.page.goto(portal_url + path)
        visit.page.wait_for_selector(drawn, timeout=20_000)
        assert visit.page.locator(drawn).count() > 5
        assert "/api/check" in visit.page.content()
        visit.screenshot(f"apidocs-{path.strip('/')}")
        # ReDoc's sidebar names its maker with a logo from its CDN: the CSP refuses it (the
        # request fails in the browser), so nothing leaves the machine
        assert set(visit.foreign_requests()) <= set(visit.failed) and visit.errors == []
        assert [r for r in refused if "worker" not in r.lower() and "cdn.redoc.ly" not in r] == []
    finally:
        visit.page.context.close()
