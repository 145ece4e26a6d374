"""The public JSON API over real HTTP and the demo cadastre: right answers, public fields only,
and clear errors for bad input."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from identities import opened

from portal.public.api import classify_query

PUBLIC_FIELDS = {
    "parcel_code", "current", "version", "area", "survey_area", "land_use", "admin_area",
    "valid_from", "valid_to", "begin_lifespan", "end_lifespan", "units", "history", "lineage",
    "bbox", "centroid", "geometry",
}


@pytest.mark.parametrize(("typed", "expected"), [
    ("330102001001GB00001", ("parcel", "330102001001GB00001")),
    ("３３０１０２００１", ("parcel", "330102001")),
    ("330102001001gb00001f0001", ("unit", "330102001001GB00001F0001")),
    ("解放路 12号", ("location", "解放路 12号")),
    ("12", ("location", "12")),
])
def test_what_was_typed_decides_the_search(typed, expected) -> None:
    assert classify_query(typed) == expected


def test_parcel_by_code_gives_public_facts_only(http, sample, database_url) -> None:
    response = http.get(f"/api/parcels/{sample['parcel_code']}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert body["parcel_code"] == sample["parcel_code"] and body["current"] is True
    assert Decimal(str(body["area"])) == sample["area"]
    assert body["land_use"]["code"] == sample["land_use_code"]
    assert body["admin_area"] == {"code": "330102", "name": "上城区"}
    assert {"unit_number": sample["unit_number"], "location": sample["location"]} in body["units"]
    assert all(set(unit) == {"unit_number", "location"} for unit in body["units"])
    assert body["geometry"]["type"] == "MultiPolygon"
    lon, lat = body["centroid"]
    assert 119 < lon < 122 and 29 < lat < 31, "GeoJSON and centroids are longitude first"
    # Nobody's name or document number travels with the parcel.
    with psycopg.connect(database_url) as conn:
        private = [v for name, digest, sealed in conn.execute("""
            SELECT DISTINCT pa.name, pa.id_document_digest, pa.id_document_sealed
              FROM current_units u JOIN current_rights r ON r.unit_id = u.unit_id
              JOIN right_holders h ON h.right_version_id = r.version_id
              JOIN parties pa ON pa.party_id = h.party_id
              JOIN current_parcels p ON p.parcel_id = u.parcel_id
             WHERE p.parcel_code = %s""", (sample["parcel_code"],)) for v in (name, opened(digest, sealed))]
    assert private, "the sample parcel should have right holders to hide"
    assert not any(value in response.text for value in private)


def test_parcel_at_a_point_is_the_parcel_there(http, sample) -> None:
    body = http.get("/api/parcels/at", params={"lon": sample["lon"], "lat": sample["lat"]}).json()
    assert body["parcel_code"] == sample["parcel_code"]
    nowhere = http.get("/api/parcels/at", params={"lon": 100.0, "lat": 40.0})
    assert nowhere.status_code == 404 and "no current parcel" in nowhere.json()["detail"]["message"]
    assert http.get("/api/parcels/at", params={"lon": 200, "lat": 30}).status_code == 422
    assert http.get("/api/parcels/at", params={"lon": "nan", "lat": 30}).status_code == 422


def test_bad_and_unknown_codes_are_told_apart(http) -> None:
    bad = http.get("/api/parcels/330102001001XB00001")
    assert bad.status_code == 422 and "position 13" in bad.json()["detail"]["message"]
    unknown = http.get("/api/parcels/330102999999GB99999")
    assert unknown.status_code == 404 and "330102999999GB99999" in unknown.json()["detail"]["message"]


def test_history_shows_lineage_and_retired_parcels_keep_their_page(http, sample) -> None:
    child = http.get(f"/api/parcels/{sample['child_code']}").json()
    links = {(link["relation"], link["parcel_code"], link["event"]) for link in child["lineage"]}
    assert ("parent", sample["parent_code"], sample["event"]) in links
    parent = http.get(f"/api/parcels/{sample['parent_code']}").json()
    assert ("child", sample["child_code"], sample["event"]) in {
        (link["relation"], link["parcel_code"], link["event"]) for link in parent["lineage"]}
    if not parent["current"]:
        assert parent["units"] == [] and parent["end_lifespan"] is not None
    assert [v["version"] for v in child["history"]] == sorted(
        (v["version"] for v in child["history"]), reverse=True)


def test_search_by_code_prefix_unit_number_and_location(http, sample) -> None:
    code = sample["parcel_code"]
    by_code = http.get("/api/search", params={"q": code[:18], "limit": 20}).json()
    assert by_code["kind"] == "parcel"
    assert code in [hit["parcel_code"] for hit in by_code["results"]]
    assert all(hit["parcel_code"].startswith(code[:18]) for hit in by_code["results"])

    by_unit = http.get("/api/search", params={"q": sample["unit_number"]}).json()
    assert by_unit["kind"] == "unit"
    assert [(h["unit_number"], h["parcel_code"]) for h in by_unit["results"]] == [
        (sample["unit_number"], code)]

    part = sample["location"][6:]  # drop the city and district: what people type
    by_place = http.get("/api/search", params={"q": part, "limit": 50}).json()
    assert by_place["kind"] == "location" and by_place["results"]
    assert all(part in hit["location"] for hit in by_place["results"])
    assert sample["unit_number"] in [hit["unit_number"] for hit in by_place["results"]]
    street, rest = part[:4], part[-4:]  # two words, both must be in the location
    by_words = http.get("/api/search", params={"q": f"{street} {rest}", "limit": 50}).json()
    assert by_words["results"] and all(
        street in hit["location"] and rest in hit["location"] for hit in by_words["results"])
    west, south, east, north = by_place["results"][0]["bbox"]
    assert west < east and south < north


def test_search_refuses_what_it_cannot_answer(http) -> None:
    assert http.get("/api/search", params={"q": "路"}).status_code == 422
    assert http.get("/api/search", params={"q": ""}).status_code == 422
    assert http.get("/api/search", params={"q": "%_"}).json()["results"] == []
    assert http.get("/api/search", params={"q": "解放\x00路"}).status_code == 422


def test_labels_cover_the_box_and_bad_boxes_are_refused(http, sample) -> None:
    lon, lat = sample["lon"], sample["lat"]
    box = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    labels = http.get("/api/parcels/labels", params={"bbox": box}).json()
    assert sample["parcel_code"] in [label["parcel_code"] for label in labels]
    assert all(lon - 0.01 < label["lon"] < lon + 0.01 for label in labels)
    for bad in ("1,2,3", "a,b,c,d", f"{lon},{lat},{lon - 1},{lat + 1}", "-inf,-inf,inf,inf",
                "nan,0,1,1"):
        response = http.get("/api/parcels/labels", params={"bbox": bad})
        assert response.status_code == 422 and "bbox" in response.json()["detail"]["message"]
