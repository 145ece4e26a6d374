"""Coordinates must fit their CRS, or the report says why and how to fix it (issue 16 §2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spatial_factories import exchange_text, parcel_block, square

from spatial.errors import CrsError
from spatial.readers import read_parcels
from spatial.validation import validate_result

REPORTED = Path("/work/shared/fixtures/reported")
if not REPORTED.is_dir():
    REPORTED = Path(__file__).resolve().parents[3] / "shared/fixtures/reported"
needs_reported = pytest.mark.skipif(not REPORTED.is_dir(), reason="shared fixtures not available")
GML = REPORTED / "gml-axis-order/d_4528_urn_but_eastnorth.gml"
EN = ("40517100.000 3348500.000 40517200.000 3348500.000 40517200.000 3348560.000 40517100.000 3348560.000 "
      "40517100.000 3348500.000")
LONLAT = "120.160 30.255 120.161 30.255 120.161 30.256 120.160 30.256 120.160 30.255"


def swap(positions: str) -> str:
    v = positions.split()
    return " ".join(f"{v[i + 1]} {v[i]}" for i in range(0, len(v), 2))


def errors_of(path: Path, **kwargs: object) -> list[tuple[str, str | None, str]]:
    report = validate_result(read_parcels(path, **kwargs))  # type: ignore[arg-type]
    return [(str(i.code), i.place, i.message) for i in report.errors]


@needs_reported
def test_reported_shapefile_with_x_and_y_swapped() -> None:
    [(code, place, message)] = errors_of(REPORTED / "shp-axes-swapped/swapped.zip")
    assert code == "axes_swapped" and place is not None and place.startswith("feature 1")
    assert "not eastings/northings of EPSG:4528" in message and "area of use" in message
    assert "x and y look swapped" in message


@needs_reported
def test_reported_gml_whose_positions_disagree_with_its_srsname() -> None:
    errors = errors_of(GML)
    assert [(c, p.split(" ")[:2]) for c, p, _ in errors if p] == [("axes_swapped", ["feature", "1"])]
    assert "EPSG:4528" in errors[0][2] and "x and y look swapped" in errors[0][2]


@needs_reported
@pytest.mark.parametrize(("srs", "positions", "fits"), [
    ("EPSG:4528", EN, True),
    ("urn:ogc:def:crs:EPSG::4528", swap(EN), True),
    ("http://www.opengis.net/def/crs/EPSG/0/4528", swap(EN), True),
    ("urn:ogc:def:crs:EPSG::4528", EN, False),
    ("http://www.opengis.net/def/crs/EPSG/0/4528", EN, False),
    ("EPSG:4528", swap(EN), False),
    ("EPSG:4490", LONLAT, True),
    ("urn:ogc:def:crs:EPSG::4490", swap(LONLAT), True),
    ("http://www.opengis.net/def/crs/EPSG/0/4490", swap(LONLAT), True),
    ("urn:ogc:def:crs:EPSG::4490", LONLAT, False),
])
def test_gml_axis_order_for_every_srsname_form(tmp_path: Path, srs: str, positions: str, fits: bool) -> None:
    text = GML.read_text(encoding="utf-8").replace("http://www.opengis.net/def/crs/EPSG/0/4528", srs)
    path = tmp_path / "cp.gml"
    path.write_text(text.replace(EN, positions), encoding="utf-8")
    result = read_parcels(path)
    x, y = result.parcels[0].geometry.bounds[:2]
    codes = {c for c, _, _ in errors_of(path)}
    if fits:
        assert x in (40517100.0, 120.16) and "axes_swapped" not in codes
    else:
        assert codes & {"axes_swapped"}, codes


def test_exchange_file_whose_eastings_lost_their_zone_prefix(tmp_path: Path) -> None:
    path = tmp_path / "parcels.txt"
    block = parcel_block("330102001001GB00001", [square(515_100.0, 3_345_470.0, 20)])
    path.write_text(exchange_text(block, zone=""), encoding="utf-8")
    with pytest.raises(CrsError, match="带号 .zone number. is blank and the eastings carry no zone prefix"):
        read_parcels(path)
    # The uploader states the prefixed CRS: the message says the prefix is missing, and the fix.
    [(code, _, message)] = errors_of(path, crs=4528)
    assert code == "zone_prefix_missing"
    assert "lost their zone prefix" in message and "40515100.000" in message and "EPSG:4549" in message
    assert errors_of(path, crs=4549) == []


def test_prefixed_eastings_under_an_unprefixed_crs(tmp_path: Path) -> None:
    path = tmp_path / "parcels.txt"
    path.write_text(exchange_text(parcel_block("330102001001GB00001", [square(40_515_100.0, 3_345_470.0, 20)])),
                    encoding="utf-8")
    [(code, _, message)] = errors_of(path, crs=4549)
    assert code == "zone_prefix_unexpected" and "EPSG:4528" in message


def test_geojson_with_latitude_first_is_said_to_be_swapped(tmp_path: Path) -> None:
    ring = [[30.255, 120.160], [30.255, 120.161], [30.256, 120.161], [30.256, 120.160], [30.255, 120.160]]
    path = tmp_path / "parcels.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"parcel_code": "330102001001GB00001"},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}), encoding="utf-8")
    assert [c for c, _, _ in errors_of(path)] == ["axes_swapped"]


def test_coordinates_of_another_zone(tmp_path: Path) -> None:
    path = tmp_path / "parcels.txt"
    path.write_text(exchange_text(parcel_block("330102001001GB00001", [square(38_515_100.0, 3_345_470.0, 20)]),
                                  zone="38"), encoding="utf-8")
    [(code, _, message)] = errors_of(path, crs=4528)
    assert code == "coordinates_outside_crs" and "state the right EPSG code" in message
    assert errors_of(path) == []  # the prefix 38 tells zone 38 itself
