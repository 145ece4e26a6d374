"""Where a page returns to (review finding L2 of issue 20): every `next=` of a link or redirect is
made by `portal.platform.requests.next_query` and read by `local_path`: a path of this site of at
most NEXT_MAX_CHARS (2,000) characters, else nothing (the home page, or /account after a log-in).
A 10,000-character sheet reference in the address is not echoed into the page's links."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from portal.platform.requests import NEXT_MAX_CHARS, local_path, next_query

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _nexts(page: str) -> list[str]:
    return re.findall(r'next=([^"&\s]*)', page) + re.findall(r'name="next" value="([^"]*)"', page)


def test_a_long_address_is_not_echoed_into_the_log_in_and_language_links(visitor: TestClient) -> None:
    reference = "ZDT-" + "A" * 10_000
    page = visitor.get(f"/verify/sheet/{reference}", headers=HTML)
    assert page.status_code in (400, 404, 422), page.status_code
    assert "A" * 2001 not in page.text, "the address is not echoed"
    assert all(len(target) <= NEXT_MAX_CHARS for target in _nexts(page.text))
    assert 'href="/login"' in page.text, "the log-in link is there, with nowhere to return to"
    short = visitor.get("/verify/sheet/ZDT-short", headers=HTML)
    assert "next=/verify/sheet/ZDT-short" in short.text, "a page of ordinary length is returned to"


def test_a_long_target_is_dropped_by_the_log_in_the_redirect_and_the_switch(visitor: TestClient) -> None:
    long = "/check?parcel=" + "1" * NEXT_MAX_CHARS
    page = visitor.get("/login", params={"next": long}, headers=HTML)
    assert 'name="next" value="/account"' in page.text and "1" * 100 not in page.text
    assert visitor.get("/lang/en", params={"next": long}).headers["location"] == "/"
    refused = visitor.get("/registry", params={"x": "1" * NEXT_MAX_CHARS}, headers=HTML)
    assert refused.status_code == 303 and refused.headers["location"] == "/login"
    fits = visitor.get("/registry", params={"x": "1"}, headers=HTML)
    assert fits.headers["location"] == "/login?next=/registry%3Fx%3D1"


@pytest.mark.parametrize("target", ["/", "", None, "//evil.example", "https:evil.example", "/\\evil", "/%2F%2Fevil",
                                    "/%5Cevil", "/%0A/evil", "/" + "x" * NEXT_MAX_CHARS])
def test_next_query_carries_only_a_local_path_that_fits(target: str | None) -> None:
    assert next_query(target) == ""
    assert local_path(target, "/home") == ("/home" if target != "/" else "/")


def test_next_query_encodes_a_local_path() -> None:
    assert next_query("/check?parcel=A B") == "?next=/check%3Fparcel%3DA%20B"
    assert next_query("/" + "x" * (NEXT_MAX_CHARS - 1)) == "?next=/" + "x" * (NEXT_MAX_CHARS - 1)


def test_the_cap_counts_the_encoded_form_that_is_echoed(visitor: TestClient) -> None:
    # 2,000 CJK characters passed the cap and came back as an 18,007-character link
    assert next_query("/" + "中" * 222) == "?next=/" + quote("中") * 222
    assert local_path("/" + "中" * 223, "/home") == "/home" and next_query("/" + "中" * 223) == ""
    assert local_path("/a?b=" + "%" * 700, "/home") == "/home", "each % is echoed as %25"
    page = visitor.get("/verify/sheet/ZDT-" + "中" * 2000, headers=HTML)
    assert page.status_code in (400, 404, 422), page.status_code
    assert "%E4%B8%AD" * 300 not in page.text, "the address is not echoed"
    assert all(len(target) <= NEXT_MAX_CHARS for target in _nexts(page.text))
