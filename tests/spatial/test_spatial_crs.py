"""EPSG codes of Chinese Gauss-Krüger zones, zone inference and lon/lat axis order."""

from __future__ import annotations

import pytest
from pyproj import CRS
from shapely.geometry import Point, Polygon

from spatial.crs import (
    CGCS2000,
    epsg_of,
    gauss_kruger_zone,
    geod_for,
    is_geographic,
    is_projected,
    metres_per_unit,
    resolve_crs,
    to_cgcs2000_lonlat,
    transform_geometry,
    zone_for_easting,
    zone_for_meridian,
    zone_of_easting,
    zone_of_epsg,
)
from spatial.errors import CrsError


@pytest.mark.parametrize(
    ("zone", "width", "prefixed", "epsg"),
    [
        (25, 3, True, 4513),
        (40, 3, True, 4528),
        (45, 3, True, 4533),
        (25, 3, False, 4534),
        (40, 3, False, 4549),
        (45, 3, False, 4554),
        (13, 6, True, 4491),
        (23, 6, True, 4501),
        (13, 6, False, 4502),
        (23, 6, False, 4512),
    ],
)
def test_cgcs2000_zone_codes(zone: int, width: int, prefixed: bool, epsg: int) -> None:
    assert gauss_kruger_zone(zone, width=width, prefixed=prefixed).epsg == epsg
    assert zone_of_epsg(epsg) == gauss_kruger_zone(zone, width=width, prefixed=prefixed)


def test_every_zone_code_matches_the_epsg_definition() -> None:
    """Each code's central meridian and false easting as pyproj defines them."""
    for datum in ("CGCS2000", "Xian1980", "Beijing1954"):
        for width, zones in ((3, range(25, 46)), (6, range(13, 24))):
            for zone in zones:
                for prefixed in (True, False):
                    gk = gauss_kruger_zone(zone, width=width, prefixed=prefixed, datum=datum)  # type: ignore[arg-type]
                    params = {
                        p.name: p.value for p in CRS.from_epsg(gk.epsg).coordinate_operation.params
                    }
                    assert params["Longitude of natural origin"] == gk.central_meridian
                    expected = zone * 1_000_000 + 500_000 if prefixed else 500_000
                    assert params["False easting"] == expected, gk


def test_zone_width_is_inferred_from_the_number() -> None:
    assert gauss_kruger_zone(20).width == 6
    assert gauss_kruger_zone(39).width == 3
    with pytest.raises(CrsError, match="zone 24"):
        gauss_kruger_zone(24)
    with pytest.raises(CrsError):
        gauss_kruger_zone(13, width=3)


def test_zone_from_easting_prefix() -> None:
    assert zone_of_easting(40438683.652) == 40
    assert zone_for_easting(40438683.652).epsg == 4528  # type: ignore[union-attr]
    assert zone_of_easting(20500000.0) == 20
    assert zone_of_easting(438683.652) is None
    assert zone_of_easting(50500000.0) is None  # no zone 50 in China
    assert zone_of_easting(float("nan")) is None


def test_zone_from_central_meridian() -> None:
    assert zone_for_meridian(120).epsg == 4549
    assert zone_for_meridian(120, prefixed=True).epsg == 4528
    assert zone_for_meridian(117, width=6).epsg == 4509
    with pytest.raises(CrsError, match="121"):
        zone_for_meridian(121)


def test_axis_order_known_point_in_zone_40() -> None:
    """Easting 40500000 is the central meridian 120°E; northing 3320000 is about 30°N."""
    lonlat = to_cgcs2000_lonlat(Point(40500000, 3320000), 4528)
    assert lonlat.x == pytest.approx(120.0, abs=1e-9)
    assert lonlat.y == pytest.approx(30.0, abs=0.01)
    assert 29.99 < lonlat.y < 30.0


def test_axis_order_without_prefix_and_back() -> None:
    square = Polygon([(438683, 3351490), (438700, 3351490), (438700, 3351508), (438683, 3351508)])
    lonlat = to_cgcs2000_lonlat(square, 4549)
    minx, miny, maxx, maxy = lonlat.bounds
    assert 119 < minx < maxx < 120 and 30 < miny < maxy < 31  # x is longitude
    back = transform_geometry(lonlat, CGCS2000, 4549)
    assert back.equals_exact(square, 1e-6)


def test_projected_or_geographic() -> None:
    assert is_projected(4528) and not is_geographic(4528)
    assert is_geographic(4490) and not is_projected(4490)
    assert metres_per_unit(4528) == 1.0
    assert metres_per_unit(2249) == pytest.approx(0.3048006096)  # US survey feet
    with pytest.raises(CrsError):
        metres_per_unit(4490)


def test_unknown_codes_and_texts() -> None:
    with pytest.raises(CrsError, match="EPSG:99999"):
        resolve_crs(99999)
    with pytest.raises(CrsError):
        epsg_of("not a crs at all")
    assert epsg_of(CRS.from_epsg(4528).to_wkt()) == 4528
    assert epsg_of("EPSG:25830") == 25830


def test_geod_uses_the_crs_ellipsoid() -> None:
    geod = geod_for(4490)
    assert geod.a == pytest.approx(6378137.0)
    assert geod.f == pytest.approx(1 / 298.257222101)
