"""Lon/lat uploads get metric sheets (issue 16 §4): a parcel uploaded as RFC 7946 GeoJSON and
approved is drawn, and its boundary points listed, in metres in the CGCS2000 Gauss-Krüger zone
of the parcel, and the sheet says which CRS that is."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from harness import header_principal
from pypdf import PdfReader
from shapely.geometry import Polygon

from portal.app import create_app
from portal.public.sheet import sheet_srid
from portal.settings import DatabaseSettings, Settings
from spatial.crs import to_cgcs2000_lonlat

CODE = "330102001001GB09401"
E0, N0, SIZE = 40_515_300.0, 3_345_470.0, 12.0  # the free strip south of the demo grid (zone 40)


@pytest.fixture
def client(writable_database: str) -> Iterator[TestClient]:
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=writable_database)))
    app.state.principal_resolver = header_principal
    with TestClient(app) as test_client:
        yield test_client


def lonlat_upload() -> bytes:
    square = Polygon([(E0, N0), (E0 + SIZE, N0), (E0 + SIZE, N0 + SIZE), (E0, N0 + SIZE)])
    ring = [[round(x, 10), round(y, 10)] for x, y in to_cgcs2000_lonlat(square, 4528).exterior.coords]
    return json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"parcel_code": CODE, "land_use_code": "0701", "declared_area": SIZE * SIZE}}]}).encode()


def test_sheet_srid_is_always_metric() -> None:
    assert sheet_srid(4528, 120.16) == 4528  # surveyed in a zone: its own coordinates
    assert sheet_srid(4549, 120.16) == 4549
    assert sheet_srid(4326, 120.16) == 4528  # lon/lat: the 3-degree zone of the centroid, with prefix
    assert sheet_srid(4490, 116.4) == 4527  # Beijing: zone 39
    assert sheet_srid(4490, 118.4) == 4527 and sheet_srid(4490, 118.6) == 4528  # zone 39 ends at 118.5°E


def test_lonlat_upload_approved_gets_a_metric_sheet(client: TestClient) -> None:
    created = client.post("/api/submissions", files={"file": ("parcel.geojson", lonlat_upload())},
                          headers={"x-test-person": "surveyor"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["report"]["error_count"] == 0, body["report"]
    assert body["report"]["crs_source"] == "file"
    sid = body["id"]
    assert client.post(f"/api/submissions/{sid}/submit", headers={"x-test-person": "surveyor"}).status_code == 200
    approved = client.post(f"/api/submissions/{sid}/approve", headers={"x-test-person": "registrar"})
    assert approved.status_code == 200, approved.text
    sheet = client.get(f"/parcels/{CODE}/sheet.pdf", headers={"accept-language": "en"})
    assert sheet.status_code == 200
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(sheet.content)).pages)
    assert "EPSG:4528" in text and "EPSG:4326" not in text and "Gauss" in text
    northings = [float(v) for v in re.findall(r"3345\d{3}\.\d{3}", text)]
    eastings = [float(v) for v in re.findall(r"40515\d{3}\.\d{3}", text)]
    assert northings and eastings
    assert min(northings) == pytest.approx(N0, abs=0.01) and max(eastings) == pytest.approx(E0 + SIZE, abs=0.01)
    assert re.search(r"12\.000", text)  # every edge 12 m
    assert "30.2" not in text.split("EPSG:4528")[-1][:400]  # no degrees under the metre headings
