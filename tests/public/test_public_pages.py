"""Server-rendered pages that work without scripts: the parcel page and search results."""

from __future__ import annotations


def test_parcel_page_shows_public_facts_in_the_chosen_language(http, sample) -> None:
    page = http.get(f"/parcels/{sample['parcel_code']}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert sample["unit_number"] in page.text and sample["location"] in page.text
    assert f"{sample['area']:,.2f} 平方米" in page.text
    assert f'href="/check?parcel={sample["parcel_code"]}"' in page.text
    english = http.get(f"/parcels/{sample['parcel_code']}", cookies={"lang": "en"})
    assert "Real estate units" in english.text and "Show on the map" in english.text


def test_parcel_page_links_lineage_both_ways(http, sample) -> None:
    child = http.get(f"/parcels/{sample['child_code']}").text
    assert f'href="/parcels/{sample["parent_code"]}"' in child
    parent = http.get(f"/parcels/{sample['parent_code']}").text
    assert f'href="/parcels/{sample["child_code"]}"' in parent


def test_parcel_page_errors_name_the_problem(http) -> None:
    assert http.get("/parcels/330102001001GB0000").status_code == 422
    assert http.get("/parcels/330102999999GB99999").status_code == 404


def test_map_page_lists_search_results_for_browsers_without_scripts(http, sample) -> None:
    page = http.get("/", params={"q": sample["unit_number"]})
    assert page.status_code == 200 and "<noscript>" in page.text
    assert f'<a href="/parcels/{sample["parcel_code"]}">' in page.text
    assert "<noscript>" not in http.get("/").text
