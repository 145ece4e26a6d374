"""The short number a map label shows (the last five digits of the code, the parcel sequence
number) finds that parcel, the one in the map's view first (issue 17 §6: labels searchable as shown)."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from public_site import open_page

from portal.public.api import label_number


def _view_around(lon: float, lat: float, half: float = 0.002) -> str:
    return f"{lon - half:.6f},{lat - half:.6f},{lon + half:.6f},{lat + half:.6f}"


@pytest.mark.parametrize(("typed", "number"), [
    ("00041", "00041"), ("41", "00041"), ("４１", "00041"), (" 7 ", "00007"),
    ("123456", None), ("4a", None), ("解放路", None), ("", None), ("٣٣", None),
])
def test_what_counts_as_a_label_number(typed: str, number: str | None) -> None:
    assert label_number(typed) == number


def test_the_label_finds_the_parcel_in_view_first(http: httpx.Client, sample) -> None:
    code = sample["parcel_code"]
    shown = code[-5:]  # what the label shows below zoom 20 (map.js)
    for typed in (shown, shown.lstrip("0")):
        body = http.get("/api/search", params={"q": typed, "view": _view_around(sample["lon"], sample["lat"])}).json()
        assert body["kind"] == "label" and body["query"] == shown
        assert body["results"][0]["parcel_code"] == code and body["results"][0]["kind"] == "parcel", typed


def test_the_view_ranks_and_bounds(http: httpx.Client, database_url: str) -> None:
    """The view ranks: a parcel just beside the view is still found (nearest first); one many
    views away is not (the search reads one view around the view). The demo has one cadastral
    block, so each number labels one parcel; the in-view-first order over repeated numbers is the
    ORDER BY of `queries.search_parcel_labels`."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("""
            SELECT right(parcel_code, 5), parcel_code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom))
              FROM current_parcels ORDER BY parcel_code LIMIT 2 OFFSET 100""").fetchall()
    for number, code, lon, lat in rows:
        hits = http.get("/api/search", params={"q": number, "view": _view_around(lon, lat)}).json()["results"]
        assert hits[0]["parcel_code"].strip() == code.strip()
        beside = f"{lon + 0.004:.6f},{lat - 0.002:.6f},{lon + 0.008:.6f},{lat + 0.002:.6f}"
        near = http.get("/api/search", params={"q": number, "view": beside}).json()["results"]
        assert near[0]["parcel_code"].strip() == code.strip(), "no parcel in view: the nearest still comes"
        far = http.get("/api/search", params={"q": number, "view": "121.0,31.0,121.01,31.01"}).json()
        assert all(h["kind"] == "location" for h in far["results"]), "not within a view around the view"


def test_without_a_view_digits_stay_a_location_search(http: httpx.Client, sample) -> None:
    assert http.get("/api/search", params={"q": "33"}).json()["kind"] == "location"
    wide = _view_around(sample["lon"], sample["lat"], half=0.05)  # zoomed out: no labels on the map
    assert http.get("/api/search", params={"q": sample["parcel_code"][-5:], "view": wide}).json()["kind"] == "location"


@pytest.mark.parametrize("view", ["1,2,3", "a,b,c,d", "120.2,30.3,120.1,30.2", "0,0,0,0", "1e999,0,2,1", "9" * 300])
def test_a_bad_view_is_refused_by_name(http: httpx.Client, view: str) -> None:
    response = http.get("/api/search", params={"q": "00041", "view": view})
    assert response.status_code == 422, response.text


@pytest.mark.browser
@pytest.mark.slow
def test_typing_a_label_as_shown_opens_that_parcel(browser, portal_url: str, sample) -> None:
    visit = open_page(browser, portal_url)
    try:
        visit.page.goto(portal_url + "/")
        visit.page.wait_for_selector("html[data-map-ready=true]", timeout=15_000)
        visit.page.evaluate("([lon, lat]) => window.portalMap.map.setView([lat, lon], 19, {animate: false})",
                            [sample["lon"], sample["lat"]])
        label = visit.page.locator(f".parcel-label[data-parcel-code='{sample['parcel_code']}'] span")
        label.wait_for(state="attached", timeout=15_000)
        shown = label.inner_text()
        assert shown == sample["parcel_code"][-5:]
        visit.page.fill("#search-input", shown)
        visit.page.locator("#search-results [role=option]").first.wait_for(state="visible")
        visit.page.keyboard.press("Enter")
        visit.page.wait_for_function(
            f"() => document.querySelector('#parcel-panel').dataset.parcelCode === '{sample['parcel_code']}'")
        assert visit.errors == []
    finally:
        visit.page.context.close()
