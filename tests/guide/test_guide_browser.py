"""The registrar edits the guide in Chromium; a bad edit is refused, naming the field."""

from __future__ import annotations

import pytest
from guide_staff import limits, staff_app
from public_site import open_page, serve


@pytest.mark.browser
def test_registrar_edits_the_guide_in_the_browser(browser, guide_database) -> None:
    with serve(staff_app(guide_database)) as base:
        visit = open_page(browser, base, headers={"X-Test-Role": "registrar"})
        page = visit.page
        try:
            page.goto(base + "/guide/edit")
            field = page.locator("fieldset", has=page.locator("input[value=objection]")).locator(
                "input[name$='.time_limit_days']")
            field.fill("4")
            visit.screenshot("guide-edit")
            page.click("button[type=submit]")
            page.wait_for_url("**/guide?saved=1")
            assert "4 个工作日" in page.locator("#objection .commitment").inner_text()
            assert limits(guide_database)["objection"] == 4

            page.goto(base + "/guide/edit")
            title = page.locator("input[name='e0.title_en']")
            title.fill("")
            page.click("button[type=submit]")
            page.wait_for_selector("#guide-error")
            assert "title_en" in page.locator("#guide-error").inner_text()
            assert limits(guide_database)["objection"] == 4
            assert visit.foreign_requests() == [] and visit.errors == []
        finally:
            page.context.close()
