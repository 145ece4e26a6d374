"""A parcel's geometry downloads as GeoJSON, GML and DXF (issue 17 §6), read back here by
GDAL (pyogrio) and ezdxf: the same boundary, in the CRS each format promises."""

from __future__ import annotations

import io
import json

import ezdxf
import httpx
import pyogrio
import pytest
import shapely


@pytest.mark.parametrize("fmt", ["geojson", "gml"])
def test_lon_lat_formats_hold_the_parcel(http: httpx.Client, sample, tmp_path, fmt: str) -> None:
    code = sample["parcel_code"]
    response = http.get(f"/parcels/{code}/geometry.{fmt}")
    assert response.status_code == 200, response.text
    assert f'filename="{code}.{fmt}"' in response.headers["content-disposition"]
    path = tmp_path / f"p.{fmt}"
    path.write_bytes(response.content)
    meta, _, geometry, fields = pyogrio.raw.read(str(path))
    shape = shapely.from_wkb(geometry[0])
    assert shape.contains(shapely.Point(sample["lon"], sample["lat"])), "lon/lat, in that order"
    assert code in [str(f[0]) for f in fields]
    if fmt == "geojson":
        assert json.loads(response.content)["features"][0]["properties"]["parcel_code"] == code


def test_dxf_is_in_the_survey_crs(http: httpx.Client, sample) -> None:
    code = sample["parcel_code"]
    response = http.get(f"/parcels/{code}/geometry.dxf")
    assert response.status_code == 200 and "-EPSG45" in response.headers["content-disposition"]
    doc = ezdxf.read(io.StringIO(response.content.decode("utf-8", errors="replace")))
    xs = [p[0] for e in doc.modelspace().query("LWPOLYLINE") for p in e.get_points()]
    assert code in [e.dxf.text for e in doc.modelspace().query("TEXT")]
    assert xs and all(100_000 < x < 1_000_000 or 10_000_000 < x < 100_000_000 for x in xs), "metres, not degrees"


def test_unknown_format_and_bad_code_are_refused(http: httpx.Client, sample) -> None:
    assert http.get(f"/parcels/{sample['parcel_code']}/geometry.shp").status_code == 404
    assert http.get("/parcels/NOPE/geometry.geojson").status_code == 422


def test_the_parcel_page_offers_the_downloads(http: httpx.Client, sample) -> None:
    page = http.get(f"/parcels/{sample['parcel_code']}", headers={"Accept": "text/html"}).text
    for fmt in ("geojson", "gml", "dxf"):
        assert f"/parcels/{sample['parcel_code']}/geometry.{fmt}" in page
