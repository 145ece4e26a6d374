"""The registry's pages refuse and miss with the shared error page (not another room's page):
a signed-in person without a registry role gets 403, an unknown application 404, each as a page
for a browser and as the one JSON error shape for everyone else."""

from __future__ import annotations

from account_helpers import form_login
from fastapi.testclient import TestClient

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_person_without_a_registry_role_gets_the_shared_403_page(visitor: TestClient) -> None:
    form_login(visitor, "surveyor")
    page = visitor.get("/registry", headers=BROWSER)
    assert page.status_code == 403 and 'data-code="forbidden"' in page.text
    assert "/surveys" not in page.text.split("<main", 1)[-1].split("</main>", 1)[0]  # not the surveys page
    as_json = visitor.get("/registry/applications/1")
    assert as_json.status_code == 403 and as_json.json()["detail"]["code"] == "forbidden"


def test_an_unknown_application_is_a_404_page_about_an_application(visitor: TestClient) -> None:
    form_login(visitor, "registrar")
    page = visitor.get("/registry/applications/999999", headers=BROWSER)
    assert page.status_code == 404 and 'data-code="application_not_found"' in page.text
    assert "999999" in page.text
    as_json = visitor.get("/registry/applications/999999")
    assert as_json.json()["detail"]["code"] == "application_not_found"


def test_statistics_have_contents_labelled_axes_and_each_kinds_time_limit(live_site) -> None:  # type: ignore[no-untyped-def]
    """Issue 17 §6: the chart says what its axes are, and each kind's time limit is shown."""
    import httpx

    base, _ = live_site
    page = httpx.get(f"{base}/statistics", headers={"Accept": "text/html", "Accept-Language": "en"}).text
    assert 'class="contents"' in page and 'href="#k-mortgage"' in page
    assert "time limit 1 working days" in page or "time limit 1 working day" in page
    assert page.count('class="axis-label"') >= 3 * page.count('<svg class="chart"') > 0
